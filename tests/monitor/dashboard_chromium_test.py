#!/usr/bin/env python3
"""GET /dashboard in headless Chromium (Debian's `chromium`) against a live `edgeopt serve`.

Starts `edgeopt serve --controller` on a free port with a two-version model (built here with the
onnx package), sends requests and ground-truth labels, then loads /dashboard with
`chromium --headless --dump-dom --virtual-time-budget` and checks that the page rendered the
server's live numbers: request counts, rolling accuracy, serving version, controller state and log,
and the charts; then sends more traffic and checks that the page's numbers moved with the server's.
Also checks that the page references nothing outside the node. Cleans up the server on any failure.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from edgeopt_serve import ServeProcess  # noqa: E402  (one serve harness for tests and bench)

FAILS = []


def check(ok, what, detail=""):
    print(("ok   " if ok else "FAIL ") + what + ("" if ok else ": " + detail))
    if not ok:
        FAILS.append(what)


def write_model(path, shift):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    w = (np.arange(12, dtype=np.float32).reshape(4, 3) * 0.1 - 0.5 + shift).astype(np.float32)
    b = np.array([0, 1, 2], dtype=np.float32) + shift
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "W"], ["h"]), helper.make_node("Add", ["h", "b"], ["y"])], "affine",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])],
        [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 7
    os.makedirs(os.path.dirname(path), exist_ok=True)
    onnx.save(m, path)
    return w, b


class Serve(ServeProcess):
    def __init__(self, edgeopt, repo, policy):
        super().__init__(edgeopt, repo, ["--controller", policy], ready_s=30)


def http(port, path, body=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        data = r.read().decode()
    return json.loads(data) if path != "/dashboard" else data


def chromium(exe, profile, url):
    cmd = [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
           "--disable-background-networking", f"--user-data-dir={profile}", "--virtual-time-budget=4000",
           "--dump-dom", url]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=40)


def cells(dom):
    """data-metric cells: {(model, version, metric): text}."""
    out = {}
    for m in re.finditer(r'<(?:td|span)([^>]*)data-metric="([^"]+)"[^>]*>([^<]*)<', dom):
        attrs, metric, text = m.group(1), m.group(2), m.group(3)
        model = re.search(r'data-model="([^"]*)"', attrs)
        version = re.search(r'data-version="([^"]*)"', attrs)
        out.setdefault((model.group(1) if model else "", version.group(1) if version else "", metric), []).append(text)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeopt", required=True)
    a = ap.parse_args()
    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    if not exe:
        print("FAIL chromium is not installed (scripts/install-deps.sh installs Debian's chromium)")
        sys.exit(1)
    import numpy as np
    with tempfile.TemporaryDirectory(prefix="edgeopt_dashboard_") as tmp:
        repo = os.path.join(tmp, "models")
        w, b = write_model(os.path.join(repo, "m", "1", "model.onnx"), 0.0)
        write_model(os.path.join(repo, "m", "2", "model.onnx"), 0.0)
        open(os.path.join(repo, "m", "config.pbtxt"), "w").write("version_policy: { all {} }\n")
        policy = os.path.join(tmp, "policy.yaml")
        open(policy, "w").write("model: m\ntick_s: 0.5\nlatency: {p99_budget_ms: 5000}\naccuracy: {floor: 0.1}\n")
        srv = Serve(a.edgeopt, repo, policy)
        try:
            rng = np.random.default_rng(1)
            labels = []

            def send(n, tag):
                for i in range(n):
                    x = rng.uniform(-1, 1, size=(1, 4)).astype(np.float32)
                    r = http(srv.port, "/v2/models/m/infer", {"id": f"{tag}{i}", "inputs": [
                        {"name": "x", "datatype": "FP32", "shape": [1, 4], "data": x.ravel().tolist()}]})
                    pred = int(np.argmax(x @ w + b))
                    labels.append({"id": r["id"], "label": pred if i % 4 else (pred + 1) % 3})

            send(30, "a")
            fb = http(srv.port, "/v2/models/m/feedback", {"labels": labels[:20]})
            check(fb["matched"] == 20, "feedback matched 20 labels", json.dumps(fb))
            page = http(srv.port, "/dashboard")
            external = re.findall(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//|@import|url\(\s*["']?https?:""", page, re.I)
            check(not external, "the dashboard references nothing outside the node", str(external[:3]))
            mon = http(srv.port, "/v2/monitor")
            m = mon["models"][0]
            serving = m["serving_version"]
            v = [x for x in m["versions"] if x["version"] == serving][0]
            url = f"http://127.0.0.1:{srv.port}/dashboard"
            p = chromium(exe, os.path.join(tmp, "profile1"), url)
            check(p.returncode == 0 and "<svg" in p.stdout, f"chromium rendered the dashboard with charts (rc {p.returncode})",
                  p.stderr[-500:])
            c = cells(p.stdout)
            key = ("m", str(serving))
            check(c.get(key + ("requests",)) == [str(v["requests"])], f"requests cell = server's {v['requests']}",
                  str(c.get(key + ("requests",))))
            check(c.get(key + ("accuracy",)) == [f"{v['rolling']['accuracy']:.4f}"],
                  f"rolling accuracy cell = server's {v['rolling']['accuracy']:.4f}", str(c.get(key + ("accuracy",))))
            check(v["rolling"]["accuracy"] == 0.75, "server's rolling accuracy is 15/20", str(v["rolling"]))
            check(c.get(key + ("labels",)) == ["20"], "labels cell = 20", str(c.get(key + ("labels",))))
            check(c.get(("m", "", "serving_version")) == [str(serving)], "serving version shown", str(c.get(("m", "", "serving_version"))))
            check(c.get(("", "", "controller_model")) == ["m"], "controller panel shows its model", str(c.get(("", "", "controller_model"))))
            check("start" in c.get(("", "", "log_action"), []), "controller log shows the start entry", str(c.get(("", "", "log_action"))))
            p50 = float(c.get(key + ("p50_ms",), ["nan"])[0])
            check(p50 > 0, "latency p50 shown and positive", str(c.get(key + ("p50_ms",))))
            check(re.search(r'id="poll-error">ok<', p.stdout) is not None, "the page's poll succeeded")
            check(p.stdout.count("<polyline") >= 4, "four charts drawn", str(p.stdout.count("<polyline")))
            # Live: more traffic, and the page shows the new count.
            send(10, "b")
            want = http(srv.port, "/v2/monitor")
            v2 = [x for x in want["models"][0]["versions"] if x["version"] == serving][0]
            p = chromium(exe, os.path.join(tmp, "profile2"), url)
            c = cells(p.stdout)
            check(v2["requests"] == v["requests"] + 10, "server counted 10 more requests", str(v2["requests"]))
            check(c.get(key + ("requests",)) == [str(v2["requests"])], f"the page follows: requests = {v2['requests']}",
                  str(c.get(key + ("requests",))))
        finally:
            srv.stop()
        check(srv.proc.returncode == 0, "edgeopt serve stopped cleanly", "".join(srv.lines[-10:]))
        # Bad policies are clear errors, not a node that silently runs without its controller.
        bad = os.path.join(tmp, "bad.yaml")
        open(bad, "w").write("model: m\nlatency: {p99_budget: 3}\n")
        r = subprocess.run([a.edgeopt, "serve", "--model-repo", repo, "--http", "0", "--grpc", "-1", "--controller", bad],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and "'latency.p99_budget' is not a policy key" in r.stderr,
              "an unknown policy key stops `edgeopt serve` naming the key", r.stderr[-300:])
        open(os.path.join(repo, "m", "config.pbtxt"), "w").write("")
        open(bad, "w").write("model: m\n")
        r = subprocess.run([a.edgeopt, "serve", "--model-repo", repo, "--http", "0", "--grpc", "-1", "--controller", bad],
                           capture_output=True, text=True, timeout=30)
        check(r.returncode != 0 and "version_policy: { all {} }" in r.stderr,
              "a model that does not keep all versions is refused, saying what to add", r.stderr[-300:])
    print("FAILED: " + ", ".join(FAILS) if FAILS else "all checks passed")
    sys.exit(1 if FAILS else 0)


if __name__ == "__main__":
    main()

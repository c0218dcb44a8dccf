#!/usr/bin/env python3
"""The node heals itself: `edgeopt serve --controller` on real Fashion-MNIST (docs/monitoring.md).

Scenario `shift`: vision_cnn (fp32) is served; a client streams test images with ids and posts the
ground-truth labels a little later (delayed feedback), while a load generator keeps requests coming.
Mid-stream, brightness and contrast change (x' = 0.5 x + 0.4 in pixel units, what a new camera or
lighting does). Rolling accuracy falls below the policy's floor; the controller fine-tunes on the
labelled requests that arrived after the breach, validates on a holdout of them, hot-swaps the new
version and keeps watching it. Reported: rolling accuracy before, after the shift and after the
swap; the same on 3,000 test images never streamed (served by each version); times; failed requests.

Scenario `cpu`: two variants (vision_cnn width 32 = v2, the default, and width 4 = v1, faster);
the p99 budget is 2.5x the quiet p99 of v2. Processes burning every core start: the controller moves
to v1 within a minute, and back to v2 once the burners stop. Reported: the times, p99s, failures.

  /usr/bin/python3 bench/monitor_demo.py --edgeopt build/src/cli/edgeopt --work /tmp/monitor_demo
Writes WORK/results.json. Trains the two models first (about 3 minutes and 25 s on 2 cores) unless
WORK already holds them.
"""
import argparse
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from edgeopt_serve import ServeProcess  # noqa: E402  (one serve harness for tests and bench)

DATA = "/usr/share/datasets/fashion-mnist"
MODEL = "vision_cnn"


def load_idx(name):
    with gzip.open(os.path.join(DATA, name), "rb") as f:
        raw = f.read()
    if raw[2] == 8 and raw[3] == 3:
        n, h, w = (int.from_bytes(raw[4 + 4 * i:8 + 4 * i], "big") for i in range(3))
        return np.frombuffer(raw, np.uint8, offset=16).reshape(n, 1, h, w).astype(np.float32) / 255.0
    n = int.from_bytes(raw[4:8], "big")
    return np.frombuffer(raw, np.uint8, offset=8)[:n].astype(np.int64)


def shift(x):
    return 0.5 * x + 0.4  # contrast halved, brightness up: stays in [0, 1], no clipping


def train(edgeopt, out, width, work):
    if os.path.exists(out):
        return
    cmd = [edgeopt, "train", "--model", MODEL, "--data", "fashion-mnist", "--epochs", "2", "--out", out, "--no-progress"]
    if width:
        cmd += ["--width", str(width)]
    print("training:", " ".join(cmd), flush=True)
    r = subprocess.run(cmd, capture_output=True, text=True)
    open(out + ".log", "w").write(r.stdout + r.stderr)
    if r.returncode:
        sys.exit("training failed:\n" + r.stderr[-2000:])


def normalization(log_path):
    m = re.search(r"pixel ([0-9.]+)\+-([0-9.]+)", open(log_path).read())
    return float(m.group(1)), float(m.group(2))


class Serve(ServeProcess):
    def __init__(self, edgeopt, repo, policy, extra):
        super().__init__(edgeopt, repo, ["--controller", policy] + extra)


def post(port, path, body, timeout=30):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read())


def get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as r:
        return json.loads(r.read())


def infer_body(x, rid=None):
    b = {"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape), "data": x.ravel().tolist()}]}
    if rid:
        b["id"] = rid
    return b


class LoadGen:
    """Threads sending single images (unlabelled) with a pause; counts answers and failures."""

    def __init__(self, port, images, threads=2, pause_s=0.01):
        self.port, self.images, self.pause = port, images, pause_s
        self.stop_flag = threading.Event()
        self.answered = self.failed = 0
        self.lock = threading.Lock()
        self.shifted = False
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True) for t in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, t):
        i = t
        while not self.stop_flag.is_set():
            x = self.images[i % len(self.images)][None]
            if self.shifted:
                x = self.shifted_fn(x)
            try:
                post(self.port, f"/v2/models/{MODEL}/infer", infer_body(x))
                with self.lock:
                    self.answered += 1
            except Exception:  # noqa: BLE001 - any failure counts
                with self.lock:
                    self.failed += 1
            i += len(self.threads)
            time.sleep(self.pause)

    def finish(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def controller_log(port):
    return (get(port, "/v2/monitor").get("controller") or {}).get("log", [])


def eval_version(port, version, x, y):
    correct = 0
    for i in range(0, len(x), 64):
        r = post(port, f"/v2/models/{MODEL}/versions/{version}/infer", infer_body(x[i:i + 64]))
        out = np.array(r["outputs"][0]["data"], np.float32).reshape(-1, 10)
        correct += int((out.argmax(1) == y[i:i + 64]).sum())
    return correct / len(x)


def write_repo(repo, versions):
    if os.path.exists(repo):
        shutil.rmtree(repo)
    os.makedirs(os.path.join(repo, MODEL))
    open(os.path.join(repo, MODEL, "config.pbtxt"), "w").write(
        "max_batch_size: 64\ndynamic_batching {}\nversion_policy: { all {} }\n")
    for v, path in versions.items():
        os.makedirs(os.path.join(repo, MODEL, str(v)))
        shutil.copy(path, os.path.join(repo, MODEL, str(v), "model.onnx"))


def scenario_shift(a, work, norm, xt, yt):
    mean, std = norm
    nrm = lambda x: (x - mean) / std  # noqa: E731
    repo = os.path.join(work, "repo_shift")
    write_repo(repo, {1: os.path.join(work, "vision_cnn.onnx")})
    policy = os.path.join(work, "policy_shift.yaml")
    log_path = os.path.join(work, "controller_shift.jsonl")
    if os.path.exists(log_path):
        os.remove(log_path)
    # Streamed: test images 0..6999; never streamed (offline evaluation): 7000..9999.
    x_eval, y_eval = xt[7000:], yt[7000:]
    # The floor follows the model: 4 points under its clean accuracy on the evaluation images,
    # measured through a server without a controller policy first.
    open(policy, "w").write(f"model: {MODEL}\n")
    probe = Serve(a.edgeopt, repo, policy, ["--threads", "1"])
    try:
        clean_acc = eval_version(probe.port, 1, nrm(x_eval), y_eval)
    finally:
        probe.stop()
    floor = round(clean_acc - 0.04, 3)
    open(policy, "w").write(
        f"model: {MODEL}\ntick_s: 1\ncooldown_s: 20\nbreach_ticks: 3\n"
        f"accuracy: {{floor: {floor}, min_labels: 200, rollback_margin: 0.02, rollback_min_labels: 300}}\n"
        "actions: {switch: true, recalibrate: true, finetune: true}\n"
        f"finetune: {{epochs: {a.epochs}, lr: {a.lr}, batch: 32, max_samples: {a.min_samples}, min_samples: {a.min_samples}, "
        f"holdout_fraction: 0.2, min_gain: 0.005, layers: {a.layers}, since_breach: true}}\n"
        f"log: {log_path}\n")
    srv = Serve(a.edgeopt, repo, policy, ["--feedback-window", "500", "--threads", "1"])
    res = {"floor": floor, "offline_clean_accuracy_v1": clean_acc,
           "policy": {"layers": a.layers, "epochs": a.epochs, "lr": a.lr, "min_samples": a.min_samples}}
    timeline = []
    try:
        load = LoadGen(srv.port, nrm(xt[5000:7000]), threads=2, pause_s=0.02)
        load.shifted_fn = lambda x: nrm(shift(x * std + mean))
        pending = []

        def stream(i, shifted):
            x = xt[i:i + 1]
            x = nrm(shift(x) if shifted else x)
            r = post(srv.port, f"/v2/models/{MODEL}/infer", infer_body(x, f"s{i}"))
            time.sleep(0.008)  # a camera's pace, not a flood: the image pool must outlast the fine-tune
            pending.append({"id": r["id"], "label": int(yt[i])})
            if len(pending) >= 100:  # labels arrive late, 50 at a time, 50 requests behind
                post(srv.port, f"/v2/models/{MODEL}/feedback", {"labels": pending[:50]})
                del pending[:50]

        def rolling(version):
            for v in get(srv.port, "/v2/monitor")["models"][0]["versions"]:
                if v["version"] == version and v["rolling"]:
                    return v["rolling"]["accuracy"], v["rolling"]["n"]
            return None, 0

        t0 = time.time()
        for i in range(0, 1500):
            stream(i, False)
        post(srv.port, f"/v2/models/{MODEL}/feedback", {"labels": pending})
        pending.clear()
        res["rolling_pre_shift"], _ = rolling(1)
        print(f"pre-shift rolling accuracy (v1, last 500 labels): {res['rolling_pre_shift']:.4f}", flush=True)
        t_shift = time.time()
        load.shifted = True
        deployed_at = None
        new_version = None
        min_rolling_v1 = 1.0
        i = 1500
        while i < 7000 - 1:
            stream(i, True)
            i += 1
            if i % 50 == 0:
                mon = get(srv.port, "/v2/monitor")
                serving = mon["models"][0]["serving_version"]
                acc1, _ = rolling(1)
                if acc1 is not None and serving == 1:
                    min_rolling_v1 = min(min_rolling_v1, acc1)
                timeline.append({"t_s": round(time.time() - t_shift, 2), "streamed": i, "serving": serving,
                                 "rolling_v1": acc1, "rolling_serving": rolling(serving)[0]})
                if serving != 1 and deployed_at is None:
                    deployed_at, new_version = time.time(), serving
                    print(f"controller deployed version {serving} {deployed_at - t_shift:.1f} s after the shift", flush=True)
                if new_version and rolling(new_version)[1] >= 500:
                    break
        post(srv.port, f"/v2/models/{MODEL}/feedback", {"labels": pending})
        load.finish()
        res["rolling_after_shift_min_v1"] = min_rolling_v1
        res["shift_at_stream_index"] = 1500
        res["streamed"] = i
        res["load_answered"], res["load_failed"] = load.answered, load.failed
        res["seconds_shift_to_deploy"] = None if deployed_at is None else round(deployed_at - t_shift, 1)
        if new_version:
            res["new_version"] = new_version
            res["rolling_new_version"], res["rolling_new_version_labels"] = rolling(new_version)
            res["offline_shifted_accuracy_v1"] = eval_version(srv.port, 1, nrm(shift(x_eval)), y_eval)
            res["offline_shifted_accuracy_new"] = eval_version(srv.port, new_version, nrm(shift(x_eval)), y_eval)
            res["offline_clean_accuracy_new"] = eval_version(srv.port, new_version, nrm(x_eval), y_eval)
        else:
            res["offline_shifted_accuracy_v1"] = eval_version(srv.port, 1, nrm(shift(x_eval)), y_eval)
        res["controller_log"] = controller_log(srv.port)
        res["timeline"] = timeline
        res["seconds_total"] = round(time.time() - t0, 1)
    finally:
        srv.stop()
    return res


def scenario_cpu(a, work, norm, xt):
    mean, std = norm
    repo = os.path.join(work, "repo_cpu")
    write_repo(repo, {1: os.path.join(work, "vision_cnn_w4.onnx"), 2: os.path.join(work, "vision_cnn.onnx")})
    policy = os.path.join(work, "policy_cpu.yaml")
    log_path = os.path.join(work, "controller_cpu.jsonl")
    if os.path.exists(log_path):
        os.remove(log_path)
    open(policy, "w").write(f"model: {MODEL}\n")
    res = {}
    srv = Serve(a.edgeopt, repo, policy, ["--threads", "1"])
    x = (xt[:2000] - mean) / std
    try:
        # Quiet p99 of the default (v2, width 32) under the same load the demo uses.
        load = LoadGen(srv.port, x, threads=2, pause_s=0.01)
        time.sleep(8)
        v = [v for v in get(srv.port, "/v2/monitor?window_s=6")["models"][0]["versions"] if v["version"] == 2][0]
        load.finish()
        res["quiet_p99_ms_v2"] = v["p99_ms"]
    finally:
        srv.stop()
    budget = round(2.5 * res["quiet_p99_ms_v2"], 3)
    res["p99_budget_ms"] = budget
    open(policy, "w").write(
        f"model: {MODEL}\ntick_s: 1\ncooldown_s: 5\nbreach_ticks: 3\n"
        f"latency: {{p99_budget_ms: {budget}, window_s: 5, min_samples: 20, restore_fraction: 0.7, restore_after_s: 10}}\n"
        "actions: {switch: true, recalibrate: false, finetune: false}\n"
        f"log: {log_path}\n")
    srv = Serve(a.edgeopt, repo, policy, ["--threads", "1"])
    burners = []
    events = []
    try:
        load = LoadGen(srv.port, x, threads=2, pause_s=0.01)
        time.sleep(6)

        def status():
            mon = get(srv.port, "/v2/monitor?window_s=5")
            m = mon["models"][0]
            p99 = {v["version"]: v["p99_ms"] for v in m["versions"]}
            return m["serving_version"], p99

        serving, p99 = status()
        res["before"] = {"serving": serving, "p99_ms": p99}
        t_burn = time.time()
        n = (os.cpu_count() or 2) * 2
        burners = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]
        res["burner_processes"] = n
        switched = None
        while time.time() - t_burn < 90:
            time.sleep(1)
            serving, p99 = status()
            events.append({"t_s": round(time.time() - t_burn, 1), "phase": "burn", "serving": serving, "p99_ms": p99})
            if serving == 1 and switched is None:
                switched = time.time() - t_burn
                print(f"CPU burn: switched to v1 after {switched:.1f} s", flush=True)
            if switched is not None and time.time() - t_burn > switched + 20:
                break
        res["seconds_burn_to_switch"] = None if switched is None else round(switched, 1)
        res["during_burn"] = {"serving": serving, "p99_ms": p99}
        for b in burners:
            b.kill()
            b.wait()
        burners = []
        t_end = time.time()
        restored = None
        while time.time() - t_end < 90:
            time.sleep(1)
            serving, p99 = status()
            events.append({"t_s": round(time.time() - t_burn, 1), "phase": "after", "serving": serving, "p99_ms": p99})
            if serving == 2 and restored is None:
                restored = time.time() - t_end
                print(f"burn over: back on v2 after {restored:.1f} s", flush=True)
                time.sleep(5)
                break
        res["seconds_end_to_restore"] = None if restored is None else round(restored, 1)
        load.finish()
        res["after"] = {"serving": status()[0], "p99_ms": status()[1]}
        res["load_answered"], res["load_failed"] = load.answered, load.failed
        res["controller_log"] = controller_log(srv.port)
        res["timeline"] = events
    finally:
        for b in burners:
            b.kill()
            b.wait()
        srv.stop()
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgeopt", required=True)
    ap.add_argument("--work", default="/tmp/edgeopt_monitor_demo")
    ap.add_argument("--scenario", choices=["shift", "cpu", "both"], default="both")
    ap.add_argument("--layers", choices=["all", "first"], default="all", help="shift: finetune.layers of the policy")
    ap.add_argument("--epochs", type=int, default=4, help="shift: finetune.epochs")
    ap.add_argument("--lr", type=float, default=0.0005, help="shift: finetune.lr")
    ap.add_argument("--min-samples", type=int, default=1500, help="shift: labelled samples after the breach to train on")
    a = ap.parse_args()
    work = a.work
    os.makedirs(work, exist_ok=True)
    train(a.edgeopt, os.path.join(work, "vision_cnn.onnx"), 0, work)
    if a.scenario in ("cpu", "both"):
        train(a.edgeopt, os.path.join(work, "vision_cnn_w4.onnx"), 4, work)
    norm = normalization(os.path.join(work, "vision_cnn.onnx.log"))
    xt, yt = load_idx("t10k-images-idx3-ubyte.gz"), load_idx("t10k-labels-idx1-ubyte.gz")
    out = {"machine": {"cpus": os.cpu_count()}, "normalization": norm}
    path = os.path.join(work, "results.json")
    if os.path.exists(path):
        out.update(json.load(open(path)))
    if a.scenario in ("shift", "both"):
        out["shift"] = scenario_shift(a, work, norm, xt, yt)
        json.dump(out, open(path, "w"), indent=1)
    if a.scenario in ("cpu", "both"):
        out["cpu"] = scenario_cpu(a, work, norm, xt)
        json.dump(out, open(path, "w"), indent=1)
    summary = {k: {kk: vv for kk, vv in v.items() if kk not in ("timeline", "controller_log")}
               for k, v in out.items() if isinstance(v, dict) and k in ("shift", "cpu")}
    print(json.dumps(summary, indent=1))
    print("wrote", path)


if __name__ == "__main__":
    main()

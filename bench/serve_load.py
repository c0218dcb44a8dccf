#!/usr/bin/env python3
"""Load test of `edgeopt serve` with wrk (Debian) on vision_cnn: throughput, p50/p99, errors, memory.

  /usr/bin/python3 bench/serve_load.py build/src/cli/edgeopt [--duration 60] [--connections 64]
                    [--threads 2] [--overload-duration 20] [--json out.json]

1. Trains a small vision_cnn with `edgeopt train` (a few steps; the served file is what matters) into
   a Triton-layout repository and exports one real Fashion-MNIST test sample as the request.
2. Normal run: `edgeopt serve --threads T` (dynamic batching from the auto-completed config, batches
   up to 8), then `wrk -t2 -c C -d D --latency` POSTing the JSON infer request (a Lua script built
   here). Reports requests/s, p50/p90/p99 latency, non-2xx and socket errors, the server's peak RSS
   (sampled from /proc every 0.2 s) and the batches the server formed.
3. Overload run: the same connections against a server with --threads 1 --max-queue 2: most requests
   must come back 429 (queue full) quickly, none may hang, and RSS must stay bounded. A probe thread
   times single rejected requests directly (wrk's latency mixes 200s and 429s). Connections stay
   below the server's --http-threads (128): cpp-httplib serves a keep-alive connection on one thread,
   so connections beyond that wait for a free thread instead of getting a fast 503 (docs/serving.md).
Prints a table and writes JSON (--json). Not a CTest: timings depend on the machine.
"""
import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from edgeopt_serve import ServeProcess  # noqa: E402  (one serve harness for tests and bench)

LUA = r"""
-- POST one KServe v2 JSON inference request; count responses per HTTP status (per wrk thread,
-- summed in done()).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("%(body)s", "rb"))
wrk.body = f:read("*a")
f:close()
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) codes = {} end
function response(status, headers, body) codes[status] = (codes[status] or 0) + 1 end
function done(summary, latency, requests)
  local total = {}
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("codes")) do total[k] = (total[k] or 0) + v end
  end
  for k, v in pairs(total) do io.write(string.format("STATUS %%d %%d\n", k, v)) end
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("PCT %%g %%d\n", p, latency:percentile(p)))
  end
end
"""


def log(msg):
    print(msg, flush=True)


def run(cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s failed:\n%s" % (" ".join(cmd), (r.stderr or r.stdout)[-3000:]))
    return r


class Server(ServeProcess):
    """The server under load, its RSS sampled every 0.2 s for the peak."""

    def __init__(self, edgeopt, repo, extra):
        super().__init__(edgeopt, repo, ["--poll-s", "0"] + extra)
        self.rss_peak = 0
        self.rss_samples = []
        self._stop_sampling = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        while not self._stop_sampling.is_set():
            kb = self.rss_kb()
            self.rss_samples.append(kb)
            self.rss_peak = max(self.rss_peak, kb)
            time.sleep(0.2)

    def stop(self):
        self._stop_sampling.set()
        return super().stop()


def parse_wrk(out):
    res = {"statuses": {}, "pct_us": {}}
    for m in re.finditer(r"^STATUS (\d+) (\d+)$", out, re.M):
        res["statuses"][int(m.group(1))] = int(m.group(2))
    for m in re.finditer(r"^PCT ([0-9.]+) (\d+)$", out, re.M):
        res["pct_us"][m.group(1)] = int(m.group(2))
    m = re.search(r"Requests/sec:\s+([0-9.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in ([0-9.]+)(\w+)", out)
    res["requests"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(g) for g in m.groups()) if m else 0
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non_2xx"] = int(m.group(1)) if m else 0
    return res


def wrk(port, lua, connections, duration, threads=2):
    cmd = ["wrk", "-t%d" % threads, "-c%d" % connections, "-d%ds" % duration, "--latency", "--timeout", "10s",
           "-s", lua, "http://127.0.0.1:%d/v2/models/vision_cnn/infer" % port]
    log("$ " + " ".join(cmd))
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("wrk failed:\n" + r.stderr)
    return r.stdout


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("edgeopt")
    ap.add_argument("--duration", type=int, default=60, help="seconds of the normal run")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2, help="server worker threads (Sessions) for the normal run")
    ap.add_argument("--overload-duration", type=int, default=20)
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--work", help="working directory (default: temporary)")
    a = ap.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk not found (apt-get install wrk)")
    edgeopt = os.path.abspath(a.edgeopt)
    work = a.work or tempfile.mkdtemp(prefix="edgeopt_serve_load_")
    repo = os.path.join(work, "repo")
    os.makedirs(os.path.join(repo, "vision_cnn", "1"), exist_ok=True)
    model = os.path.join(repo, "vision_cnn", "1", "model.onnx")
    if not os.path.exists(model):
        log("training vision_cnn (a few steps)")
        run([edgeopt, "train", "--model", "vision_cnn", "--data", "fashion-mnist", "--epochs", "1",
             "--max-steps-per-epoch", "5", "--max-train", "1000", "--max-test", "200", "--out", model, "--no-progress"])
    x_path = os.path.join(work, "x.npy")
    run([edgeopt, "data", "--data", "fashion-mnist", "--count", "1", "--sample-out", x_path])
    import numpy as np
    x = np.load(x_path).astype(np.float32)
    body_path = os.path.join(work, "request.json")
    with open(body_path, "w") as f:
        json.dump({"inputs": [{"name": "input", "datatype": "FP32", "shape": list(x.shape),
                               "data": [float(v) for v in x.ravel()]}]}, f)
    lua = os.path.join(work, "infer.lua")
    with open(lua, "w") as f:
        f.write(LUA % {"body": body_path})
    results = {"machine": {"nproc": os.cpu_count(), "loadavg_before": os.getloadavg()}}

    log("== normal run: %d connections, %d s, server --threads %d" % (a.connections, a.duration, a.threads))
    s = Server(edgeopt, repo, ["--threads", str(a.threads), "--max-queue", "256"])
    idle_rss = s.rss_kb()
    # Check the request is right before loading: one 200 with 10 outputs.
    req = urllib.request.Request("http://127.0.0.1:%d/v2/models/vision_cnn/infer" % s.port,
                                 data=open(body_path, "rb").read(), headers={"Content-Type": "application/json"})
    out = json.loads(urllib.request.urlopen(req, timeout=10).read())
    assert out["outputs"][0]["shape"] == [1, 10], out
    normal = parse_wrk(wrk(s.port, lua, a.connections, a.duration))
    normal["rss_idle_mb"] = idle_rss / 1024
    normal["rss_peak_mb"] = s.rss_peak / 1024
    rc = s.stop()
    normal["exit_code"] = rc
    normal["server_stats"] = [l.split("edgeopt serve: ", 1)[-1].strip() for l in s.lines if "requests answered" in l]
    results["normal"] = normal

    log("== overload run: %d connections, %d s, server --threads 1 --max-queue 2" % (a.connections, a.overload_duration))
    s = Server(edgeopt, repo, ["--threads", "1", "--max-queue", "2"])
    probe = {"rejected_ms": [], "ok_ms": [], "other": 0}
    stop_probe = threading.Event()

    def prober():
        data = open(body_path, "rb").read()
        while not stop_probe.is_set():
            t0 = time.perf_counter()
            try:
                urllib.request.urlopen(urllib.request.Request(
                    "http://127.0.0.1:%d/v2/models/vision_cnn/infer" % s.port, data=data,
                    headers={"Content-Type": "application/json"}), timeout=10).read()
                probe["ok_ms"].append(1e3 * (time.perf_counter() - t0))
            except urllib.error.HTTPError as e:
                body = e.read().decode(errors="replace")
                if e.code in (429, 503) and "error" in body:
                    probe["rejected_ms"].append(1e3 * (time.perf_counter() - t0))
                    probe.setdefault("reason", body)
                else:
                    probe["other"] += 1
            except Exception:
                probe["other"] += 1
            time.sleep(0.01)

    pt = threading.Thread(target=prober)
    pt.start()
    over = parse_wrk(wrk(s.port, lua, a.connections, a.overload_duration))
    stop_probe.set()
    pt.join()
    over["rss_peak_mb"] = s.rss_peak / 1024
    over["rss_last_mb"] = (s.rss_samples[-1] if s.rss_samples else 0) / 1024
    over["exit_code"] = s.stop()
    over["server_stats"] = [l.split("edgeopt serve: ", 1)[-1].strip() for l in s.lines if "requests answered" in l]
    rej = sorted(probe["rejected_ms"])
    over["probe"] = {
        "rejected": len(rej), "accepted": len(probe["ok_ms"]), "other": probe["other"],
        "rejected_p50_ms": statistics.median(rej) if rej else None,
        "rejected_p99_ms": rej[min(len(rej) - 1, int(0.99 * len(rej)))] if rej else None,
        "reason": probe.get("reason", ""),
    }
    results["overload"] = over
    results["machine"]["loadavg_after"] = os.getloadavg()

    def ms(us):
        return "%.2f ms" % (us / 1000.0) if us is not None else "-"

    log("")
    log("| run | conns | req/s | p50 | p90 | p99 | 200 | 429 | 503 | other non-2xx | socket errors | peak RSS |")
    log("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name, r, c in (("normal", normal, a.connections), ("overload", over, a.connections)):
        st = r["statuses"]
        other = sum(v for k, v in st.items() if k not in (200, 429, 503))
        log("| %s | %d | %.0f | %s | %s | %s | %d | %d | %d | %d | %d | %.0f MB |" % (
            name, c, r["rps"], ms(r["pct_us"].get("50")), ms(r["pct_us"].get("90")), ms(r["pct_us"].get("99")),
            st.get(200, 0), st.get(429, 0), st.get(503, 0), other, r["socket_errors"], r["rss_peak_mb"]))
    p = over["probe"]
    log("overload probe: %d rejected (p50 %.2f ms, p99 %.2f ms), %d accepted; reason: %s" % (
        p["rejected"], p["rejected_p50_ms"] or 0, p["rejected_p99_ms"] or 0, p["accepted"], p["reason"][:160]))
    for name, r in (("normal", normal), ("overload", over)):
        for line in r["server_stats"]:
            log("%s server: %s" % (name, line))
    errors = normal["socket_errors"] + sum(v for k, v in normal["statuses"].items() if k != 200)
    log("normal run errors: %d (must be 0); idle RSS %.0f MB -> peak %.0f MB" % (
        errors, normal["rss_idle_mb"], normal["rss_peak_mb"]))
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=2)
    if not a.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

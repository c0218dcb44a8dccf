#!/usr/bin/python3
"""The edge node offloading to our own OIP server in cloud role: `edgeopt partition --repo` writes
the cloud halves in Triton's layout, `edgeopt serve` serves them, `edgeopt offload` sends the cut
tensors (binary tensor extension; fp32, fp16 and int8 wires) and gets answers equal to the full
model; killing the server mid-run loses no request (the edge answers alone, within the deadline).
No PyPI needed (tests/kserve_peer_test.py does the same against KServe).

Usage: /usr/bin/python3 tests/split_own_server_test.py --edgeopt build/src/cli/edgeopt
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kserve_peer_test import FAILURES, check, free_port, run  # noqa: E402  (the same harness helpers)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeopt", required=True)
    exe = ap.parse_args().edgeopt
    server = None
    with tempfile.TemporaryDirectory() as tmp:
        try:
            model = os.path.join(tmp, "cnn.onnx")
            r = run(exe, "train", "--model", "vision_cnn", "--data", "fashion-mnist", "--epochs", "1", "--max-train", "4000",
                    "--max-steps-per-epoch", "40", "--out", model, "--no-progress")
            check(r.returncode == 0, "train a small vision_cnn " + r.stderr[-300:])
            data = ["--data", "fashion-mnist", "--max-train", "4000", "--max-test", "500"]
            repo = os.path.join(tmp, "repo")
            plans = {}
            for wire in ["fp32", "fp16", "int8"]:
                d = os.path.join(tmp, "out", wire)
                r = run(exe, "partition", model, "--cloud", "speedup:4", "--bandwidth", "100", "--rtt-ms", "1",
                        "--transport", wire, "--cut", "3", "--name", "cnn", "--out", d, "--repo", repo, "--all-transports",
                        "--json", *data)
                check(r.returncode == 0, f"partition --transport {wire} " + r.stderr[-500:])
                if r.returncode != 0:
                    return 1
                plans[wire] = os.path.join(d, "plan.json")
            port = free_port()
            log = open(os.path.join(tmp, "serve.log"), "w")
            server = subprocess.Popen([exe, "serve", "--model-repo", repo, "--http", str(port), "--grpc", "-1",
                                       "--host", "127.0.0.1", "--poll-s", "0"], stdout=log, stderr=subprocess.STDOUT)
            url = f"http://127.0.0.1:{port}"
            up = False
            for _ in range(200):
                try:
                    up = urllib.request.urlopen(url + "/v2/health/ready", timeout=2).status == 200
                    if up:
                        break
                except Exception:  # noqa: BLE001 - not up yet
                    time.sleep(0.1)
            check(up, "edgeopt serve serves the cloud halves")
            if not up:
                print(open(os.path.join(tmp, "serve.log")).read()[-2000:])
                return 1
            for wire, tol in [("fp32", 1e-4), ("fp16", 2e-2), ("int8", None)]:
                for cut in ["3", "8"]:
                    r = run(exe, "offload", model, "--plan", plans[wire], "--cloud", url, "--cut", cut, "--requests", "30",
                            "--deadline-ms", "5000", "--json", *data)
                    ok = r.returncode == 0
                    j = json.loads(r.stdout) if ok else {}
                    run_ = j.get("run", {})
                    good = ok and run_["cloud_answers"] == 30 and run_["lost"] == 0
                    good = good and (run_["max_abs_diff_vs_full"] <= tol * 10 if tol else run_["top1_disagreements"] <= 1)
                    check(good, f"edgeopt serve answers cut {cut} over the {wire} wire = full model: "
                                + (json.dumps(run_) if ok else r.stderr[-500:]))
            proc = subprocess.Popen([exe, "offload", model, "--plan", plans["int8"], "--cloud", url, "--cut", "3",
                                     "--requests", "100", "--interval-ms", "20", "--deadline-ms", "500", "--json", *data],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            # Kill the server once it has answered some of this run's requests (its /metrics count),
            # not after a fixed sleep: on a loaded machine the edge may take seconds to start.
            def answered_total():
                try:
                    text = urllib.request.urlopen(url + "/metrics", timeout=5).read().decode()
                except OSError:
                    return 0
                return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                           if line.startswith("edgeopt_requests_total{"))
            before = answered_total()
            deadline = time.time() + 120
            while answered_total() < before + 10 and time.time() < deadline and proc.poll() is None:
                time.sleep(0.1)
            server.send_signal(signal.SIGKILL)
            server.wait()
            server = None
            stdout, stderr = proc.communicate(timeout=300)
            check(proc.returncode == 0, "offload survives the server's death " + stderr[-500:])
            if proc.returncode == 0:
                r_ = json.loads(stdout)["run"]
                check(r_["answered"] == 100 and r_["lost"] == 0 and r_["local_answers"] > 0 and r_["cloud_answers"] > 0,
                      f"zero lost requests, cloud then edge: {json.dumps(r_)}")
                check(r_["deadline_misses"] == 0, "every answer within the 500 ms deadline")
        finally:
            if server and server.poll() is None:
                server.kill()
                server.wait()
    print(f"{len(FAILURES)} failed")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

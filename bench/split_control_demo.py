#!/usr/bin/python3
"""`edgeopt serve --split` with the controller's resplit action, on real Fashion-MNIST.

A vision_cnn trained on Fashion-MNIST is served by an edge node whose CPU is limited (a cgroup-v1
cpu quota, --edge-cpu of one core: an emulated slow edge board) through an edge-cloud split: the
plan (`edgeopt partition`, run in the same cgroup so its edge profile is the slow board's, with the
cloud measured live) sends the cut tensors to a cloud `edgeopt serve` (unlimited CPU) through
bench/delay_relay.py. Two clients send test images all the time. Then:

  1. healthy     the split serves; the budget is set from the healthy p99 measured in a first run
  2. slow        the relay adds --slow-ms each way: the p99 breaches the budget; the controller
                 re-solves the split from the RTT the node learned and moves the cut (all-edge)
  3. recovered   the delay is removed: probes see the RTT drop; the controller moves back
  4. killed      the cloud is SIGKILLed: offloads fall back (answered locally); the controller
                 moves to all-edge
  5. restarted   the cloud comes back on its port: the controller moves back

Reported per phase: the seconds from the event to the controller's resplit, requests answered and
failed (HTTP errors, client-side), accuracy of the answers against the labels, p50/p99 as the
client saw them, and the answers by path (split / edge_only / fallback) from /metrics.

Usage (root for the cgroup; without it the edge runs unlimited and the plan may not offload):
  sudo /usr/bin/python3 bench/split_control_demo.py --edgeopt build/src/cli/edgeopt --json /tmp/split_demo.json
"""
import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np

from monitor_demo import load_idx  # the Fashion-MNIST IDX reader (bench/ is on sys.path)

HERE = os.path.dirname(os.path.abspath(__file__))
MODEL_CACHE = "/tmp/edgeopt_split_demo_model/vision_cnn_w128d2.onnx"
CGROUP = f"/sys/fs/cgroup/cpu/eo-splitdemo-{os.getpid()}"
PROCS = []


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def setup_cgroup(cpu):
    if os.geteuid() != 0 or not os.path.isdir("/sys/fs/cgroup/cpu"):
        print("warning: not root or no cgroup-v1 cpu controller: the edge runs unlimited", flush=True)
        return False
    os.makedirs(CGROUP, exist_ok=True)
    # 10 ms periods (quota >= 1 ms is the kernel's floor): a model run of a few ms of CPU exhausts
    # the quota in every period, so the slowdown shows in each run and in the plan's edge profile.
    open(os.path.join(CGROUP, "cpu.cfs_period_us"), "w").write("10000")
    open(os.path.join(CGROUP, "cpu.cfs_quota_us"), "w").write(str(max(1000, int(10000 * cpu))))
    return True


def spawn(cmd, log, edge=False, limited=False):
    def pre():
        os.setsid()
        if edge and limited:
            open(os.path.join(CGROUP, "cgroup.procs"), "w").write(str(os.getpid()))
    env = dict(os.environ, EDGEOPT_NUM_THREADS="1") if edge else None
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, preexec_fn=pre, env=env)
    PROCS.append(p)
    return p


def cleanup():
    for p in PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    if os.path.isdir(CGROUP):
        for _ in range(50):
            try:
                os.rmdir(CGROUP)
                break
            except OSError:
                time.sleep(0.1)


def on_signal(sig, _frame):
    cleanup()
    sys.exit(128 + sig)


def get(port, path, timeout=10):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout) as r:
        body = r.read().decode()
    return json.loads(body) if path != "/metrics" else body


def wait_ready(port, timeout=120):
    until = time.time() + timeout
    while time.time() < until:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/ready", timeout=2).status == 200:
                return True
        except OSError:
            time.sleep(0.2)
    return False


class Load:
    """Client threads sending single test images; per answer: time, latency, correct, failed."""

    def __init__(self, port, x, y, threads=2, pause_s=0.1):
        self.port, self.x, self.y, self.pause = port, x, y, pause_s
        self.events = []  # (t, latency_s or None for a failure, correct)
        self.lock = threading.Lock()
        self.stop_flag = threading.Event()
        self.threads = [threading.Thread(target=self.run, args=(t,), daemon=True) for t in range(threads)]
        for t in self.threads:
            t.start()

    def run(self, t):
        i = t
        while not self.stop_flag.is_set():
            k = i % len(self.x)
            body = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 1, 28, 28],
                                           "data": self.x[k].ravel().tolist()}]}).encode()
            t0 = time.time()
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{self.port}/v2/models/cnn/infer", data=body,
                                             headers={"Content-Type": "application/json"})
                with urllib.request.urlopen(req, timeout=30) as r:
                    out = json.loads(r.read())["outputs"][0]["data"]
                ev = (t0, time.time() - t0, int(np.argmax(out)) == int(self.y[k]))
            except Exception:  # noqa: BLE001 - any failure counts
                ev = (t0, None, False)
            with self.lock:
                self.events.append(ev)
            i += len(self.threads)
            time.sleep(self.pause)

    def window(self, t0, t1):
        with self.lock:
            ev = [e for e in self.events if t0 <= e[0] < t1]
        lat = sorted(e[1] * 1e3 for e in ev if e[1] is not None)
        ok = [e for e in ev if e[1] is not None]
        pct = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] if lat else 0  # noqa: E731
        return {"answered": len(ok), "failed": len(ev) - len(ok),
                "accuracy": round(sum(e[2] for e in ok) / max(1, len(ok)), 4),
                "p50_ms": round(pct(0.5), 2), "p99_ms": round(pct(0.99), 2)}

    def finish(self):
        self.stop_flag.set()
        for t in self.threads:
            t.join()


def split_paths(port):
    out = {}
    for line in get(port, "/metrics").splitlines():
        m = re.match(r'edgeopt_split_requests_total\{[^}]*path="(\w+)"\} (\S+)', line)
        if m:
            out[m.group(1)] = int(float(m.group(2)))
    return out


def controller(port):
    mon = get(port, "/v2/monitor")
    return mon.get("controller") or {}, mon["models"][0]["versions"][0].get("split") or {}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgeopt", required=True)
    ap.add_argument("--model", default=MODEL_CACHE,
                    help="a vision_cnn trained on Fashion-MNIST (trained here if missing: width 128, depth 2, one epoch "
                         "on 6,000 images; compute a slow edge board notices)")
    ap.add_argument("--work", default="/tmp/edgeopt_split_demo")
    ap.add_argument("--edge-cpu", type=float, default=0.1, help="the edge's CPU quota, in cores")
    ap.add_argument("--slow-ms", type=float, default=200, help="one-way delay the slow phase adds (RTT + 2x)")
    ap.add_argument("--hold-s", type=float, default=10, help="seconds each phase runs after the controller acted")
    ap.add_argument("--json")
    a = ap.parse_args()
    exe = os.path.abspath(a.edgeopt)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    shutil.rmtree(a.work, ignore_errors=True)
    os.makedirs(a.work)
    model = a.model
    if not os.path.exists(model):
        os.makedirs(os.path.dirname(os.path.abspath(model)), exist_ok=True)
        r = subprocess.run([exe, "train", "--model", "vision_cnn", "--width", "128", "--depth", "2", "--data", "fashion-mnist",
                            "--epochs", "1", "--max-train", "6000", "--out", model, "--no-progress"],
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit("training failed:\n" + r.stderr[-2000:])
    xtr = load_idx("train-images-idx3-ubyte.gz")
    mean, std = float(xtr.mean()), float(xtr.std())
    xt = (load_idx("t10k-images-idx3-ubyte.gz") - mean) / std
    yt = load_idx("t10k-labels-idx1-ubyte.gz")
    limited = setup_cgroup(a.edge_cpu)
    log = open(os.path.join(a.work, "log.txt"), "w")
    result = {"edge_cpu": a.edge_cpu if limited else None, "slow_ms_each_way": a.slow_ms, "model": model}
    try:
        cloud_repo, split_dir = os.path.join(a.work, "cloud"), os.path.join(a.work, "split")
        data = ["--data", "fashion-mnist", "--max-test", "1000"]
        # Pass 1 writes every cut's cloud half and cnn_full; pass 2 (in the edge's cgroup) profiles
        # the slow edge and measures the live cloud.
        r = subprocess.run([exe, "partition", model, "--name", "cnn", "--cloud", "speedup:4", "--bandwidth", "1000", "--out",
                            os.path.join(a.work, "split0"), "--repo", cloud_repo, "--all-transports", *data],
                           capture_output=True, text=True)
        if r.returncode:
            sys.exit("partition (repository) failed:\n" + r.stderr[-2000:])
        cport, rport = free_port(), free_port()
        cloud_cmd = [exe, "serve", "--model-repo", cloud_repo, "--http", str(cport), "--grpc", "-1", "--host", "127.0.0.1",
                     "--poll-s", "0", "--threads", "2"]
        cloud = spawn(cloud_cmd, log)
        if not wait_ready(cport):
            sys.exit("the cloud did not start; see " + log.name)
        delay_file = os.path.join(a.work, "delay_ms")
        open(delay_file, "w").write("0")
        spawn([sys.executable, os.path.join(HERE, "delay_relay.py"), "--listen", f"127.0.0.1:{rport}", "--to",
               f"127.0.0.1:{cport}", "--delay-ms", "0", "--delay-file", delay_file], log)
        time.sleep(1)
        p2 = spawn([exe, "partition", model, "--name", "cnn", "--cloud", f"http://127.0.0.1:{rport}", "--bandwidth", "1000",
                    "--rtt-ms", "0.3", "--out", split_dir, "--json", *data], subprocess.PIPE, edge=True, limited=limited)
        out, _ = p2.communicate(timeout=900)
        PROCS.remove(p2)
        if p2.returncode:
            sys.exit("partition (plan) failed:\n" + out.decode()[-2000:])
        plan = json.load(open(os.path.join(split_dir, "plan.json")))
        result["plan"] = {"chosen": plan["chosen"], "cloud_profile": plan["cloud_profile"]["source"],
                          "all_edge_ms": plan["cuts"][-1]["total_ms"]}
        print("plan:", json.dumps(result["plan"]), flush=True)
        if plan["chosen"]["cut"] == len(plan["cuts"]) - 1:
            sys.exit("the plan keeps everything on the edge: lower --edge-cpu so offloading pays")
        edge_repo = os.path.join(a.work, "edge")
        os.makedirs(os.path.join(edge_repo, "cnn", "1"))
        shutil.copy(model, os.path.join(edge_repo, "cnn", "1", "model.onnx"))
        open(os.path.join(edge_repo, "cnn", "config.pbtxt"), "w").write("version_policy: { all {} }\n")
        policy = os.path.join(a.work, "policy.yaml")
        ctl_log = os.path.join(a.work, "controller.jsonl")

        def start_edge(budget_ms):
            open(policy, "w").write(
                "model: cnn\ntick_s: 1\ncooldown_s: 5\nbreach_ticks: 3\n"
                f"latency: {{p99_budget_ms: {budget_ms}, window_s: 5, min_samples: 20}}\n"
                "split: {fallback_fraction: 0.5, restore_after_s: 10}\n"
                f"actions: {{switch: false, recalibrate: false, finetune: false}}\nlog: {ctl_log}\n")
            eport = free_port()
            p = spawn([exe, "serve", "--model-repo", edge_repo, "--http", str(eport), "--grpc", "-1", "--host", "127.0.0.1",
                       "--threads", "1", "--split", f"cnn=http://127.0.0.1:{rport},{split_dir}/plan.json",
                       "--split-deadline-ms", "1000", "--controller", policy], log, edge=True, limited=limited)
            if not wait_ready(eport):
                sys.exit("the edge did not start; see " + log.name)
            return p, eport

        # Quiet run: the healthy split's p99 under this load sets the budget.
        edge, eport = start_edge(0)
        load = Load(eport, xt, yt)
        time.sleep(3)
        t0 = time.time()
        time.sleep(12)
        healthy = load.window(t0, time.time())
        load.finish()
        os.killpg(edge.pid, signal.SIGTERM)
        edge.wait(30)
        # The healthy p99 plus half the RTT the slow phase adds: above the healthy split's noise (CFS
        # throttling of the slow edge, other jobs on the machine), below the slow cloud's p99.
        budget = round(healthy["p99_ms"] + a.slow_ms, 1)
        result["healthy_quiet_run"] = healthy
        result["p99_budget_ms"] = budget
        print(f"healthy p99 {healthy['p99_ms']} ms -> budget {budget} ms", flush=True)
        if os.path.exists(ctl_log):
            os.remove(ctl_log)

        edge, eport = start_edge(budget)
        load = Load(eport, xt, yt)
        phases = []

        def resplits():
            return [e for e in (controller(eport)[0].get("log") or []) if e["action"] in ("resplit", "rollback")]

        def phase(name, event, expect, timeout):
            seen = len(resplits())
            before = split_paths(eport)
            t_event = time.time()
            event()
            acted, entry = None, None
            while time.time() - t_event < timeout:
                new = resplits()[seen:]
                if new:
                    entry, acted = new[0], time.time() - t_event
                    break
                time.sleep(0.2)
            time.sleep(a.hold_s)
            after = split_paths(eport)
            st = controller(eport)[1]
            ph = {"phase": name, "seconds_to_resplit": None if acted is None else round(acted, 1),
                  "entry": entry and {k: entry[k] for k in ("action", "from", "to", "result", "reason")},
                  "cut_now": st.get("cut"), "placement_now": st.get("placement"),
                  "answers_by_path": {k: after.get(k, 0) - before.get(k, 0) for k in set(after) | set(before)},
                  "client": load.window(t_event, time.time())}
            ok = entry is not None and (expect is None or expect(st))
            ph["ok"] = ok
            phases.append(ph)
            print(json.dumps(ph), flush=True)
            return ok

        t0 = time.time()
        time.sleep(12)
        st = controller(eport)[1]
        phases.append({"phase": "healthy", "cut_now": st.get("cut"), "placement_now": st.get("placement"),
                       "answers_by_path": split_paths(eport), "client": load.window(t0, time.time())})
        print(json.dumps(phases[-1]), flush=True)
        all_edge = len(plan["cuts"]) - 1
        phase("slow", lambda: open(delay_file, "w").write(str(a.slow_ms)), lambda s: s.get("cut") == all_edge, 60)
        phase("recovered", lambda: open(delay_file, "w").write("0"), lambda s: s.get("cut") != all_edge, 120)

        def kill():
            os.killpg(cloud.pid, signal.SIGKILL)
            cloud.wait()
        phase("killed", kill, lambda s: s.get("cut") == all_edge, 60)
        phase("restarted", lambda: spawn(cloud_cmd, log), lambda s: s.get("cut") != all_edge, 120)
        load.finish()
        result["phases"] = phases
        result["total"] = load.window(0, time.time() + 1)
        result["controller_log"] = [json.loads(line) for line in open(ctl_log)] if os.path.exists(ctl_log) else []
        result["ok"] = all(p.get("ok", True) for p in phases) and result["total"]["failed"] == 0
    finally:
        cleanup()
    print(json.dumps({k: result[k] for k in ("plan", "p99_budget_ms", "total", "ok") if k in result}, indent=1))
    if a.json:
        json.dump(result, open(a.json, "w"), indent=1)
    sys.exit(0 if result.get("ok") else 1)


if __name__ == "__main__":
    main()

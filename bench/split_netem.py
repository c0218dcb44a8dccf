#!/usr/bin/python3
"""Edge-cloud split under an emulated network: two network namespaces joined by a veth pair, the
link shaped with `tc tbf` and delayed by a TCP relay (this kernel has no netem), KServe + ONNX
Runtime as the cloud, `edgeopt offload` as the edge. At each (bandwidth, RTT) setting every allowed
cut is measured (round-robin, median end-to-end latency) and the split the solver picks is checked:
within 10% of the best measured cut and not worse than all-edge or all-cloud beyond that.

    sudo bench/split_netem.py --edgeopt build/src/cli/edgeopt [--private-input] [--json out.json]

Setup (all removed at exit, also on failure or Ctrl-C):
  namespaces eoE<pid> (edge) and eoC<pid> (cloud); veth eo<pid>a/eo<pid>b with 10.231.<k>.1/.2/30
  inside them only; `tc qdisc replace dev ... root tbf rate R burst B latency 200ms` on both ends
  (GSO capped at one MTU so tbf sees real packets); bench/delay_relay.py in the cloud namespace
  adds RTT/2 per direction in front of the server; the edge runs with EDGEOPT_NUM_THREADS=1 in a
  cgroup-v1 cpu group limited to --edge-cpu of one core (a slow edge board), the cloud unlimited.
Needs root, iproute2, tc, and the kserve venv (tests/kserve_peer_test.py makes it). Exits 77 when
namespaces cannot be made (not root / no CAP_NET_ADMIN).
"""
import argparse
import atexit
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
VENV_PY = os.path.expanduser("~/.cache/edgeopt-kserve-venv/bin/python")
PID = os.getpid()
NS_E, NS_C = f"eoE{PID}", f"eoC{PID}"
DEV_E, DEV_C = f"eo{PID}a", f"eo{PID}b"
NET = f"10.231.{PID % 250}"
IP_E, IP_C = f"{NET}.1", f"{NET}.2"
CGROUP = f"/sys/fs/cgroup/cpu/eo-edge-{PID}"
PROCS = []
CLEANED = False


def sh(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(args)}: {r.stderr.strip()}")
    return r


def cleanup():
    global CLEANED
    if CLEANED:
        return
    CLEANED = True
    for p in PROCS:
        if p.poll() is None:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
    for ns in (NS_E, NS_C):
        sh("ip", "netns", "del", ns, check=False)  # takes the veth pair and its addresses with it
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


def setup(edge_cpu):
    sh("ip", "netns", "add", NS_E)
    sh("ip", "netns", "add", NS_C)
    sh("ip", "link", "add", DEV_E, "type", "veth", "peer", "name", DEV_C)
    sh("ip", "link", "set", DEV_E, "netns", NS_E)
    sh("ip", "link", "set", DEV_C, "netns", NS_C)
    for ns, dev, ip in ((NS_E, DEV_E, IP_E), (NS_C, DEV_C, IP_C)):
        sh("ip", "-n", ns, "addr", "add", f"{ip}/30", "dev", dev)
        # tbf drops a GSO super-packet larger than its bucket: make TCP hand it real 1500-byte packets.
        sh("ip", "-n", ns, "link", "set", "dev", dev, "gso_max_size", "1500", "gso_max_segs", "1", check=False)
        sh("ip", "-n", ns, "link", "set", dev, "up")
        sh("ip", "-n", ns, "link", "set", "lo", "up")
    os.makedirs(CGROUP, exist_ok=True)
    with open(os.path.join(CGROUP, "cpu.cfs_period_us"), "w") as f:
        f.write("10000")
    with open(os.path.join(CGROUP, "cpu.cfs_quota_us"), "w") as f:
        f.write(str(int(10000 * edge_cpu)))


def shape(mbit):
    # Bucket: one millisecond of traffic, at least two MTUs (tbf needs >= rate/HZ and >= one packet).
    burst = max(3028, int(mbit * 1e6 / 8 / 1000))
    for ns, dev in ((NS_E, DEV_E), (NS_C, DEV_C)):
        sh("tc", "-n", ns, "qdisc", "replace", "dev", dev, "root", "tbf", "rate", f"{mbit}mbit", "burst", str(burst),
           "latency", "200ms")


def spawn(cmd, ns, log, edge=False, env=None):
    def pre():
        os.setsid()
        if edge:
            with open(os.path.join(CGROUP, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
    p = subprocess.Popen(["ip", "netns", "exec", ns] + cmd, stdout=log, stderr=subprocess.STDOUT if log else None,
                         preexec_fn=pre, env=env)
    PROCS.append(p)
    return p


def edge_run(cmd, timeout):
    env = dict(os.environ, EDGEOPT_NUM_THREADS="1")
    p = spawn(cmd, NS_E, subprocess.PIPE, edge=True, env=env)
    out, _ = p.communicate(timeout=timeout)
    PROCS.remove(p)
    return p.returncode, out.decode() if isinstance(out, bytes) else out


def wait_ready(url, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        r = sh("ip", "netns", "exec", NS_E, "curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
               url + "/v2/health/ready", check=False)
        if r.stdout.strip() == "200":
            return True
        time.sleep(0.5)
    return False




def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgeopt", required=True)
    ap.add_argument("--model", help="ONNX model (default: a wide vision_cnn made with `edgeopt train`)")
    ap.add_argument("--bandwidths", default="1,10,100,1000")
    ap.add_argument("--rtts", default="5,50")
    ap.add_argument("--requests", type=int, default=12)
    ap.add_argument("--edge-cpu", type=float, default=0.25, help="edge CPU as a fraction of one core")
    ap.add_argument("--private-input", action="store_true",
                    help="keep the default privacy rule (the raw input never leaves the edge): no all-cloud cut")
    ap.add_argument("--json", help="write the results here")
    ap.add_argument("--workdir", help="keep models, plans and logs here")
    a = ap.parse_args()
    exe = os.path.abspath(a.edgeopt)
    if os.geteuid() != 0:
        print("SKIP: needs root for network namespaces and tc")
        return 77
    if not os.path.exists(VENV_PY):
        print(f"SKIP: no {VENV_PY} (tests/kserve_peer_test.py creates it)")
        return 77
    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        setup(a.edge_cpu)
    except (RuntimeError, OSError) as e:
        print(f"SKIP: cannot build the emulated network: {e}")
        return 77
    work = a.workdir or tempfile.mkdtemp(prefix="eo-netem-")
    os.makedirs(work, exist_ok=True)
    data = ["--data", "fashion-mnist", "--max-train", "600", "--max-test", "200"]
    model = a.model
    if not model:
        model = os.path.join(work, "cnn_wide.onnx")
        if not os.path.exists(model):
            r = subprocess.run([exe, "train", "--model", "vision_cnn", "--width", "128", "--depth", "3", "--epochs", "1",
                                "--max-steps-per-epoch", "2", "--out", model, "--no-progress", *data],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print("FAIL: training the bench model:", r.stderr[-1000:])
                return 1
    repo = os.path.join(work, "repo")
    r = subprocess.run([exe, "partition", model, "--cloud", "speedup:1", "--bandwidth", "100", "--allow-raw-inputs",
                        "--all-transports", "--name", "bench", "--repo", repo, "--runs", "3", *data],
                       capture_output=True, text=True)
    if r.returncode != 0:
        print("FAIL: writing the cloud repository:", r.stderr[-1000:])
        return 1
    server = spawn([VENV_PY, os.path.join(HERE, "kserve_cloud.py"), repo, "--port", "8080", "--threads", "2"], NS_C,
                   open(os.path.join(work, "kserve.log"), "w"))
    raw = [] if a.private_input else ["--allow-raw-inputs"]
    results, failures = [], []
    relay = None
    warm = True  # the first pass only warms the server's sessions up (discarded)
    try:
        for rtt in [float(x) for x in a.rtts.split(",")]:
            if relay:
                os.killpg(relay.pid, signal.SIGKILL)
                relay.wait()
                PROCS.remove(relay)
            relay = spawn(["/usr/bin/python3", os.path.join(HERE, "delay_relay.py"), "--listen", f"{IP_C}:9000", "--to",
                           "127.0.0.1:8080", "--delay-ms", str(rtt / 2)], NS_C, open(os.path.join(work, "relay.log"), "a"))
            url = f"http://{IP_C}:9000"
            shape(1000)
            if not wait_ready(url, 240):
                print("FAIL: the cloud is not reachable through the relay; see", work)
                return 1
            if warm:  # one discarded pass so every cloud session has run before anything is timed
                wd = os.path.join(work, "warmup")
                edge_run([exe, "partition", model, "--cloud", "speedup:1", "--bandwidth", "1000", *raw, "--transport",
                          "int8", "--name", "bench", "--runs", "2", "--out", wd, *data], 900)
                edge_run([exe, "offload", model, "--plan", os.path.join(wd, "plan.json"), "--cloud", url, "--cut", "all",
                          "--requests", "2", "--warmup", "1", "--json", "--no-progress", *data], 900)
                warm = False
            # The cloud's speed and per-request overhead, measured once per RTT on the fast link (a
            # modelled transfer of the probe payload would dominate the error on a slow link).
            cal = os.path.join(work, f"calibrate_rtt{rtt:g}")
            rc, txt = edge_run([exe, "partition", model, "--cloud", url, "--bandwidth", "1000", "--rtt-ms", str(rtt),
                                "--allow-raw-inputs", "--transport", "int8", "--name", "bench", "--runs", "10",
                                "--out", cal, "--json", *data], 900)
            if rc != 0:
                failures.append(f"rtt {rtt}: measuring the cloud failed: {txt[-800:]}")
                continue
            cp = json.loads(txt[txt.index("{"):])
            speedup = sum(cp["edge_profile"]["node_ms"]) / max(sum(cp["cloud_profile"]["node_ms"]), 1e-9)
            request_ms = cp["cloud_profile"]["request_ms"]
            print(f"rtt {rtt:g} ms: {cp['cloud_profile']['source']}", flush=True)
            for bw in [float(x) for x in a.bandwidths.split(",")]:
                shape(bw)
                tag = f"bw{bw:g}_rtt{rtt:g}"
                out = os.path.join(work, tag)
                rc, txt = edge_run([exe, "partition", model, "--cloud", f"speedup:{speedup:.4f}", "--cloud-request-ms",
                                    f"{request_ms:.4f}", "--bandwidth", str(bw), "--rtt-ms", str(rtt),
                                    *raw, "--transport", "int8", "--name", "bench", "--runs", "10",
                                    "--out", out, "--json", *data], 900)
                if rc != 0:
                    failures.append(f"{tag}: partition failed: {txt[-800:]}")
                    continue
                plan = json.loads(txt[txt.index("{"):])
                rc, txt = edge_run([exe, "offload", model, "--plan", os.path.join(out, "plan.json"), "--cloud", url,
                                    "--cut", "all", "--requests", str(a.requests), "--warmup", "2",
                                    "--deadline-ms", "60000", "--json", "--no-progress", *data], 3600)
                if rc != 0:
                    failures.append(f"{tag}: offload failed: {txt[-800:]}")
                    continue
                rep = json.loads(txt[txt.index("{"):])
                cuts = {c["cut"]: c for c in rep["cuts"]}
                best = min(cuts.values(), key=lambda c: c["p50_ms"])
                edge_ms = cuts[max(cuts)]["p50_ms"]
                cloud_ms = cuts[0]["p50_ms"] if 0 in cuts else None
                row = {"bandwidth_mbps": bw, "rtt_ms": rtt, "cloud_source": cp["cloud_profile"]["source"],
                       "cloud_speedup": speedup, "cloud_request_ms": request_ms,
                       "best_cut": best["cut"], "best_ms": best["p50_ms"], "all_edge_ms": edge_ms, "all_cloud_ms": cloud_ms,
                       "estimate": rep["estimate"], "cuts": rep["cuts"]}
                for key, pick in (("prior", plan["chosen"]["cut"]), ("learned", rep["chosen"]["cut"])):
                    ms = cuts[pick]["p50_ms"]
                    ok = ms <= 1.10 * best["p50_ms"] and ms <= 1.10 * edge_ms and (cloud_ms is None or ms <= 1.10 * cloud_ms)
                    row[key] = {"cut": pick, "measured_ms": ms, "ratio_to_best": ms / best["p50_ms"],
                                "not_worse_than_all_edge": ms <= edge_ms, "not_worse_than_all_cloud": cloud_ms is None or ms <= cloud_ms,
                                "ok": ok}
                    if not ok:
                        failures.append(f"{tag}: {key} choice cut {pick} measured {ms:.2f} ms vs best cut {best['cut']} "
                                        f"{best['p50_ms']:.2f} ms (all-edge {edge_ms:.2f}, all-cloud {cloud_ms})")
                results.append(row)
                print(f"{tag:>16}: best cut {best['cut']:>2} {best['p50_ms']:8.2f} ms | all-edge {edge_ms:8.2f} | all-cloud "
                      f"{cloud_ms if cloud_ms is None else round(cloud_ms, 2)} | prior pick {row['prior']['cut']:>2} "
                      f"{row['prior']['measured_ms']:8.2f} ms (x{row['prior']['ratio_to_best']:.3f}) | learned pick "
                      f"{row['learned']['cut']:>2} {row['learned']['measured_ms']:8.2f} ms (x{row['learned']['ratio_to_best']:.3f}) "
                      f"| est {rep['estimate']['bandwidth_mbps']:.1f} Mbit/s {rep['estimate']['rtt_ms']:.1f} ms", flush=True)
    finally:
        if a.json:
            with open(a.json, "w") as f:
                json.dump({"settings": results, "failures": failures, "edge_cpu": a.edge_cpu, "workdir": work}, f, indent=2)
        cleanup()
    for f in failures:
        print("FAIL:", f)
    print("all settings passed" if not failures else f"{len(failures)} FAILED")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())

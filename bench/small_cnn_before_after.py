#!/usr/bin/python3
"""Batch-1 latency of small models: two edgeopt builds (before/after a change) and ONNX Runtime,
in alternating rounds on the same files, threads and CPU.

  /usr/bin/python3 bench/small_cnn_before_after.py BEFORE_BIN AFTER_BIN MODEL.onnx [MODEL.onnx ...]
      [--threads 1] [--rounds 5] [--iters 2000] [--warmup 50] [--cpu 1] [--markdown out.md]

Per round and model: `edgeopt bench` of each build, then ONNX Runtime (the venv of
runtime_vs_peers.py: all graph optimizations, intra_op_num_threads = T, sequential), each in its own
process pinned to the same CPU (taskset), so slow phases of a shared machine hit all three. The
table shows the median over rounds of each runtime's per-run p50 wall time (ms) and of the CPU
time, and after/before and after/ORT ratios (< 1: after is faster).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runtime_vs_peers as peers  # noqa: E402  (PEER_SCRIPT, ensure_venv)


def edgeopt_bench(binary, model, args):
    cmd = ["taskset", "-c", args.cpu, binary, "bench", model, "--threads", str(args.threads), "--iters",
           str(args.iters), "--warmup", str(args.warmup), "--json"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("edgeopt bench failed: " + (r.stderr or r.stdout).strip()[-400:])
    j = json.loads(r.stdout.strip().splitlines()[-1])
    return j["latency_ms"]["p50"], j["cpu_ms_p50"]


def ort_bench(python, model, args):
    cmd = ["taskset", "-c", args.cpu, python, "-c", peers.PEER_SCRIPT, "ort", model, str(args.threads),
           str(args.iters), str(args.warmup)]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError("onnxruntime failed: " + (r.stderr or r.stdout).strip()[-400:])
    j = json.loads(r.stdout.strip().splitlines()[-1])
    return j["p50"], j["cpu_p50"], j["version"]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("before")
    ap.add_argument("after")
    ap.add_argument("models", nargs="+")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=2000)
    ap.add_argument("--warmup", type=int, default=50)
    ap.add_argument("--cpu", default="1", help="taskset CPU list for every process")
    ap.add_argument("--no-ort", action="store_true")
    ap.add_argument("--markdown")
    args = ap.parse_args()
    python = None if args.no_ort else peers.ensure_venv(False)
    runs = {m: {"before": [], "after": [], "ort": []} for m in args.models}
    version = "-"
    for rnd in range(args.rounds):
        for m in args.models:
            runs[m]["before"].append(edgeopt_bench(args.before, m, args))
            runs[m]["after"].append(edgeopt_bench(args.after, m, args))
            if python:
                w, c, version = ort_bench(python, m, args)
                runs[m]["ort"].append((w, c))
        print("round %d/%d done" % (rnd + 1, args.rounds), file=sys.stderr)

    def med(xs, i):
        return statistics.median(x[i] for x in xs) if xs else None

    def fmt(v):
        return "%.4f" % v if v is not None else "-"

    def ratio(a, b):
        return "%.2f" % (a / b) if a and b else "-"

    lines = ["| model | before p50 | after p50 | ORT %s p50 | after/before | after/ORT | CPU ms before / after / ORT |"
             % version, "|---|---|---|---|---|---|---|"]
    for m in args.models:
        r = runs[m]
        b, a, o = med(r["before"], 0), med(r["after"], 0), med(r["ort"], 0)
        cb, ca, co = med(r["before"], 1), med(r["after"], 1), med(r["ort"], 1)
        lines.append("| %s | %s | %s | %s | %s | %s | %s / %s / %s |" %
                     (os.path.basename(m), fmt(b), fmt(a), fmt(o), ratio(a, b), ratio(a, o), fmt(cb), fmt(ca), fmt(co)))
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()

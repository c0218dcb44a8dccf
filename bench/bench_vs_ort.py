#!/usr/bin/python3
"""Inference latency: `edgeopt bench` against ONNX Runtime (CPU) on the same models and inputs.

  /usr/bin/python3 bench/bench_vs_ort.py EDGEOPT_BIN [MODEL.onnx ...] [--threads 1] [--batch 1]
      [--rounds 5] [--iters 50] [--warmup 10] [--no-pin] [--json out.json]

Models: every MODEL.onnx given, plus (unless --no-default-models) three exported by `edgeopt train`
(a few steps each, cached in --model-dir): vision_cnn on fashion-mnist, mobilenet_v2 on
fashion-mnist, env_lstm on seattle-weather.

Both runtimes get the same thread count (ORT: intra_op_num_threads, sequential execution, graph
optimizations ALL; edgeopt: --threads), random inputs shaped like the model's (dynamic dims 1, the
leading dim --batch), the same warm-up and timed runs, and are pinned to CPUs 0..T-1 (taskset).
Each round runs edgeopt then ORT, one process each, so slow phases of a shared machine hit both;
the table shows the median over rounds of each side's p50 and the ratio edgeopt/ORT (< 1: edgeopt
is faster). ORT comes from a private venv, created on first use:
  /usr/bin/python3 -m venv --system-site-packages ~/.cache/edgeopt-bench-venv && pip install onnxruntime
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

VENV = os.path.expanduser("~/.cache/edgeopt-bench-venv")
MODEL_DIR = os.path.expanduser("~/.cache/edgeopt-bench-models")

DEFAULT_MODELS = [
    # (file name, edgeopt train arguments)
    ("vision_cnn.onnx", ["--model", "vision_cnn", "--data", "fashion-mnist"]),
    ("mobilenet_v2.onnx", ["--model", "mobilenet_v2", "--data", "fashion-mnist"]),
    ("env_lstm.onnx", ["--model", "env_lstm", "--data", "seattle-weather"]),
]

# Runs in the venv: times ONNX Runtime on one model and prints one JSON line.
ORT_SCRIPT = r"""
import json, sys, time
import numpy as np
import onnxruntime as ort
model, threads, batch, iters, warmup, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
so = ort.SessionOptions()
so.intra_op_num_threads = threads
so.inter_op_num_threads = 1
so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
rng = np.random.default_rng(seed)
types = {"tensor(float)": np.float32, "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(bool)": np.bool_,
         "tensor(uint8)": np.uint8, "tensor(int8)": np.int8}
feeds = {}
for i in sess.get_inputs():
    shape = [d if isinstance(d, int) and d >= 0 else (batch if k == 0 else 1) for k, d in enumerate(i.shape)]
    dt = types.get(i.type, np.float32)
    feeds[i.name] = rng.uniform(-1, 1, shape).astype(dt) if dt == np.float32 else np.zeros(shape, dt)
for _ in range(warmup):
    sess.run(None, feeds)
ms = []
for _ in range(iters):
    t0 = time.perf_counter()
    sess.run(None, feeds)
    ms.append((time.perf_counter() - t0) * 1e3)
ms.sort()
print(json.dumps({"p50": ms[(len(ms) - 1) // 2], "mean": sum(ms) / len(ms), "min": ms[0], "version": ort.__version__}))
"""


def ensure_venv():
    python = os.path.join(VENV, "bin", "python")
    check = [python, "-c", "import onnxruntime"]
    if os.path.exists(python) and subprocess.run(check, capture_output=True).returncode == 0:
        return python
    print("creating %s with onnxruntime ..." % VENV, file=sys.stderr)
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", VENV], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", "onnxruntime"], check=True)
    return python


def export_default_models(binary, model_dir):
    os.makedirs(model_dir, exist_ok=True)
    paths = []
    for name, args in DEFAULT_MODELS:
        path = os.path.join(model_dir, name)
        if not os.path.exists(path):
            print("exporting %s ..." % path, file=sys.stderr)
            cmd = [binary, "train"] + args + ["--epochs", "1", "--max-steps-per-epoch", "5", "--max-test", "100",
                                              "--out", path, "--no-progress"]
            r = subprocess.run(cmd, capture_output=True, text=True)
            if r.returncode != 0:
                print("  skipped %s: %s" % (name, (r.stderr or r.stdout).strip().splitlines()[-1:]), file=sys.stderr)
                continue
        paths.append(path)
    return paths


def pinned(cmd, args):
    if args.no_pin:
        return cmd
    return ["taskset", "-c", "0" if args.threads == 1 else "0-%d" % (args.threads - 1)] + cmd


def run_edgeopt(args, model, optimize=True):
    cmd = pinned([args.edgeopt, "bench", model, "--threads", str(args.threads), "--batch", str(args.batch),
                  "--iters", str(args.iters), "--warmup", str(args.warmup), "--json"] +
                 ([] if optimize else ["--no-optimize"]), args)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("edgeopt bench failed: " + (r.stderr or r.stdout).strip()[-500:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def run_ort(args, python, model):
    cmd = pinned([python, "-c", ORT_SCRIPT, model, str(args.threads), str(args.batch), str(args.iters),
                  str(args.warmup), "0"], args)
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError("onnxruntime failed: " + (r.stderr or r.stdout).strip()[-500:])
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("edgeopt", help="the edgeopt binary")
    ap.add_argument("models", nargs="*", help="extra .onnx models")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5, help="interleaved edgeopt/ORT rounds per model")
    ap.add_argument("--iters", type=int, default=50, help="timed runs per round")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--no-pin", action="store_true", help="do not taskset to CPUs 0..threads-1")
    ap.add_argument("--no-default-models", action="store_true")
    ap.add_argument("--model-dir", default=MODEL_DIR, help="where the default models are exported (cached)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--unoptimized", action="store_true",
                    help="also time edgeopt without its graph passes (--no-optimize) in every round")
    args = ap.parse_args()
    args.edgeopt = os.path.abspath(args.edgeopt)

    python = ensure_venv()
    models = ([] if args.no_default_models else export_default_models(args.edgeopt, args.model_dir)) + args.models
    if not models:
        sys.exit("no models to benchmark")

    results = []
    for model in models:
        e_p50, o_p50, u_p50, last_e, version, error = [], [], [], None, "", None
        try:
            for _ in range(args.rounds):
                last_e = run_edgeopt(args, model)
                e_p50.append(last_e["latency_ms"]["p50"])
                if args.unoptimized:
                    u_p50.append(run_edgeopt(args, model, optimize=False)["latency_ms"]["p50"])
                o = run_ort(args, python, model)
                o_p50.append(o["p50"])
                version = o["version"]
        except (RuntimeError, ValueError) as ex:
            error = str(ex)
        row = {"model": os.path.basename(model), "path": model, "error": error, "ort_version": version,
               "edgeopt_p50_ms": statistics.median(e_p50) if e_p50 else None,
               "ort_p50_ms": statistics.median(o_p50) if o_p50 else None,
               "edgeopt_unoptimized_p50_ms": statistics.median(u_p50) if u_p50 else None,
               "edgeopt_rounds": e_p50, "ort_rounds": o_p50}
        if row["edgeopt_p50_ms"] and row["ort_p50_ms"]:
            row["ratio"] = row["edgeopt_p50_ms"] / row["ort_p50_ms"]
        if last_e:
            row.update({k: last_e.get(k) for k in ("nodes_before_opt", "nodes_after_opt", "planned_arena_bytes",
                                                   "peak_rss_mb", "gemm_kernel")})
        results.append(row)
        print("  %s: %s" % (row["model"], error or "edgeopt %s / ORT %s" % (e_p50, o_p50)), file=sys.stderr)

    print("threads %d, batch %d, %d rounds x %d runs (median of per-round p50), ORT %s" %
          (args.threads, args.batch, args.rounds, args.iters, next((r["ort_version"] for r in results if r["ort_version"]), "?")))
    print("%-22s %8s %16s %12s %8s%s" % ("model", "nodes", "edgeopt p50 ms", "ORT p50 ms", "ratio",
                                         "   no-opt p50 ms" if args.unoptimized else ""))
    for r in results:
        if r["error"]:
            print("%-22s %s" % (r["model"], "error: " + r["error"][:120]))
            continue
        nodes = "%s->%s" % (r.get("nodes_before_opt"), r.get("nodes_after_opt"))
        unopt = "   %14.3f" % r["edgeopt_unoptimized_p50_ms"] if r["edgeopt_unoptimized_p50_ms"] else ""
        print("%-22s %8s %16.3f %12.3f %8.2f%s" % (r["model"], nodes, r["edgeopt_p50_ms"], r["ort_p50_ms"], r["ratio"],
                                                  unopt))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"threads": args.threads, "batch": args.batch, "rounds": args.rounds, "iters": args.iters,
                       "results": results}, f, indent=2)


if __name__ == "__main__":
    main()

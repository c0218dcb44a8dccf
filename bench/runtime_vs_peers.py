#!/usr/bin/python3
"""Batch-1 inference: edgeopt against ONNX Runtime and OpenVINO, side by side, on reference models.

  /usr/bin/python3 bench/runtime_vs_peers.py EDGEOPT_BIN [MODEL.onnx ...] [--threads 1,2] [--rounds 5]
      [--iters 30] [--warmup 5] [--only NAME,...] [--no-openvino] [--json out.json] [--markdown out.md]

Reference models (exported with PyTorch, Debian's python3-torch, into --model-dir, cached):
  vision_cnn     the Fashion-MNIST CNN of edgeopt's zoo (2x conv3x3-BN-ReLU-maxpool, FC 128, FC 10), 1x1x28x28
  torch_lstm     a 2-layer LSTM forecaster (6 features, hidden 32, 24 steps) + linear head
  torch_mlp      a 3-layer MLP (20 -> 64 -> 32 -> 4, softmax)
  torch_mobilenet_v2, torch_resnet18   torchvision architectures at 1x3x224x224
Weights are seeded random (BatchNorm statistics too): latency does not depend on the values.

Every runtime gets the same model file, thread count, random input, warm-up and timed runs, and is
pinned to CPUs 0..T-1 (taskset). Per round, edgeopt, ORT and OpenVINO run one after another, each
in its own process, so slow phases of a shared machine hit all of them; the table shows, per model
and thread count, the median over rounds of each runtime's per-run p50 wall time and p50 process
CPU time, and the ratios edgeopt/peer (< 1: edgeopt is faster). On an idle machine the two agree
at 1 thread; when other work competes for the cores, the CPU-time ratio is the steadier one.

Peers come from a private venv, created on first use (the product itself never needs Python):
  /usr/bin/python3 -m venv --system-site-packages ~/.cache/edgeopt-bench-venv
  ~/.cache/edgeopt-bench-venv/bin/pip install onnxruntime openvino
ORT: intra_op_num_threads = T, sequential, all graph optimizations. OpenVINO: CPU plugin,
INFERENCE_NUM_THREADS = T, one stream, LATENCY hint, INFERENCE_PRECISION_HINT f32 (on CPUs with
AVX512-BF16 OpenVINO would otherwise silently compute in bf16).
"""
import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.expanduser("~/.cache/edgeopt-bench-venv")
MODEL_DIR = os.path.expanduser("~/.cache/edgeopt-bench-models/reference")
TORCH_MODELS = ["torch_lstm", "torch_mlp", "torch_mobilenet_v2", "torch_resnet18"]

# Runs in the venv: times one peer on one model, prints one JSON line.
PEER_SCRIPT = r"""
import json, sys, time
import numpy as np
engine, model, threads, iters, warmup = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
rng = np.random.default_rng(0)
def shape_of(dims):
    return [d if isinstance(d, int) and d > 0 else 1 for d in dims]
if engine == "ort":
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])
    feeds = {i.name: rng.uniform(-1, 1, shape_of(i.shape)).astype(np.float32) for i in sess.get_inputs()}
    run = lambda: sess.run(None, feeds)
    version = ort.__version__
else:
    import openvino as ov
    core = ov.Core()
    m = core.read_model(model)
    shapes = {}
    for i in m.inputs:
        ps = i.get_partial_shape()
        shapes[i.get_any_name()] = [d.get_length() if d.is_static else 1 for d in ps]
    m.reshape(shapes)
    cfg = {"INFERENCE_NUM_THREADS": threads, "NUM_STREAMS": 1, "PERFORMANCE_HINT": "LATENCY",
           "INFERENCE_PRECISION_HINT": "f32"}
    compiled = core.compile_model(m, "CPU", cfg)
    req = compiled.create_infer_request()
    feeds = {k: rng.uniform(-1, 1, v).astype(np.float32) for k, v in shapes.items()}
    run = lambda: req.infer(feeds)
    version = ov.__version__ if hasattr(ov, "__version__") else ov.get_version()
for _ in range(warmup):
    run()
wall, cpu = [], []
for _ in range(iters):
    c0 = time.process_time(); t0 = time.perf_counter()
    run()
    wall.append((time.perf_counter() - t0) * 1e3); cpu.append((time.process_time() - c0) * 1e3)
print(json.dumps({"p50": float(np.median(wall)), "cpu_p50": float(np.median(cpu)), "version": str(version)}))
"""


def ensure_venv(want_openvino):
    python = os.path.join(VENV, "bin", "python")
    if not os.path.exists(python):
        print("creating %s ..." % VENV, file=sys.stderr)
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", VENV], check=True)
    pkgs = ["onnxruntime"] + (["openvino"] if want_openvino else [])
    for p in pkgs:
        if subprocess.run([python, "-c", "import " + p], capture_output=True).returncode != 0:
            print("installing %s into %s ..." % (p, VENV), file=sys.stderr)
            subprocess.run([python, "-m", "pip", "install", "-q", p], check=True)
    return python


def export_vision_cnn(path):
    import torch
    from torch import nn

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(), nn.MaxPool2d(2, 2)]

    torch.manual_seed(0)
    model = nn.Sequential(*block(1, 32), *block(32, 64), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    gen = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            with torch.no_grad():
                m.running_mean.copy_(torch.rand(m.num_features, generator=gen) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
    model.eval()
    torch.onnx.export(model, torch.randn(1, 1, 28, 28), path, opset_version=13, input_names=["input"],
                      output_names=["output"], do_constant_folding=True)


def reference_models(model_dir, only):
    os.makedirs(model_dir, exist_ok=True)
    want = [m for m in ["vision_cnn"] + TORCH_MODELS if not only or m in only]
    missing = [m for m in want if not os.path.exists(os.path.join(model_dir, m + ".onnx"))]
    if "vision_cnn" in missing:
        print("exporting vision_cnn ...", file=sys.stderr)
        export_vision_cnn(os.path.join(model_dir, "vision_cnn.onnx"))
    torch_missing = [m for m in missing if m in TORCH_MODELS]
    if torch_missing:
        print("exporting %s ..." % ", ".join(torch_missing), file=sys.stderr)
        subprocess.run(["/usr/bin/python3", os.path.join(HERE, "..", "tests", "peers", "export_models.py"), model_dir,
                        "--only", ",".join(torch_missing)], check=True, stdout=subprocess.DEVNULL)
    return [os.path.join(model_dir, m + ".onnx") for m in want]


def pinned(cmd, threads, no_pin):
    return cmd if no_pin else ["taskset", "-c", "0" if threads == 1 else "0-%d" % (threads - 1)] + cmd


def run_edgeopt(args, model, threads):
    cmd = pinned([args.edgeopt, "bench", model, "--threads", str(threads), "--iters", str(args.iters), "--warmup",
                  str(args.warmup), "--json"], threads, args.no_pin)
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("edgeopt bench failed: " + (r.stderr or r.stdout).strip()[-400:])
    j = json.loads(r.stdout.strip().splitlines()[-1])
    return {"p50": j["latency_ms"]["p50"], "cpu_p50": j["cpu_ms_p50"], "version": "edgeopt",
            "nodes": "%s->%s" % (j.get("nodes_before_opt"), j.get("nodes_after_opt"))}


def run_peer(args, python, engine, model, threads):
    cmd = pinned([python, "-c", PEER_SCRIPT, engine, model, str(threads), str(args.iters), str(args.warmup)], threads,
                 args.no_pin)
    env = dict(os.environ, OMP_NUM_THREADS=str(threads))
    r = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if r.returncode != 0:
        raise RuntimeError("%s failed: %s" % (engine, (r.stderr or r.stdout).strip()[-400:]))
    return json.loads(r.stdout.strip().splitlines()[-1])


def fmt_ratio(a, b):
    return "%.2f" % (a / b) if a and b else "-"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("edgeopt", help="the edgeopt binary")
    ap.add_argument("models", nargs="*", help="extra .onnx models (beside the reference ones)")
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts (default 1,2)")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30, help="timed runs per round")
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--only", default="", help="comma-separated reference model names")
    ap.add_argument("--no-reference-models", action="store_true")
    ap.add_argument("--no-openvino", action="store_true")
    ap.add_argument("--no-pin", action="store_true")
    ap.add_argument("--model-dir", default=MODEL_DIR)
    ap.add_argument("--json", help="write all results here")
    ap.add_argument("--markdown", help="write the table here (for bench/README.md)")
    args = ap.parse_args()
    args.edgeopt = os.path.abspath(args.edgeopt)
    threads_list = [int(t) for t in args.threads.split(",") if t]
    engines = ["edgeopt", "ort"] + ([] if args.no_openvino else ["openvino"])

    python = ensure_venv(not args.no_openvino)
    only = set(x for x in args.only.split(",") if x)
    models = ([] if args.no_reference_models else reference_models(args.model_dir, only)) + args.models
    if not models:
        sys.exit("no models to benchmark")

    results, versions = [], {}
    for model in models:
        for threads in threads_list:
            samples = {e: {"p50": [], "cpu_p50": []} for e in engines}
            errors, nodes = {}, ""
            for _ in range(args.rounds):
                for e in engines:
                    if e in errors:
                        continue
                    try:
                        r = run_edgeopt(args, model, threads) if e == "edgeopt" else run_peer(args, python, e, model,
                                                                                               threads)
                    except (RuntimeError, ValueError) as ex:
                        errors[e] = str(ex)
                        continue
                    samples[e]["p50"].append(r["p50"])
                    samples[e]["cpu_p50"].append(r["cpu_p50"])
                    versions[e] = r["version"]
                    nodes = r.get("nodes", nodes)
            row = {"model": os.path.splitext(os.path.basename(model))[0], "threads": threads, "nodes": nodes,
                   "errors": errors}
            for e in engines:
                for k in ("p50", "cpu_p50"):
                    v = samples[e][k]
                    row["%s_%s" % (e, k)] = statistics.median(v) if v else None
                row[e + "_rounds"] = samples[e]["p50"]
            results.append(row)
            print("  %s x%d: %s" % (row["model"], threads, {e: round(row[e + "_p50"] or 0, 3) for e in engines}),
                  file=sys.stderr)

    peers = [e for e in engines if e != "edgeopt"]
    head = ["model", "threads", "edgeopt ms", "edgeopt cpu ms"]
    for p in peers:
        head += ["%s ms" % p, "%s cpu ms" % p, "ratio %s" % p, "cpu ratio %s" % p]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        cells = [r["model"], str(r["threads"]), "%.3f" % (r["edgeopt_p50"] or 0), "%.3f" % (r["edgeopt_cpu_p50"] or 0)]
        for p in peers:
            if r[p + "_p50"] is None:
                cells += ["error", "", "", ""]
                continue
            cells += ["%.3f" % r[p + "_p50"], "%.3f" % r[p + "_cpu_p50"], fmt_ratio(r["edgeopt_p50"], r[p + "_p50"]),
                      fmt_ratio(r["edgeopt_cpu_p50"], r[p + "_cpu_p50"])]
        lines.append("| " + " | ".join(cells) + " |")
    cpu = ""
    try:
        cpu = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")][0]
    except (OSError, IndexError):
        pass
    title = "%s, %s (%d CPUs), %s; median of %d rounds x %d runs; ratio = edgeopt / peer (< 1: edgeopt faster)" % (
        datetime.date.today().isoformat(), cpu or platform.machine(), os.cpu_count(),
        ", ".join("%s %s" % (k, v) for k, v in sorted(versions.items()) if k != "edgeopt"), args.rounds, args.iters)
    print(title)
    print("\n".join(lines))
    for r in results:
        for e, msg in r["errors"].items():
            print("%s x%d %s: %s" % (r["model"], r["threads"], e, msg[:300]))
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(title + "\n\n" + "\n".join(lines) + "\n")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"title": title, "versions": versions, "results": results}, f, indent=2)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""bf16 compute vs fp32: accuracy and batch-1 latency of edgeopt on the same models, one thread.

  /usr/bin/python3 bench/bf16_vs_fp32.py --edgeopt build/src/cli/edgeopt [--rounds 5] [--iters 40]
      [--models vision_cnn,torch_mobilenet_v2,torch_resnet18] [--cpu N] [--json-out r.json]

Three variants per model, each timed by `edgeopt bench MODEL --threads 1 --json` (p50 wall-clock ms;
rounds interleave the variants so machine load hits them alike, the median over rounds is reported):
  fp32        the f32 model;
  bf16 (f32)  bf16-stored weights, computed in f32 (--bf16-compute off: the Casts fold back to f32);
  bf16        the same model with bf16 compute (Conv group 1 / Gemm / MatMul as ConvBf16 / GemmBf16,
              runtime/passes use_bf16_compute), which the model's edgeopt.compute=bf16 metadata asks for.
vision_cnn (~/.cache/edgeopt-bench-models/int8/vision_cnn.onnx, else `edgeopt train` for one epoch on
Fashion-MNIST) is converted by `edgeopt quantize --dtype bf16` and its Fashion-MNIST test accuracy is
measured by `edgeopt eval` (fp32 and bf16 compute). torchvision mobilenet_v2 / resnet18 at 224x224
(tests/peers/export_models.py, seeded random weights: latency only) have no Fashion-MNIST data for
`quantize`, so their Conv/Gemm weights are rounded to bf16 here (round to nearest even, what the
session's folded Cast(bf16) gives; BatchNorm is already folded in these exports) and the metadata set.
bf16 compute needs a CPU with AVX512-BF16; elsewhere "bf16" equals "bf16 (f32)".
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CACHE = os.path.expanduser("~/.cache/edgeopt-bench-models")
VENV_PY = os.path.expanduser("~/.cache/edgeopt-bench-venv/bin/python")


def run(cmd, **kw):
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        sys.exit("failed: %s\n%s" % (" ".join(map(str, cmd)), r.stderr[-3000:]))
    return r.stdout


def fp32_model(name, edgeopt, work):
    if name == "vision_cnn":
        for path in (os.path.join(CACHE, "int8", "vision_cnn.onnx"), os.path.join(CACHE, "vision_cnn.onnx")):
            if os.path.exists(path):
                return path
        path = os.path.join(work, "vision_cnn.onnx")
        if not os.path.exists(path):
            run([edgeopt, "train", "--model", "vision_cnn", "--data", "fashion-mnist", "--epochs", "1", "--seed", "1",
                 "--out", path, "--no-progress"])
        return path
    for d in (os.path.join(CACHE, "int8", "models"), os.path.join(work, "models")):
        path = os.path.join(d, name + ".onnx")
        if os.path.exists(path):
            return path
    run(["/usr/bin/python3", os.path.join(ROOT, "tests", "peers", "export_models.py"), os.path.join(work, "models"),
         "--only", name])
    return os.path.join(work, "models", name + ".onnx")


ROUND_WEIGHTS = r"""
import sys
import numpy as np
import onnx
from onnx import numpy_helper
src, dst = sys.argv[1], sys.argv[2]
m = onnx.load(src)
inits = {t.name: t for t in m.graph.initializer}
done = set()
for n in m.graph.node:
    if n.op_type not in ("Conv", "Gemm", "MatMul") or len(n.input) < 2 or n.input[1] not in inits:
        continue
    t = inits[n.input[1]]
    if t.name in done or t.data_type != onnx.TensorProto.FLOAT:
        continue
    u = numpy_helper.to_array(t).astype(np.float32).view(np.uint32).astype(np.uint64)
    u = ((u + 0x7FFF + ((u >> 16) & 1)) >> 16) << 16  # round to nearest even (finite weights)
    t.CopyFrom(numpy_helper.from_array(u.astype(np.uint32).view(np.float32), t.name))
    done.add(t.name)
kv = m.metadata_props.add()
kv.key, kv.value = "edgeopt.compute", "bf16"
onnx.save(m, dst)
print(len(done))
"""


def bf16_model(name, src, edgeopt, work):
    dst = os.path.join(work, name + "_bf16.onnx")
    if name == "vision_cnn":
        run([edgeopt, "quantize", src, "--data", "fashion-mnist", "--dtype", "bf16", "--out", dst, "--no-progress"])
    else:
        py = VENV_PY if os.path.exists(VENV_PY) else sys.executable
        run([py, "-c", ROUND_WEIGHTS, src, dst])
    return dst


def bench(edgeopt, model, iters, cpu, bf16_compute):
    cmd = [edgeopt, "bench", model, "--threads", "1", "--iters", iters, "--warmup", "5", "--json",
           "--bf16-compute", bf16_compute]
    if cpu is not None:
        cmd = ["taskset", "-c", cpu] + cmd
    j = json.loads(run(cmd))
    changed = {p["name"]: p["nodes_changed"] for p in j["passes"]}.get("use_bf16_compute", 0)
    return j["latency_ms"]["p50"], changed


def accuracy(edgeopt, model):
    return json.loads(run([edgeopt, "eval", model, "--data", "fashion-mnist", "--json"]))["accuracy"]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--edgeopt", default=os.path.join(ROOT, "build", "src", "cli", "edgeopt"))
    ap.add_argument("--models", default="vision_cnn,torch_mobilenet_v2,torch_resnet18")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=40)
    ap.add_argument("--cpu", default=None, help="pin every run to this CPU (taskset)")
    ap.add_argument("--work", default=os.path.join(CACHE, "bf16"))
    ap.add_argument("--json-out", default=None)
    a = ap.parse_args()
    os.makedirs(a.work, exist_ok=True)

    variants = (("fp32", "src", "off"), ("bf16 (f32)", "bf16", "off"), ("bf16", "bf16", "auto"))
    models = []
    for name in a.models.split(","):
        src = fp32_model(name, a.edgeopt, a.work)
        models.append((name, {"src": src, "bf16": bf16_model(name, src, a.edgeopt, a.work)}))

    times = {name: {v[0]: [] for v in variants} for name, _ in models}
    rewritten = {}
    for r in range(a.rounds):
        for name, paths in models:
            for label, which, mode in variants:
                p50, changed = bench(a.edgeopt, paths[which], a.iters, a.cpu, mode)
                times[name][label].append(p50)
                if label == "bf16":
                    rewritten[name] = changed
        print("round %d/%d done" % (r + 1, a.rounds), file=sys.stderr)

    report = {}
    print("batch-1 p50 latency, ms (median over %d rounds, one thread)" % a.rounds)
    print("%-20s %10s %12s %10s %11s %10s" % ("model", "fp32", "bf16 (f32)", "bf16", "bf16/fp32", "bf16 ops"))
    for name, paths in models:
        med = {k: statistics.median(v) for k, v in times[name].items()}
        report[name] = {"p50_ms": med, "rounds": times[name], "bf16_nodes": rewritten[name]}
        print("%-20s %10.3f %12.3f %10.3f %10.2fx %10d" % (name, med["fp32"], med["bf16 (f32)"], med["bf16"],
                                                          med["bf16"] / med["fp32"], rewritten[name]))
    if "vision_cnn" in dict(models):
        paths = dict(models)["vision_cnn"]
        acc = {"fp32": accuracy(a.edgeopt, paths["src"]), "bf16": accuracy(a.edgeopt, paths["bf16"])}
        report["vision_cnn"]["accuracy"] = acc
        print("vision_cnn Fashion-MNIST test accuracy: fp32 %.2f%%, bf16 compute %.2f%% (%+.2f points)" %
              (100 * acc["fp32"], 100 * acc["bf16"], 100 * (acc["bf16"] - acc["fp32"])))
    if a.json_out:
        with open(a.json_out, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()

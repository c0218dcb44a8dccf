#!/usr/bin/python3
"""edgeopt's CUDA backend against ONNX Runtime's CUDA execution provider, batch 1 and batch 32.

  /usr/bin/python3 bench/cuda_vs_ort.py EDGEOPT_BIN [MODEL.onnx ...] [--batches 1,32] [--rounds 3]
      [--iters 200] [--warmup 20] [--dtype fp32] [--json out.json]

Needs a GPU, an edgeopt built with the CUDA backend (docs/cuda.md) and onnxruntime-gpu in the
bench venv (~/.cache/edgeopt-bench-venv/bin/pip install onnxruntime-gpu). Without a GPU it prints
"no GPU: ..." and exits with status 3 (nothing is measured, nothing is claimed).

Both runtimes get the same model file (the batch dim made symbolic where it was fixed at 1), the
same random f32 input, warm-up and timed runs; latency is host numpy/tensor in -> host out per run
(edgeopt: `edgeopt bench --device cuda --json`, p50 of CudaSession::run with its CUDA graph; ORT:
p50 of InferenceSession.run with CUDAExecutionProvider, use_tf32 matched to --dtype). Per round edgeopt and ORT
run one after the other in their own processes; the table shows the median over rounds of each
p50 and the ratio edgeopt/ORT (< 1: edgeopt is faster).
Default models: the reference set of bench/runtime_vs_peers.py (vision_cnn, torch_mlp, torch_lstm,
torch_mobilenet_v2, torch_resnet18). Results of a lent H100: docs/cuda.md.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

VENV_PY = os.path.expanduser("~/.cache/edgeopt-bench-venv/bin/python")
MODEL_DIR = os.path.expanduser("~/.cache/edgeopt-bench-models/reference")
DEFAULT_MODELS = ["vision_cnn", "torch_mlp", "torch_lstm", "torch_mobilenet_v2", "torch_resnet18"]

ORT_SCRIPT = r"""
import json, sys, time
import numpy as np
import onnxruntime as ort
model, batch, iters, warmup, tf32 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
if "CUDAExecutionProvider" not in ort.get_available_providers():
    print(json.dumps({"error": "onnxruntime has no CUDAExecutionProvider (pip install onnxruntime-gpu in the bench venv)"}))
    sys.exit(0)
sess = ort.InferenceSession(model, providers=[("CUDAExecutionProvider", {"use_tf32": tf32})])
if sess.get_providers()[0] != "CUDAExecutionProvider":
    print(json.dumps({"error": "ORT fell back to " + sess.get_providers()[0]}))
    sys.exit(0)
rng = np.random.default_rng(0)
def shape_of(dims):
    return [batch if k == 0 and not (isinstance(d, int) and d > 0) else (d if isinstance(d, int) and d > 0 else 1)
            for k, d in enumerate(dims)]
feeds = {i.name: rng.uniform(-1, 1, shape_of(i.shape)).astype(np.float32) for i in sess.get_inputs()}
for _ in range(warmup):
    sess.run(None, feeds)
ts = []
for _ in range(iters):
    t0 = time.perf_counter()
    sess.run(None, feeds)
    ts.append((time.perf_counter() - t0) * 1e3)
ts.sort()
print(json.dumps({"p50": ts[len(ts) // 2], "version": ort.__version__}))
"""


def gpu_present():
    """(True, name) or (False, why)."""
    smi = shutil.which("nvidia-smi")
    if not smi:
        return False, "nvidia-smi not found (no NVIDIA driver on this machine)"
    r = subprocess.run([smi, "-L"], capture_output=True, text=True)
    if r.returncode != 0 or "GPU" not in r.stdout:
        return False, "nvidia-smi lists no GPU: " + (r.stderr.strip() or r.stdout.strip())
    return True, r.stdout.strip().splitlines()[0]


def symbolic_batch(path, tmpdir):
    """A copy of the model whose inputs/outputs have a symbolic leading dim (ORT and edgeopt then take any batch)."""
    import onnx
    m = onnx.load(path)
    changed = False
    for vi in list(m.graph.input) + list(m.graph.output):
        dims = vi.type.tensor_type.shape.dim
        if dims and dims[0].HasField("dim_value"):
            dims[0].dim_param = "N"
            changed = True
    if not changed:
        return path
    out = os.path.join(tmpdir, os.path.basename(path))
    onnx.save(m, out)
    return out


def run_edgeopt(binary, model, batch, dtype, iters, warmup):
    # `edgeopt bench --device cuda` execs edgeopt-cuda-bench; calling that program directly (as on a
    # lent GPU machine, where only the CUDA programs travel) gives the same numbers.
    direct = os.path.basename(binary).startswith("edgeopt-cuda-bench")
    head = [binary, model] if direct else [binary, "bench", model, "--device", "cuda"]
    r = subprocess.run(head + ["--dtype", dtype, "--batch", str(batch), "--iters", str(iters), "--warmup", str(warmup), "--json"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip() or r.stdout.strip()}
    j = json.loads(r.stdout.strip().splitlines()[-1])
    return {"p50": j["latency_ms"]["p50"], "power_w": j.get("power_w"), "energy_mj": j.get("energy_mj_per_inference"),
            "cuda_graphs": j.get("cuda_graphs")}


def run_ort(python, model, batch, iters, warmup, tf32):
    r = subprocess.run([python, "-c", ORT_SCRIPT, model, str(batch), str(iters), str(warmup), "1" if tf32 else "0"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        return {"error": r.stderr.strip()[-300:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("edgeopt")
    ap.add_argument("models", nargs="*")
    ap.add_argument("--batches", default="1,32")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--iters", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--dtype", default="fp32", choices=["fp32", "tf32", "fp16"],
                    help="edgeopt's float math: fp32 runs against ORT with use_tf32=0 (both exact f32), tf32 "
                         "against ORT's default (use_tf32=1), fp16 against ORT's default on the f32 model")
    ap.add_argument("--python", default=VENV_PY,
                    help="the Python that imports onnxruntime-gpu (default: the bench venv's)")
    ap.add_argument("--json")
    a = ap.parse_args()

    ok, gpu = gpu_present()
    if not ok:
        print(f"no GPU: {gpu}; cuda_vs_ort.py measures nothing here (run it where a GPU is lent)")
        return 3
    if not shutil.which(a.python):
        print(f"no bench venv at {a.python}: create it and pip install onnxruntime-gpu (see the docstring)")
        return 2
    models = a.models or [os.path.join(MODEL_DIR, m + ".onnx") for m in DEFAULT_MODELS]
    batches = [int(b) for b in a.batches.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for path in models:
            model = symbolic_batch(path, tmp)
            for b in batches:
                e_runs, o_runs, err = [], [], None
                for _ in range(a.rounds):
                    e = run_edgeopt(a.edgeopt, model, b, a.dtype, a.iters, a.warmup)
                    o = run_ort(a.python, model, b, a.iters, a.warmup, a.dtype != "fp32")
                    err = e.get("error") or o.get("error")
                    if err:
                        break
                    e_runs.append(e["p50"])
                    o_runs.append(o["p50"])
                row = {"model": os.path.basename(path), "batch": b, "dtype": a.dtype, "gpu": gpu}
                if err:
                    row["error"] = err
                else:
                    row["edgeopt_ms"] = statistics.median(e_runs)
                    row["ort_ms"] = statistics.median(o_runs)
                    row["ratio"] = row["edgeopt_ms"] / row["ort_ms"]
                    row["power_w"], row["energy_mj"] = e.get("power_w"), e.get("energy_mj")
                rows.append(row)
                if err:
                    print(f"{row['model']:28s} batch {b:3d}  error: {err}")
                else:
                    ort_mode = "use_tf32=0" if a.dtype == "fp32" else "default, tf32"
                    print(f"{row['model']:28s} batch {b:3d}  edgeopt {a.dtype} {row['edgeopt_ms']:8.3f} ms   "
                          f"ORT CUDA EP ({ort_mode}) {row['ort_ms']:8.3f} ms   ratio {row['ratio']:.2f}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())

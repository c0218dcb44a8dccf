#!/usr/bin/python3
"""Our PTQ against ONNX Runtime's quantize_static on the same fp32 model and the same calibration
samples, and ONNX Runtime running our QDQ export.

  /usr/bin/python3 bench/quant_vs_ort.py EDGEOPT_BIN MODEL.onnx [--calib minmax|entropy|percentile|mse]
      [--calib-samples 512] [--per-channel] [--seed 1] [--work DIR] [--json out.json]

MODEL.onnx is an f32 classifier trained on Fashion-MNIST by `edgeopt train` (its input takes
normalized [N,1,28,28] images). Steps:
1. `edgeopt quantize` (PTQ, u8 activations, s8 weights) writes our QDQ model and, with
   --save-calib, the exact calibration samples it used (a seeded subset of the training split).
2. onnxruntime.quantization.quantize_static (QDQ format, QUInt8 activations, QInt8 weights, the
   same per-channel choice, the matching calibration method: minmax->MinMax, entropy->Entropy,
   percentile->Percentile, mse->MinMax as ORT has no MSE calibrator) quantizes the same fp32
   model, after ORT's own quant_pre_process, with the same samples.
3. All 10,000 test images go through: ORT on fp32, ORT on ORT's int8, ORT on ours, and
   `edgeopt run` on ours. Accuracy, drop vs fp32 and file size print side by side.
ORT comes from ~/.cache/edgeopt-bench-venv (pip install onnxruntime ml_dtypes "onnx>=1.16").
"""
import argparse
import gzip
import json
import os
import subprocess
import sys
import tempfile

VENV = os.path.expanduser("~/.cache/edgeopt-bench-venv")
FMNIST = "/usr/share/datasets/fashion-mnist"
ORT_METHOD = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile", "mse": "MinMax"}


def reexec_in_venv():
    try:
        import onnxruntime.quantization  # noqa: F401
        return
    except ImportError:
        pass
    py = os.path.join(VENV, "bin", "python")
    if os.environ.get("EDGEOPT_QVO_IN_VENV") or not os.path.exists(py):
        sys.exit("onnxruntime.quantization is not importable; create " + VENV + " (see the docstring)")
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], dict(os.environ, EDGEOPT_QVO_IN_VENV="1"))


def sh(*args):
    p = subprocess.run([str(a) for a in args], capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(map(str, args))}\n{p.stderr[-3000:]}")
    return p


def main():
    reexec_in_venv()
    import numpy as np
    import onnxruntime as ort
    from onnxruntime import quantization as oq
    from onnxruntime.quantization.shape_inference import quant_pre_process

    ap = argparse.ArgumentParser()
    ap.add_argument("edgeopt")
    ap.add_argument("model")
    ap.add_argument("--calib", default="minmax", choices=sorted(ORT_METHOD))
    ap.add_argument("--calib-samples", type=int, default=512)
    ap.add_argument("--per-channel", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--work", default="")
    ap.add_argument("--json", default="")
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="quant_vs_ort_")
    os.makedirs(work, exist_ok=True)
    ours = os.path.join(work, "ours.onnx")
    calib = os.path.join(work, "calib.npy")
    pc = ["--per-channel"] if a.per_channel else []
    p = sh(a.edgeopt, "quantize", a.model, "--data", "fashion-mnist", "--method", "ptq", "--calib", a.calib,
           "--calib-samples", a.calib_samples, "--seed", a.seed, *pc, "--save-calib", calib, "--out", ours,
           "--report", os.path.join(work, "ours.json"), "--no-progress")
    print(p.stdout.strip())

    x_calib = np.load(calib).astype(np.float32)

    class Reader(oq.CalibrationDataReader):
        def __init__(self, name):
            self.it = iter([{name: x_calib[i:i + 32]} for i in range(0, len(x_calib), 32)])

        def get_next(self):
            return next(self.it, None)

    pre = os.path.join(work, "fp32_pre.onnx")
    quant_pre_process(a.model, pre, skip_symbolic_shape=True)
    theirs = os.path.join(work, "ort_int8.onnx")
    in_name = ort.InferenceSession(a.model, providers=["CPUExecutionProvider"]).get_inputs()[0].name
    oq.quantize_static(pre, theirs, Reader(in_name), quant_format=oq.QuantFormat.QDQ, per_channel=a.per_channel,
                       activation_type=oq.QuantType.QUInt8, weight_type=oq.QuantType.QInt8,
                       calibrate_method=getattr(oq.CalibrationMethod, ORT_METHOD[a.calib]))

    x_test = os.path.join(work, "x_test.npy")
    sh(a.edgeopt, "data", "--data", "fashion-mnist", "--split", "test", "--sample-out", x_test, "--count", 10000)
    x = np.load(x_test).astype(np.float32)
    raw = gzip.open(os.path.join(FMNIST, "t10k-labels-idx1-ubyte.gz"), "rb").read()
    y = np.frombuffer(raw[8:], dtype=np.uint8).astype(np.int64)

    def ort_acc(path):
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        out = np.concatenate([s.run(None, {in_name: x[i:i + 1000]})[0] for i in range(0, len(x), 1000)])
        return 100.0 * float(np.mean(out.argmax(1) == y)), out.argmax(1)

    out_dir = os.path.join(work, "edgeopt_out")
    sh(a.edgeopt, "run", ours, "--input", f"{in_name}={x_test}", "--output-dir", out_dir)
    ours_pred = np.load(os.path.join(out_dir, "output.npy")).argmax(1)
    acc_fp, _ = ort_acc(a.model)
    acc_theirs, _ = ort_acc(theirs)
    acc_ours_ort, ours_ort_pred = ort_acc(ours)
    acc_ours = 100.0 * float(np.mean(ours_pred == y))
    rows = [
        ("fp32 (ORT)", acc_fp, a.model),
        ("ORT quantize_static int8 (ORT)", acc_theirs, theirs),
        ("edgeopt PTQ int8 (ORT)", acc_ours_ort, ours),
        ("edgeopt PTQ int8 (edgeopt)", acc_ours, ours),
    ]
    print(f"\nFashion-MNIST test (10,000 images), calibration {a.calib} on {len(x_calib)} training samples, "
          f"per_channel={a.per_channel}")
    print(f"{'model (runtime)':34s} {'accuracy':>9s} {'drop':>7s} {'size':>10s}")
    for name, acc, path in rows:
        print(f"{name:34s} {acc:8.2f}% {acc_fp - acc:+7.2f} {os.path.getsize(path):10d}")
    agree = 100.0 * float(np.mean(ours_pred == ours_ort_pred))
    print(f"edgeopt vs ORT on our QDQ model: predictions agree on {agree:.2f}% of images, "
          f"accuracy differs by {abs(acc_ours - acc_ours_ort):.2f} points")
    if a.json:
        json.dump({"calib": a.calib, "per_channel": a.per_channel, "calib_samples": len(x_calib),
                   "fp32": acc_fp, "ort_quantize_static": acc_theirs, "edgeopt_ptq_in_ort": acc_ours_ort,
                   "edgeopt_ptq_in_edgeopt": acc_ours, "agreement_pct": agree,
                   "sizes": {n: os.path.getsize(p) for n, _, p in rows}}, open(a.json, "w"), indent=2)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Peer check of the int8 path: QDQ models written by onnxruntime.quantization.quantize_static run
through `edgeopt run` (which fuses them into QLinearConv/QLinearMatMul/QLinearAdd) and through ONNX
Runtime twice: optimized (ORT's own int8 kernels) and with graph optimizations off (the QDQ graph as
written: DequantizeLinear -> f32 op -> QuantizeLinear, the reference semantics). The outputs must
agree within `--steps` quantization steps of the output's scale.

  /usr/bin/python3 int8_qdq_vs_ort.py EDGEOPT_BIN [--steps 1] [--work DIR]

Models: a small residual CNN exported by PyTorch (Conv+BN+ReLU, depthwise Conv, ReLU6, residual
Add, MaxPool, GlobalAveragePool, Linear), quantized with u8 and with s8 activations (per-channel
s8 weights), and the cached `vision_cnn` (~/.cache/edgeopt-bench-models/vision_cnn.onnx) if present.
ONNX Runtime comes from the bench venv (~/.cache/edgeopt-bench-venv); exits 77 (CTest skip)
without it.
"""
import argparse
import os
import subprocess
import sys
import tempfile

VENV_PY = os.path.expanduser("~/.cache/edgeopt-bench-venv/bin/python")
SKIP = 77


def ensure_onnxruntime():
    try:
        import onnxruntime  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("EDGEOPT_INT8_PEER_IN_VENV") or not os.path.exists(VENV_PY):
        print("SKIP: onnxruntime is not importable (no %s)" % VENV_PY)
        sys.exit(SKIP)
    env = dict(os.environ, EDGEOPT_INT8_PEER_IN_VENV="1")
    sys.exit(subprocess.run([VENV_PY] + sys.argv, env=env).returncode)


def small_cnn(path):
    import torch

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = torch.nn.Sequential(torch.nn.Conv2d(3, 16, 3, padding=1), torch.nn.BatchNorm2d(16),
                                            torch.nn.ReLU())
            self.dw = torch.nn.Sequential(torch.nn.Conv2d(16, 16, 3, padding=1, groups=16), torch.nn.ReLU6())
            self.pw = torch.nn.Conv2d(16, 16, 1)
            self.pool = torch.nn.MaxPool2d(2)
            self.down = torch.nn.Conv2d(16, 24, 3, stride=2, padding=1)
            self.fc = torch.nn.Linear(24, 10)

        def forward(self, x):
            h = self.stem(x)
            h = torch.relu(h + self.pw(self.dw(h)))
            h = self.down(self.pool(h))
            return self.fc(torch.flatten(torch.nn.functional.adaptive_avg_pool2d(h, 1), 1))

    torch.manual_seed(0)
    net = Net().eval()
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    torch.onnx.export(net, torch.randn(1, 3, 20, 20), path, opset_version=13, input_names=["x"],
                      output_names=["y"])


def quantize(src, dst, activation_type, work):
    import numpy as np
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    inp = onnx.load(src).graph.input[0]
    shape = [d.dim_value if d.dim_value > 0 else 1 for d in inp.type.tensor_type.shape.dim]

    class Reader(CalibrationDataReader):
        def __init__(self):
            rng = np.random.default_rng(1)
            self.data = [{inp.name: rng.standard_normal(shape).astype(np.float32)} for _ in range(8)]

        def get_next(self):
            return self.data.pop() if self.data else None

    pre = os.path.join(work, os.path.basename(dst) + ".pre.onnx")
    quant_pre_process(src, pre, skip_symbolic_shape=True)
    from onnxruntime.quantization import QuantType
    quantize_static(pre, dst, Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=activation_type, weight_type=QuantType.QInt8)
    return inp.name, shape


def output_step(model_path):
    """The scale of the QuantizeLinear that produces each graph output's DequantizeLinear input."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(model_path).graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    producer = {o: n for n in g.node for o in n.output}
    steps = {}
    for out in g.output:
        n = producer.get(out.name)
        if n is not None and n.op_type == "DequantizeLinear" and n.input[1] in inits:
            steps[out.name] = float(inits[n.input[1]].max())
    return steps


def compare(a, work, name, path, in_name, shape, level, label):
    """Runs 3 random inputs through ORT (at `level`) and `edgeopt run`; returns 1 on failure."""
    import numpy as np
    import onnxruntime as ort

    steps = output_step(path)
    so = ort.SessionOptions()
    so.graph_optimization_level = level
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(5)
    worst = 0.0
    for trial in range(3):
        x = rng.standard_normal(shape).astype(np.float32)
        ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {in_name: x})))
        xin = os.path.join(work, "%s_x%d.npy" % (name, trial))
        np.save(xin, x)
        out_dir = os.path.join(work, "%s_out%d" % (name, trial))
        r = subprocess.run([a.edgeopt, "run", path, "--input", "%s=%s" % (in_name, xin), "--output-dir", out_dir],
                           capture_output=True, text=True)
        if r.returncode != 0:
            print("FAIL %s: edgeopt run: %s" % (name, (r.stderr or r.stdout).strip()[-800:]))
            return 1
        for out, o in ref.items():
            if out not in steps:
                print("FAIL %s: output %s is not a DequantizeLinear output" % (name, out))
                return 1
            e = np.load(os.path.join(out_dir, out + ".npy"))
            worst = max(worst, float(np.max(np.abs(e.astype(np.float64) - o.astype(np.float64)))) / steps[out])
    ok = worst <= a.steps + 1e-3  # f32 dequantized values carry ~1e-7 relative rounding
    print("%s %-16s max |edgeopt - %s| = %.2f output steps (limit %.2f)" % ("ok  " if ok else "FAIL", name, label,
                                                                             worst, a.steps))
    return 0 if ok else 1


def main():
    ensure_onnxruntime()
    import numpy as np
    import onnxruntime as ort
    from onnxruntime.quantization import QuantType

    ap = argparse.ArgumentParser()
    ap.add_argument("edgeopt")
    ap.add_argument("--steps", type=float, default=1.0, help="allowed |edgeopt - ORT| in output quantization steps")
    ap.add_argument("--work", default=None)
    a = ap.parse_args()
    work = a.work or tempfile.mkdtemp(prefix="edgeopt_int8_peer_")
    os.makedirs(work, exist_ok=True)

    models = []
    fp32 = os.path.join(work, "small_cnn.onnx")
    small_cnn(fp32)
    for name, at in (("small_cnn_u8", QuantType.QUInt8), ("small_cnn_s8", QuantType.QInt8)):
        dst = os.path.join(work, name + ".onnx")
        models.append((name, dst) + quantize(fp32, dst, at, work))
    cached = os.path.expanduser("~/.cache/edgeopt-bench-models/vision_cnn.onnx")
    if os.path.exists(cached):
        dst = os.path.join(work, "vision_cnn_u8.onnx")
        models.append(("vision_cnn_u8", dst) + quantize(cached, dst, QuantType.QUInt8, work))

    failed = 0
    # ORT with its optimizations runs the model in int8 (its own QDQ fusions); with none it executes
    # the graph as written, DequantizeLinear -> f32 op -> QuantizeLinear: the QDQ reference semantics.
    for name, path, in_name, shape in models:
        for level, label in ((ort.GraphOptimizationLevel.ORT_ENABLE_ALL, "ORT int8"),
                             (ort.GraphOptimizationLevel.ORT_DISABLE_ALL, "ORT QDQ as written")):
            failed += compare(a, work, name, path, in_name, shape, level, label)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Models that nobody on edgeopt wrote, as ONNX files for the peer comparison (compare_ort.py).

Two sources:
  * PyTorch: torchvision's mobilenet_v2 and resnet18, a 2-layer LSTM and a GRU forecaster, a small
    MLP, exported by torch.onnx.export (opset 13, dynamic batch). Weights are a seeded random init
    (torchvision's pretrained weights need the network); BatchNorm running statistics are randomized
    too so eval-mode BN is not an identity.
  * ONNX's own "light" model-zoo models (resnet50, squeezenet, shufflenet, inception, densenet, ...),
    shipped in the onnx wheel under onnx/backend/test/data/light/. Their weights were replaced by
    ConstantOfShape nodes (one value everywhere, so every class scores the same); we swap each for a
    seeded random initializer of the same shape, scaled by its role (He init for conv/gemm weights,
    positive variances and scales for BatchNorm), so the real topology produces non-trivial outputs.

Usage:
  /usr/bin/python3 export_models.py OUT_DIR [--only NAME,...] [--light-wheel WHEEL]
writes OUT_DIR/NAME.onnx and OUT_DIR/manifest.json: {NAME: {"path", "inputs": {name: shape}, "source"}}.
"""
import argparse
import inspect
import json
import os
import sys
import zipfile

import numpy as np

OPSET = 13
IMAGE_SIZE = 224  # what the torchvision architectures are designed for


# ---------------------------------------------------------------------------------------------------
# PyTorch models


def _randomize_bn_stats(model, gen):
    import torch

    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            c = m.num_features
            with torch.no_grad():
                m.running_mean.copy_(torch.rand(c, generator=gen) * 0.2 - 0.1)
                m.running_var.copy_(torch.rand(c, generator=gen) + 0.5)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(c, generator=gen) * 0.2 - 0.1)


def _torch_models():
    """name -> (builder, {input name: (example shape, batch axis)})."""
    from torch import nn

    class Forecaster(nn.Module):
        """nn.LSTM / nn.GRU (2 layers, batch first) + a Linear head on the last time step.

        Without initial states the exporter makes zero states with ConstantOfShape; the *_h0 variants
        take them as inputs (what a streaming forecaster does) and so test the recurrent op alone.
        """

        def __init__(self, cell, features=6, hidden=32, outputs=3):
            super().__init__()
            self.rnn = cell(features, hidden, num_layers=2, batch_first=True)
            self.head = nn.Linear(hidden, outputs)

        def forward(self, x, h0=None, c0=None):
            if h0 is None:
                y, _ = self.rnn(x)
            else:
                y, _ = self.rnn(x, (h0, c0) if c0 is not None else h0)
            return self.head(y[:, -1, :])

    def mlp():
        return nn.Sequential(nn.Linear(20, 64), nn.ReLU(), nn.Linear(64, 32), nn.Tanh(), nn.Linear(32, 4),
                             nn.Softmax(dim=1))

    def vision(name):
        import torchvision

        def build():
            return getattr(torchvision.models, name)(weights=None)

        return build

    image = {"input": ([1, 3, IMAGE_SIZE, IMAGE_SIZE], 0)}
    seq = {"input": ([2, 24, 6], 0)}
    state = ([2, 2, 32], 1)  # [layers, N, hidden]
    return {
        "torch_mobilenet_v2": (vision("mobilenet_v2"), image),
        "torch_resnet18": (vision("resnet18"), image),
        "torch_lstm": (lambda: Forecaster(nn.LSTM), seq),
        "torch_gru": (lambda: Forecaster(nn.GRU), seq),
        "torch_lstm_h0": (lambda: Forecaster(nn.LSTM), dict(seq, h0=state, c0=state)),
        "torch_gru_h0": (lambda: Forecaster(nn.GRU), dict(seq, h0=state)),
        "torch_mlp": (mlp, {"input": ([2, 20], 0)}),
    }


def export_torch(out_dir, only=None, seed=0):
    import torch

    made = {}
    for i, (name, (build, inputs)) in enumerate(_torch_models().items()):
        if only and name not in only:
            continue
        torch.manual_seed(seed + i)
        model = build()
        gen = torch.Generator().manual_seed(seed + 100 + i)
        _randomize_bn_stats(model, gen)
        model.eval()
        args = tuple(torch.randn(*shape, generator=gen) for shape, _ in inputs.values())
        axes = {k: {axis: "N"} for k, (_, axis) in inputs.items()}
        axes["output"] = {0: "N"}
        path = os.path.join(out_dir, name + ".onnx")
        # Newer torch (2.9+) defaults to the dynamo exporter; keep the TorchScript one everywhere so
        # every machine exports the same graph (opset 13, dynamic batch).
        extra = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters else {}
        torch.onnx.export(model, args, path, opset_version=OPSET, input_names=list(inputs), output_names=["output"],
                          dynamic_axes=axes, do_constant_folding=True, **extra)
        made[name] = {"path": path, "inputs": {k: shape for k, (shape, _) in inputs.items()},
                      "source": "torch %s, torch.onnx.export opset %d" % (torch.__version__, OPSET)}
    return made


# ---------------------------------------------------------------------------------------------------
# ONNX "light" model-zoo models


def _role_values(rng, shape, consumer, index, name):
    """Random values for a weight by the op that consumes it (He init keeps activations O(1))."""
    n = int(np.prod(shape)) if len(shape) else 1
    lname = name.lower()
    if consumer in ("Conv", "Gemm", "MatMul") and index == 1 and len(shape) >= 2:
        fan_in = int(np.prod(shape[1:])) if consumer == "Conv" else int(shape[1] if consumer == "Gemm" else shape[0])
        return rng.standard_normal(shape).astype(np.float32) * np.float32(np.sqrt(2.0 / max(fan_in, 1)))
    if consumer == "BatchNormalization" and index in (1, 4):  # scale, variance: positive
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    if consumer == "Mul" or "scale" in lname or lname.endswith("_s_0"):
        return rng.uniform(0.5, 1.5, shape).astype(np.float32)
    return rng.uniform(-0.1, 0.1, shape).astype(np.float32) if n else np.zeros(shape, np.float32)


def randomize_light(model, seed):
    """Replaces each ConstantOfShape weight by a seeded random initializer of the same shape."""
    import onnx
    from onnx import numpy_helper

    g = model.graph
    inits = {t.name: t for t in g.initializer}
    consumers = {}
    for n in g.node:
        for i, x in enumerate(n.input):
            consumers.setdefault(x, []).append((n, i))

    def first_consumer(x, depth=0):
        # Follow shape-only ops (Unsqueeze, Reshape) to the op that uses the value.
        for n, i in consumers.get(x, []):
            if n.op_type in ("Unsqueeze", "Reshape", "Identity") and i == 0 and depth < 3:
                return first_consumer(n.output[0], depth + 1)
            return n.op_type, i
        return "", 0

    rng = np.random.default_rng(seed)
    keep, dropped_shapes = [], set()
    for n in g.node:
        if n.op_type != "ConstantOfShape" or n.input[0] not in inits:
            keep.append(n)
            continue
        shape = [int(d) for d in numpy_helper.to_array(inits[n.input[0]])]
        op, idx = first_consumer(n.output[0])
        arr = _role_values(rng, shape, op, idx, n.output[0])
        g.initializer.append(numpy_helper.from_array(arr, n.output[0]))
        dropped_shapes.add(n.input[0])
    del g.node[:]
    g.node.extend(keep)
    still_used = {x for n in g.node for x in n.input}
    rest = [t for t in g.initializer if t.name not in dropped_shapes or t.name in still_used]
    del g.initializer[:]
    g.initializer.extend(rest)
    # Initializers listed as graph inputs (IR < 4 style) would be overridable inputs; keep only the data.
    kept_names = {t.name for t in rest}
    inputs = [x for x in g.input if x.name not in kept_names and x.name not in dropped_shapes]
    del g.input[:]
    g.input.extend(inputs)
    # IR < 4 wants every initializer listed as a graph input; IR 4 (ONNX 1.3, opset <= 9) does not.
    model.ir_version = max(model.ir_version, 4)
    # The zoo models end in Softmax, which saturates on random weights (a one-hot hides any error):
    # expose its input, the logits, as a second output.
    last = g.node[-1]
    if last.op_type == "Softmax" and last.output[0] in {o.name for o in g.output}:
        inferred = onnx.shape_inference.infer_shapes(model).graph.value_info
        vi = [v for v in inferred if v.name == last.input[0]]
        g.output.append(vi[0] if vi else onnx.helper.make_tensor_value_info(last.input[0], onnx.TensorProto.FLOAT, []))
    onnx.checker.check_model(model)
    return model


# Ordered by cost; alexnet, zfnet512 and vgg19 hold 60-140 M parameters (0.25-0.6 GB files).
LIGHT_MODELS = ["light_squeezenet", "light_shufflenet", "light_inception_v1", "light_resnet50", "light_inception_v2",
                "light_densenet121", "light_bvlc_alexnet", "light_zfnet512", "light_vgg19"]


def export_light(out_dir, wheel, only=None, seed=0):
    import onnx

    made = {}
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        for i, name in enumerate(LIGHT_MODELS):
            if only and name not in only:
                continue
            member = "onnx/backend/test/data/light/%s.onnx" % name
            if member not in names:
                print("note: %s is not in %s" % (member, os.path.basename(wheel)), file=sys.stderr)
                continue
            model = randomize_light(onnx.load_from_string(z.read(member)), seed + i)
            path = os.path.join(out_dir, name + ".onnx")
            onnx.save(model, path)
            init = {t.name for t in model.graph.initializer}
            inputs = {x.name: [d.dim_value for d in x.type.tensor_type.shape.dim]
                      for x in model.graph.input if x.name not in init}
            made[name] = {"path": path, "inputs": inputs,
                          "source": "%s from %s, opset %d, random weights"
                          % (name, os.path.basename(wheel), model.opset_import[0].version)}
    return made


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out_dir")
    ap.add_argument("--only", default="", help="comma-separated model names")
    ap.add_argument("--light-wheel", default="", help="an onnx wheel (.whl) holding backend/test/data/light")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    only = set(filter(None, a.only.split(",")))
    made = {}
    try:
        made.update(export_torch(a.out_dir, only, a.seed))
    except ImportError as e:
        print("note: no PyTorch models (%s); install python3-torch python3-torchvision" % e, file=sys.stderr)
    if a.light_wheel:
        made.update(export_light(a.out_dir, a.light_wheel, only, a.seed))
    with open(os.path.join(a.out_dir, "manifest.json"), "w") as f:
        json.dump(made, f, indent=2)
    for k, v in made.items():
        print("%-22s %s" % (k, v["source"]))


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""Writes the small seed models of tests/fuzz/corpus/onnx_load/ (kept under 50 KB in total).

Each seed exercises a different loader path: typed fields, raw data, attributes of every kind,
symbolic dims, an old opset (version converter), a subgraph, external data, quantized ops.
Usage: /usr/bin/python3 tests/fuzz/make_seed_corpus.py [OUT_DIR]
"""
import os
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "corpus", "onnx_load")
os.makedirs(OUT, exist_ok=True)
F = TensorProto.FLOAT


def vi(name, shape, t=F):
    return helper.make_tensor_value_info(name, t, shape)


def save(name, nodes, inputs, outputs, inits=(), opset=13, check=True):
    m = helper.make_model(helper.make_graph(nodes, name, inputs, outputs, list(inits)),
                          opset_imports=[helper.make_opsetid("", opset)])
    if check:
        onnx.checker.check_model(m)
    with open(os.path.join(OUT, name + ".onnx"), "wb") as f:
        f.write(m.SerializeToString())


rng = np.random.default_rng(0)
save("relu_add", [helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "b"], ["y"])],
     [vi("x", [2, 3])], [vi("y", [2, 3])], [numpy_helper.from_array(np.ones(3, np.float32), "b")])
w = helper.make_tensor("w", F, [2, 1, 3, 3], rng.standard_normal(18).astype(np.float32).tolist())  # float_data
save("conv", [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], strides=[1, 1], group=1)],
     [vi("x", ["N", 1, 4, 4])], [vi("y", ["N", 2, 4, 4])], [w])
save("gemm", [helper.make_node("Gemm", ["a", "b", "c"], ["y"], alpha=0.5, beta=2.0, transB=1)],
     [vi("a", [2, 4])], [vi("y", [2, 3])],
     [numpy_helper.from_array(np.ones((3, 4), np.float32), "b"),
      helper.make_tensor("c", TensorProto.DOUBLE, [3], [1.0, 2.0, 3.0])], check=False)
save("reshape_gather", [helper.make_node("Reshape", ["x", "s"], ["r"]),
                        helper.make_node("Gather", ["r", "i"], ["y"], axis=1)],
     [vi("x", [2, 6])], [vi("y", [3, 2])],
     [helper.make_tensor("s", TensorProto.INT64, [2], [3, 4]), helper.make_tensor("i", TensorProto.INT32, [2], [0, 3])])
save("old_opset", [helper.make_node("Relu", ["x"], ["y"])], [vi("x", [4])], [vi("y", [4])], opset=6)
save("quant", [helper.make_node("QuantizeLinear", ["x", "s", "z"], ["q"]),
               helper.make_node("DequantizeLinear", ["q", "s", "z"], ["y"])],
     [vi("x", [4])], [vi("y", [4])],
     [helper.make_tensor("s", F, [], [0.1]), helper.make_tensor("z", TensorProto.UINT8, [], [128])])
then_g = helper.make_graph([helper.make_node("Constant", [], ["k"], value=helper.make_tensor("v", F, [1], [1.0]))],
                           "then", [], [vi("k", [1])])
save("if_subgraph", [helper.make_node("If", ["c"], ["y"], then_branch=then_g, else_branch=then_g)],
     [vi("c", [], TensorProto.BOOL)], [vi("y", [1])])
ext = helper.make_tensor("b", F, [3], [0.0, 0.0, 0.0])
ext.ClearField("float_data")
ext.data_location = TensorProto.EXTERNAL
for k, v in (("location", "weights.bin"), ("offset", "0"), ("length", "12")):
    e = ext.external_data.add()
    e.key, e.value = k, v
save("external", [helper.make_node("Add", ["x", "b"], ["y"])], [vi("x", [3])], [vi("y", [3])], [ext], check=False)
save("lstm", [helper.make_node("LSTM", ["x", "W", "R"], ["y"], hidden_size=2)],
     [vi("x", [1, 1, 2])], [vi("y", [1, 1, 1, 2])],
     [numpy_helper.from_array(rng.standard_normal((1, 8, 2)).astype(np.float32), "W"),
      numpy_helper.from_array(rng.standard_normal((1, 8, 2)).astype(np.float32), "R")])
save("resize_attrs", [helper.make_node("Resize", ["x", "", "sc"], ["y"], mode="nearest",
                                       coordinate_transformation_mode="asymmetric")],
     [vi("x", [1, 1, 2, 2])], [vi("y", [1, 1, 4, 4])], [helper.make_tensor("sc", F, [4], [1, 1, 2, 2])])
print(f"{sum(os.path.getsize(os.path.join(OUT, f)) for f in os.listdir(OUT))} bytes in {OUT}")

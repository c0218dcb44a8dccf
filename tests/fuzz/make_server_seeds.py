#!/usr/bin/env python3
"""Writes the seed corpora of the server-side fuzz targets (deterministic; rerun after a format change):
oip_json_parse, oip_binary_parse, grpc_infer_decode, model_config_parse, recipe_parse.
Seeds are typical valid requests/files of every datatype plus the usual bad ones."""
import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def out(target, name, data):
    d = os.path.join(HERE, "corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


PACK = {"FP32": "f", "INT64": "q", "INT32": "i", "INT8": "b", "UINT8": "B", "BOOL": "?", "FP16": "e"}
VALUES = {"FP32": [0.5, -1.25, 3.0, 1e-3], "INT64": [1, -2, 3, 2**40], "INT32": [7, -8, 9, 10], "INT8": [-128, 0, 1, 127],
          "UINT8": [0, 1, 254, 255], "BOOL": [True, False, True, True], "FP16": [0.5, -2.0, 1.0, 65504.0]}


def oip_json_seeds():
    for dt, vals in VALUES.items():
        req = {"id": "r-" + dt, "inputs": [{"name": "x", "datatype": dt, "shape": [1, 4], "data": vals}],
               "outputs": [{"name": "y", "parameters": {"binary_data": dt == "FP32"}}]}
        out("oip_json_parse", "typed_%s.json" % dt.lower(), json.dumps(req))
    out("oip_json_parse", "nested.json", json.dumps({"inputs": [{"name": "x", "datatype": "FP32", "shape": [2, 2],
                                                                   "data": [[1, 2], [3, 4]]}],
                                                     "parameters": {"timeout": 500000, "binary_data_output": True}}))
    out("oip_json_parse", "two_inputs.json", json.dumps({"inputs": [
        {"name": "a", "datatype": "FP32", "shape": [0], "data": []},
        {"name": "b", "datatype": "INT64", "shape": [3], "data": [1, 2, 3]}]}))
    out("oip_json_parse", "bad_count.json", '{"inputs":[{"name":"x","datatype":"FP32","shape":[100000000],"data":[1]}]}')
    out("oip_json_parse", "bad_type.json", '{"inputs":[{"name":"x","datatype":"STRING","shape":[1],"data":["a"]}]}')
    out("oip_json_parse", "truncated.json", '{"inputs":[{"name":"x","datatype":"FP32","shape":[1],"da')


def binary_body(inputs, outputs=("y",)):
    header = {"inputs": [], "outputs": [{"name": o, "parameters": {"binary_data": True}} for o in outputs]}
    blob = b""
    for name, dt, shape, vals in inputs:
        raw = struct.pack("<%d%s" % (len(vals), PACK[dt]), *vals)
        header["inputs"].append({"name": name, "datatype": dt, "shape": shape, "parameters": {"binary_data_size": len(raw)}})
        blob += raw
    h = json.dumps(header).encode()
    return struct.pack("<I", len(h)) + h + blob


def oip_binary_seeds():
    for dt, vals in VALUES.items():
        out("oip_binary_parse", "binary_%s" % dt.lower(), binary_body([("x", dt, [1, 4], vals)]))
    out("oip_binary_parse", "two_inputs", binary_body([("a", "FP32", [2], [1.0, 2.0]), ("b", "UINT8", [3], [1, 2, 3])]))
    # A cloud's answer (outputs with binary_data_size), as the offload client decodes it.
    raw = struct.pack("<4f", 0.1, 0.2, 0.3, 0.4)
    h = json.dumps({"model_name": "m", "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 4],
                                                     "parameters": {"binary_data_size": 16}}]}).encode()
    out("oip_binary_parse", "response", struct.pack("<I", len(h)) + h + raw)
    out("oip_binary_parse", "json_only", struct.pack("<I", 0) + json.dumps(
        {"inputs": [{"name": "x", "datatype": "INT32", "shape": [2], "data": [1, 2]}]}).encode())
    out("oip_binary_parse", "size_past_end", binary_body([("x", "FP32", [1, 4], VALUES["FP32"])])[:-3])


def varint(n):
    n &= (1 << 64) - 1
    b = b""
    while True:
        c = n & 0x7F
        n >>= 7
        if n:
            b += bytes([c | 0x80])
        else:
            return b + bytes([c])


def field(num, wire, payload):
    key = varint((num << 3) | wire)
    if wire == 2:
        return key + varint(len(payload)) + payload
    return key + payload


def s(num, text):
    return field(num, 2, text.encode() if isinstance(text, str) else text)


def packed(num, vals, fmt=None):
    body = b"".join(struct.pack("<" + fmt, v) for v in vals) if fmt else b"".join(varint(v) for v in vals)
    return field(num, 2, body)


CONTENTS = {"BOOL": (1, None), "INT32": (2, None), "INT8": (2, None), "INT64": (3, None), "UINT8": (4, None),
            "FP32": (6, "f")}


def grpc_seeds():
    param_timeout = s(4, s(1, "timeout") + field(2, 2, field(2, 0, varint(500000))))
    for dt, (num, fmt) in CONTENTS.items():
        vals = [int(v) for v in VALUES[dt]] if fmt is None else VALUES[dt]
        tensor = s(1, "x") + s(2, dt) + packed(3, [1, 4]) + field(5, 2, packed(num, vals, fmt))
        msg = s(1, "affine") + s(3, "req-1") + field(5, 2, tensor) + field(6, 2, s(1, "y"))
        out("grpc_infer_decode", "typed_%s.pb" % dt.lower(), msg)
    for dt, vals in VALUES.items():
        tensor = s(1, "x") + s(2, dt) + packed(3, [2, 2])
        raw = struct.pack("<%d%s" % (len(vals), PACK[dt]), *vals)
        out("grpc_infer_decode", "raw_%s.pb" % dt.lower(), s(1, "affine") + field(5, 2, tensor) + s(7, raw) + param_timeout)
    huge = s(1, "x") + s(2, "FP32") + packed(3, [1 << 40, 1 << 40])
    out("grpc_infer_decode", "huge_shape.pb", s(1, "m") + field(5, 2, huge))
    out("grpc_infer_decode", "count_mismatch.pb", s(1, "m") + field(5, 2, s(1, "x") + s(2, "FP32") + packed(3, [3]) +
                                                                   field(5, 2, packed(6, [1.0], "f"))))


def config_seeds():
    out("model_config_parse", "triton_full.pbtxt", '''name: "vision_cnn"
platform: "onnxruntime_onnx"
max_batch_size: 16
input [ { name: "x" data_type: TYPE_FP32 format: FORMAT_NCHW dims: [ 4 ] } ]
output [ { name: "y" data_type: TYPE_FP32 dims: [ 3 ] label_filename: "labels.txt" } ]
dynamic_batching { max_queue_delay_microseconds: 500 preferred_batch_size: [ 4, 8 ] }
version_policy: { specific: { versions: [ 1, 3 ] } }
instance_group [ { count: 2 kind: KIND_CPU } ]
optimization { execution_accelerators { cpu_execution_accelerator : [ { name : "openvino" } ] } }
model_warmup [ { name: "w" batch_size: 1 } ]
default_model_filename: "model.onnx"
''')
    out("model_config_parse", "minimal.pbtxt", 'backend: "onnxruntime"\n')
    out("model_config_parse", "no_batch.pbtxt", 'max_batch_size: 0\ninput [{name: "x" data_type: TYPE_FP32 dims: [-1, 4]}]\n'
                                                 'version_policy { latest { num_versions: 2 } }\n')
    out("model_config_parse", "all_policy.pbtxt", 'version_policy { all {} }\ninstance_group [{kind: KIND_GPU count: 1}]\n')
    out("model_config_parse", "bad_type.pbtxt", 'input [{name: "x" data_type: TYPE_STRING dims: [1]}]\n')
    out("model_config_parse", "syntax.pbtxt", 'input [{name: "x" data_type: \n')


def recipe_seeds():
    out("recipe_parse", "ok.yaml", '''candidates:
  - name: int8
    steps:
      - quantize: {dtype: int8, method: ptq, calib: percentile, per_channel: true}
  - name: pruned
    steps:
      - prune: {flops_ratio: 0.5}
      - fine_tune: {epochs: 2, distill: true}
      - quantize: {dtype: fp16}
''')
    out("recipe_parse", "steps.json", json.dumps({"steps": [{"prune": {"flops_ratio": 0.7}}, {"quantize": {"dtype": "int8"}}]}))
    out("recipe_parse", "bad_field.yaml", "steps:\n  - prune: {flops_ratio: 0.5, ratio: 2}\n")
    out("recipe_parse", "bad_value.yaml", "steps:\n  - fine_tune: {epochs: 1}\n  - quantize: {dtype: int4}\n")
    out("recipe_parse", "anchors.yaml", "base: &b {dtype: int8}\nsteps:\n  - quantize: *b\n")
    out("recipe_parse", "syntax.yaml", "steps: [\n  - prune: {\n")


if __name__ == "__main__":
    oip_json_seeds()
    oip_binary_seeds()
    grpc_seeds()
    config_seeds()
    recipe_seeds()
    sys.exit(0)

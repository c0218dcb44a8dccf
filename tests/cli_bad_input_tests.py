#!/usr/bin/python3
"""CLI behaviour on bad input: every failure is exit code 1 and exactly one `edgeopt: error:` line
on stderr (usage errors: exit 2), never a crash. Also checks the happy paths of `inspect --json`
and `run` so the error checks cannot pass on a binary that always fails.

Usage: /usr/bin/python3 tests/cli_bad_input_tests.py --edgeopt build/src/cli/edgeopt
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

FAILURES = []


def check(cond, what):
    if not cond:
        FAILURES.append(what)
        print(f"FAIL: {what}")
    else:
        print(f"ok:   {what}")


def run(edgeopt, *args):
    return subprocess.run([edgeopt, *args], capture_output=True, text=True, timeout=120)


def expect_error(edgeopt, label, args, needles=(), code=1):
    p = run(edgeopt, *args)
    lines = [l for l in p.stderr.splitlines() if l.strip()]
    check(p.returncode >= 0, f"{label}: no signal (got {p.returncode})")
    check(p.returncode == code, f"{label}: exit code {code} (got {p.returncode}; stderr {p.stderr!r})")
    if code == 1:
        check(len(lines) == 1 and lines[0].startswith("edgeopt: error: "),
              f"{label}: one 'edgeopt: error:' line (got {lines!r})")
    for n in needles:
        check(n in p.stderr, f"{label}: message mentions {n!r} (got {p.stderr.strip()!r})")


def save(model, path):
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def models(tmp):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])
    b = numpy_helper.from_array(np.array([1, -2, 0.5], np.float32), "b")
    g = helper.make_graph([helper.make_node("Relu", ["x"], ["r"], name="relu"),
                           helper.make_node("Add", ["r", "b"], ["y"], name="add")], "g", [x], [y], [b])
    good = save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(tmp, "good.onnx"))

    x2 = helper.make_tensor_value_info("x2", TensorProto.FLOAT, [2, 3])
    g2 = helper.make_graph([helper.make_node("Add", ["x", "x2"], ["y"], name="add")], "g2", [x, x2], [y])
    two = save(helper.make_model(g2, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(tmp, "two.onnx"))

    nodes = [helper.make_node("Hardmax", ["x"], ["a"], name="hm"),
             helper.make_node("Relu", ["a"], ["c"], name="fine"),
             helper.make_node("Cos", ["c"], ["d"], name="cos_node"),
             helper.make_node("Sin", ["d"], ["y"], name="sine")]
    g3 = helper.make_graph(nodes, "g3", [x], [y])
    unknown = save(helper.make_model(g3, opset_imports=[helper.make_opsetid("", 13)]),
                   os.path.join(tmp, "unknown.onnx"))
    xd = helper.make_tensor_value_info("x", TensorProto.DOUBLE, [2, 3])
    yd = helper.make_tensor_value_info("y", TensorProto.DOUBLE, [2, 3])
    g4 = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g4", [xd], [yd])
    f64 = save(helper.make_model(g4, opset_imports=[helper.make_opsetid("", 13)]), os.path.join(tmp, "f64.onnx"))
    return good, two, unknown, f64


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeopt", required=True)
    edgeopt = ap.parse_args().edgeopt
    with tempfile.TemporaryDirectory(prefix="edgeopt_cli_") as tmp:
        good, two, unknown, f64_model = models(tmp)
        out = os.path.join(tmp, "out")
        x_ok = os.path.join(tmp, "x.npy")
        np.save(x_ok, np.arange(6, dtype=np.float32).reshape(2, 3) - 2)
        x_shape = os.path.join(tmp, "x_shape.npy")
        np.save(x_shape, np.zeros((3, 2), np.float32))
        x_dtype = os.path.join(tmp, "x_dtype.npy")
        np.save(x_dtype, np.zeros((2, 3), np.int32))
        x_f64 = os.path.join(tmp, "x_f64.npy")
        np.save(x_f64, np.ones((2, 3), np.float64))
        bad_npy = os.path.join(tmp, "bad.npy")
        with open(bad_npy, "wb") as f:
            f.write(b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'shape': (2,}")
        x_pb = os.path.join(tmp, "x.pb")
        with open(x_pb, "wb") as f:
            f.write(numpy_helper.from_array(np.ones((2, 3), np.float32), "x").SerializeToString())

        data = open(good, "rb").read()
        truncated = os.path.join(tmp, "truncated.onnx")
        open(truncated, "wb").write(data[: len(data) // 2])
        rnd = os.path.join(tmp, "random.onnx")
        open(rnd, "wb").write(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
        empty = os.path.join(tmp, "empty.onnx")
        open(empty, "wb").close()

        # Happy paths first: the binary works.
        p = run(edgeopt, "inspect", good, "--json")
        check(p.returncode == 0, f"inspect --json succeeds ({p.stderr.strip()})")
        if p.returncode == 0:
            j = json.loads(p.stdout)
            check({"inputs", "outputs", "ops", "parameters", "flops", "nodes", "file_size_bytes"} <= set(j),
                  "inspect --json has the documented keys")
            check(j["parameters"] == 3 and j["ops"] == {"Relu": 1, "Add": 1}, "inspect --json counts")
        p = run(edgeopt, "inspect", good)
        check(p.returncode == 0 and "Relu" in p.stdout, "inspect prints a table")
        p = run(edgeopt, "run", good, "--input", f"x={x_ok}", "--output-dir", out)
        check(p.returncode == 0, f"run succeeds ({p.stderr.strip()})")
        if p.returncode == 0:
            y = np.load(os.path.join(out, "y.npy"))
            want = np.maximum(np.arange(6, dtype=np.float32).reshape(2, 3) - 2, 0) + np.array([1, -2, 0.5], np.float32)
            check(np.array_equal(y, want), "run writes the right output")
        p = run(edgeopt, "run", good, "--input", x_pb, "-o", out, "--profile")
        check(p.returncode == 0, f"run with a bare .pb FILE for a single-input model ({p.stderr.strip()})")
        p = run(edgeopt, "--help")
        check(p.returncode == 0 and "Example" in p.stdout, "--help shows examples")
        p = run(edgeopt, "run", "--help")
        check(p.returncode == 0 and "Example" in p.stdout, "run --help shows an example")

        # Bad models.
        for verb in (["inspect"], ["run"]):
            extra = ["--output-dir", out] if verb == ["run"] else []
            v = verb[0]
            expect_error(edgeopt, f"{v} truncated model", verb + [truncated] + extra, [truncated])
            expect_error(edgeopt, f"{v} random bytes", verb + [rnd] + extra, [rnd])
            expect_error(edgeopt, f"{v} empty file", verb + [empty] + extra, [empty])
            expect_error(edgeopt, f"{v} missing file", verb + [os.path.join(tmp, "nope.onnx")] + extra, ["nope.onnx"])
            expect_error(edgeopt, f"{v} directory as model", verb + [tmp] + extra)
        expect_error(edgeopt, "unknown ops, all named", ["run", unknown, "--input", f"x={x_ok}", "-o", out],
                     ["'hm' (Hardmax)", "'cos_node' (Cos)", "'sine' (Sin)", "3 node(s)", "unknown.onnx"])
        p = run(edgeopt, "inspect", unknown)
        check(p.returncode == 0 and "unsupported" in p.stdout, "inspect lists unsupported nodes without failing")

        # Bad inputs.
        expect_error(edgeopt, "wrong input shape", ["run", good, "--input", f"x={x_shape}", "-o", out], ["'x'", "[3,2]"])
        expect_error(edgeopt, "wrong input dtype", ["run", good, "--input", f"x={x_dtype}", "-o", out], ["'x'", "i32"])
        expect_error(edgeopt, "missing input", ["run", two, "--input", f"x={x_ok}", "-o", out], ["'x2'"])
        expect_error(edgeopt, "no inputs at all", ["run", good, "-o", out], ["'x'"])
        expect_error(edgeopt, "unknown input name", ["run", two, "--input", f"zz={x_ok}", "--input", f"x={x_ok}", "-o", out],
                     ["'zz'"])
        expect_error(edgeopt, "missing input file", ["run", good, "--input", f"x={tmp}/none.npy", "-o", out], ["none.npy"])
        expect_error(edgeopt, "corrupt npy header", ["run", good, "--input", f"x={bad_npy}", "-o", out], ["bad.npy"])
        expect_error(edgeopt, "corrupt .pb input", ["run", good, "--input", f"x={rnd}", "-o", out], ["random.onnx"])
        p = run(edgeopt, "run", good, "--input", f"x={x_f64}", "-o", out)
        check(p.returncode == 0, "f64 .npy data is read as f32")
        expect_error(edgeopt, "f64 graph input", ["run", f64_model, "--input", f"x={x_ok}", "-o", out],
                     ["Unimplemented", "'x'", "DOUBLE"])
        expect_error(edgeopt, "bare FILE with two inputs", ["run", two, "--input", x_ok, "-o", out], ["NAME=FILE"])

        # Usage errors: CLI11's exit code 2.
        expect_error(edgeopt, "no verb", [], code=2)
        expect_error(edgeopt, "unknown verb", ["frobnicate"], code=2)
        expect_error(edgeopt, "run without --output-dir", ["run", good], code=2)
        expect_error(edgeopt, "unknown flag", ["inspect", good, "--bogus"], code=2)

    print(f"\n{len(FAILURES)} failure(s)")
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())

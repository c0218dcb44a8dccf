#!/usr/bin/python3
"""ONNX node conformance: runs ONNX's own per-operator test cases through `edgeopt run`.

For every case directory <data>/test_*/ whose model uses only ops from OPS, runs
    edgeopt run model.onnx --input <name_k>=test_data_set_0/input_k.pb ... --output-dir <tmp>
(input_k.pb feeds the k-th graph input that is not an initializer), then compares each
output_k.pb with <tmp>/<output name>.npy: floats with np.allclose semantics (per-op rtol/atol,
NaN == NaN), integers and bools exactly, shapes and dtypes must match.

Prints a per-op table (a case counts for every listed op it uses), each failing case with its
reason (the CLI's error line or the max error), and exits 1 when fewer than --min-pass-rate of the
cases pass. Cases whose graph inputs/outputs use types edgeopt has no DType for (f64, i16, u16,
u32, u64, sequences, optionals) are skipped and listed. Usage:
    /usr/bin/python3 tests/onnx_node_tests.py --edgeopt build/src/cli/edgeopt \
        [--data /usr/share/libonnx-testdata/data/node] [--filter conv] [--jobs 4]
"""
import argparse
import concurrent.futures
import glob
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import numpy_helper

OPS = """Conv ConvTranspose Gemm MatMul Add Sub Mul Div Relu LeakyRelu Sigmoid Tanh Clip HardSigmoid
HardSwish Softmax LogSoftmax MaxPool AveragePool GlobalAveragePool BatchNormalization Flatten Reshape
Transpose Concat Split Slice Squeeze Unsqueeze Gather Shape Constant Identity Dropout Pad ReduceMean
Resize LSTM GRU QuantizeLinear DequantizeLinear ConstantOfShape Sum LRN Max Min Exp Log Sqrt Neg Abs Pow Erf
ReduceMax ReduceSum""".split()

# Element types edgeopt has a DType for (f32 f16 bf16 i8 u8 i32 i64 bool). Cases whose graph inputs
# or outputs use anything else (f64, i16, u16, u32, u64, string, sequences, optionals) test the
# type system, not the kernels: they are skipped, and listed as skipped, never silently.
SUPPORTED_ELEM_TYPES = {1, 10, 16, 3, 2, 6, 7, 9}
DEFAULT_TOL = (1e-3, 1e-5)  # (rtol, atol)
TOLERANCES = {"LSTM": (1e-4, 1e-5), "GRU": (1e-4, 1e-5)}


def case_ops(model):
    return {n.op_type for n in model.graph.node}


def unsupported_types(model):
    """Why a case is outside edgeopt's type system, or None."""
    inits = {t.name for t in model.graph.initializer}
    for v in list(model.graph.input) + list(model.graph.output):
        if v.name in inits:
            continue
        if not v.type.HasField("tensor_type"):
            return f"'{v.name}' is a {v.type.WhichOneof('value')}, not a tensor"
        if v.type.tensor_type.elem_type not in SUPPORTED_ELEM_TYPES:
            return f"'{v.name}' has element type {onnx.TensorProto.DataType.Name(v.type.tensor_type.elem_type)}"
    return None


def tolerance(ops):
    rtol, atol = DEFAULT_TOL
    for op in ops:
        if op in TOLERANCES:
            rtol, atol = min(rtol, TOLERANCES[op][0]), min(atol, TOLERANCES[op][1])
    return rtol, atol


def safe_name(name):
    s = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    return "_" + s if s in ("", ".", "..") else s


def compare(expected, got, rtol, atol):
    """None when equal enough, else the reason."""
    if expected.shape != got.shape:
        return f"shape {list(got.shape)} != expected {list(expected.shape)}"
    if expected.dtype != got.dtype:
        return f"dtype {got.dtype} != expected {expected.dtype}"
    if expected.size == 0:
        return None
    if np.issubdtype(expected.dtype, np.floating):
        e, g = expected.astype(np.float64), got.astype(np.float64)
        if np.allclose(g, e, rtol=rtol, atol=atol, equal_nan=True):
            return None
        bad = ~np.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
        diff = np.where(bad, np.abs(g - e), 0)
        i = np.unravel_index(np.nanargmax(np.nan_to_num(diff, nan=np.inf)), diff.shape)
        return (f"{int(bad.sum())}/{e.size} elements differ; max |err| {diff[i]:.3g} at {list(i)}: "
                f"got {g[i]:.6g} expected {e[i]:.6g} (rtol {rtol:g} atol {atol:g})")
    if np.array_equal(expected, got):
        return None
    bad = expected != got
    i = np.unravel_index(np.argmax(bad), bad.shape)
    return f"{int(bad.sum())}/{expected.size} elements differ; at {list(i)} got {got[i]} expected {expected[i]}"


def run_case(edgeopt, case_dir, timeout):
    """Returns (ops, None) on success or (ops, reason)."""
    model = onnx.load(os.path.join(case_dir, "model.onnx"))
    ops = case_ops(model)
    inits = {t.name for t in model.graph.initializer}
    inputs = [i.name for i in model.graph.input if i.name not in inits]
    outputs = [o.name for o in model.graph.output]
    data = os.path.join(case_dir, "test_data_set_0")
    with tempfile.TemporaryDirectory(prefix="edgeopt_node_") as tmp:
        cmd = [edgeopt, "run", os.path.join(case_dir, "model.onnx"), "--output-dir", tmp]
        for k, name in enumerate(inputs):
            pb = os.path.join(data, f"input_{k}.pb")
            if os.path.exists(pb):  # omitted optional inputs have no file
                cmd += ["--input", f"{name}={pb}"]
        try:
            p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            return ops, f"timeout after {timeout}s"
        if p.returncode != 0:
            lines = [l for l in p.stderr.splitlines() if l.strip()]
            if p.returncode < 0:
                return ops, f"CRASH (signal {-p.returncode}): " + (lines[-1] if lines else "")
            return ops, (lines[0] if lines else f"exit code {p.returncode}")
        for k, name in enumerate(outputs):
            expected = numpy_helper.to_array(onnx.load_tensor(os.path.join(data, f"output_{k}.pb")))
            path = os.path.join(tmp, safe_name(name) + ".npy")
            if not os.path.exists(path):
                return ops, f"output '{name}' was not written"
            got = np.load(path)
            reason = compare(expected, got, *tolerance(ops))
            if reason:
                return ops, f"output '{name}': {reason}"
    return ops, None


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edgeopt", required=True, help="path to the edgeopt binary")
    ap.add_argument("--data", default="/usr/share/libonnx-testdata/data/node")
    ap.add_argument("--filter", default="", help="only cases whose directory name contains this")
    ap.add_argument("--jobs", type=int, default=max(2, os.cpu_count() or 2))
    ap.add_argument("--timeout", type=int, default=120, help="seconds per case")
    ap.add_argument("--min-pass-rate", type=float, default=0.95)
    ap.add_argument("--ops", default="", help="comma-separated op list to use instead of OPS")
    args = ap.parse_args()

    global OPS
    if args.ops:
        OPS = [o for o in args.ops.replace(",", " ").split() if o]
    wanted = set(OPS)
    cases, skipped = [], []
    for d in sorted(glob.glob(os.path.join(args.data, "test_*"))):
        if args.filter and args.filter not in os.path.basename(d):
            continue
        if not os.path.exists(os.path.join(d, "model.onnx")):
            continue
        model = onnx.load(os.path.join(d, "model.onnx"), load_external_data=False)
        if case_ops(model) <= wanted:
            why = unsupported_types(model)
            if why:
                skipped.append((os.path.basename(d), case_ops(model), why))
            else:
                cases.append(d)
    if not cases:
        print("no matching cases", file=sys.stderr)
        return 1

    results = {}
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.jobs) as pool:
        futures = {pool.submit(run_case, args.edgeopt, d, args.timeout): d for d in cases}
        for f in concurrent.futures.as_completed(futures):
            d = futures[f]
            try:
                results[os.path.basename(d)] = f.result()
            except Exception as e:  # a harness problem is a failure of that case, not of the run
                results[os.path.basename(d)] = (set(), f"harness error: {e!r}")

    per_op = {op: [0, 0, 0] for op in OPS}  # passed, total, skipped
    for ops, reason in results.values():
        for op in ops:
            if op in per_op:
                per_op[op][1] += 1
                per_op[op][0] += reason is None
    for _, ops, _ in skipped:
        for op in ops:
            per_op[op][2] += 1
    passed = sum(r is None for _, r in results.values())
    total = len(results)

    print(f"{'op':<20} {'passed':>6} / {'total':<5} {'skipped':>7}")
    for op in OPS:
        p, t, k = per_op[op]
        mark = "" if p == t else "   <--"
        print(f"{op:<20} {p:>6} / {t:<5} {k or '':>7}{mark}")
    if skipped:
        print(f"\nskipped cases ({len(skipped)}), types outside edgeopt's DType set:")
        for name, _, why in skipped:
            print(f"  {name}: {why}")
    failing = sorted((name, r) for name, (_, r) in results.items() if r is not None)
    if failing:
        print(f"\nfailing cases ({len(failing)}):")
        for name, reason in failing:
            print(f"  {name}: {reason}")
    rate = passed / total
    print(f"\nTOTAL {passed}/{total} cases passed ({100 * rate:.1f}%), required {100 * args.min_pass_rate:.0f}%; "
          f"{len(skipped)} skipped for unsupported types")
    return 0 if rate >= args.min_pass_rate else 1


if __name__ == "__main__":
    sys.exit(main())

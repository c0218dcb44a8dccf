#!/usr/bin/python3
"""`edgeopt prune` / `factorize` / `distill` end to end on a quickly trained small vision_cnn
(Fashion-MNIST, which must be installed: a missing data set fails the test, it never skips):
reports say what changed (FLOP budget met, sparsity reached, student smaller), and every exported
model validates with onnx.checker, loads in ONNX Runtime and gives the same predictions as edgeopt
on real test images. Bad flags give exactly one `edgeopt: error:` line.

ONNX Runtime comes from the peer test's virtual environment (tests/peers/compare_ort.py); exit 77
(skip) only when PyPI cannot provide it.

Usage: /usr/bin/python3 tests/cli_compress_tests.py --edgeopt build/src/cli/edgeopt
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "peers"))
import compare_ort  # noqa: E402

FAILURES = []
DATA = ["--data", "fashion-mnist", "--max-train", "3000", "--max-test", "300", "--seed", "1"]


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def why(p):
    return "" if p.returncode == 0 else repr(p.stderr.strip()[-300:])


def run(edgeopt, *args):
    return subprocess.run([edgeopt, *args], capture_output=True, text=True, timeout=600)


def same_predictions(edgeopt, model, x_path, work, label, full_check=True):
    """full_check=False for sparse initializers: ONNX's strict shape inference types them as
    sparse_tensor, which dense ops do not accept; the plain checker validates them (sorted,
    in-range indices) and ONNX Runtime densifies them at load."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    try:
        onnx.checker.check_model(onnx.load(model), full_check=full_check)
        check(True, f"{label}: onnx.checker accepts the exported model")
    except Exception as ex:  # noqa: BLE001
        check(False, f"{label}: onnx.checker accepts the exported model ({ex})")
    x = np.load(x_path).astype(np.float32)
    sess = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    feeds = {sess.get_inputs()[0].name: x}
    ok, max_abs, _, _, _, _, detail = compare_ort.compare(edgeopt, model, feeds, os.path.join(work, label), 1e-4, 1e-3)
    check(ok, f"{label}: edgeopt and ONNX Runtime outputs agree (max |diff| {max_abs:.2e}) {detail}")
    ort_pred = sess.run(None, feeds)[0].argmax(1)
    out_dir, _ = compare_ort.edgeopt_run(edgeopt, model, feeds, os.path.join(work, label + "_pred"))
    eo_pred = np.load(os.path.join(out_dir, "output.npy")).argmax(1)
    check(bool((ort_pred == eo_pred).all()), f"{label}: same predicted classes on {len(x)} test images")


def ensure_onnxruntime():
    """Re-executes this script under the peer test's venv python (which has onnxruntime)."""
    try:
        import onnxruntime  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("EDGEOPT_PEER_IN_VENV"):
        print("SKIP: onnxruntime not importable inside the virtual environment")
        sys.exit(compare_ort.SKIP)
    venv = os.environ.get("EDGEOPT_VENV", os.path.join(compare_ort.CACHE, "edgeopt-venv"))
    py = os.path.join(venv, "bin", "python")
    if not (os.path.exists(py) and subprocess.run([py, "-c", "import onnxruntime"], capture_output=True).returncode == 0):
        subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], capture_output=True)
        r = subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--timeout", "30",
                            "onnxruntime"], capture_output=True, text=True)
        if r.returncode != 0:
            print("SKIP: pip cannot install onnxruntime (is PyPI reachable?):\n" + r.stderr[-2000:])
            sys.exit(compare_ort.SKIP)
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], dict(os.environ, EDGEOPT_PEER_IN_VENV="1"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeopt", required=True)
    e = ap.parse_args().edgeopt
    ensure_onnxruntime()
    with tempfile.TemporaryDirectory() as tmp:
        base = os.path.join(tmp, "cnn.onnx")
        p = run(e, "train", "--model", "vision_cnn", "--width", "8", "--epochs", "1", "--out", base, "--no-progress", *DATA)
        check(p.returncode == 0, f"train a small vision_cnn {why(p)}")
        if p.returncode != 0:
            sys.exit(1)  # no model, no data: a failure, never a skip
        x_path = os.path.join(tmp, "x.npy")
        p = run(e, "data", "--data", "fashion-mnist", "--max-test", "300", "--sample-out", x_path, "--index", "0",
                "--count", "64")
        check(p.returncode == 0, f"edgeopt data --sample-out {why(p)}")
        quick = ["--epochs", "1", "--max-steps-per-epoch", "15", "--latency-runs", "5", "--no-progress", *DATA]

        out, rep = os.path.join(tmp, "structured.onnx"), os.path.join(tmp, "structured.json")
        p = run(e, "prune", base, "--structured", "--flops-ratio", "0.5", "--criterion", "bn_scale", "--out", out,
                "--report", rep, *quick)
        check(p.returncode == 0, f"prune --structured exits 0 {why(p)}")
        if p.returncode == 0:
            r = json.load(open(rep))
            s = r["structured"]
            check(s["flops_after"] <= 0.5 * s["flops_before"], f"structured: FLOPs {s['flops_after']} <= 50% of {s['flops_before']}")
            check(r["after"]["parameters"] < r["before"]["parameters"], "structured: fewer parameters")
            check("speedup" in p.stdout and "test accuracy" in p.stdout, "structured: prints accuracy and speedup")
            same_predictions(e, out, x_path, tmp, "structured")

        out, rep = os.path.join(tmp, "sparse.onnx"), os.path.join(tmp, "sparse.json")
        p = run(e, "prune", base, "--sparsity", "0.9", "--sparse-storage", "--out", out, "--report", rep, *quick)
        check(p.returncode == 0, f"prune --sparsity exits 0 {why(p)}")
        if p.returncode == 0:
            import numpy as np
            import onnx
            from onnx import numpy_helper
            r = json.load(open(rep))
            check(abs(r["magnitude"]["sparsity"] - 0.9) < 1e-3, f"sparse: 90% of prunable weights zero ({r['magnitude']['sparsity']})")
            mp = onnx.load(out)
            inits = {t.name: numpy_helper.to_array(t) for t in mp.graph.initializer}
            for sp in mp.graph.sparse_initializer:  # pruned weights on disk: COO values + linear indices
                dense = np.zeros(int(np.prod(sp.dims)), np.float32)
                dense[numpy_helper.to_array(sp.indices).reshape(-1)] = numpy_helper.to_array(sp.values)
                inits[sp.values.name] = dense.reshape(list(sp.dims))
            sparse_names = {sp.values.name for sp in mp.graph.sparse_initializer}
            check(all(w["name"] in sparse_names for w in r["magnitude"]["weights"]),
                  f"sparse: every pruned weight is stored as a sparse initializer ({sorted(sparse_names)})")
            size_base, size_out = os.path.getsize(base), os.path.getsize(out)
            check(size_out < 0.5 * size_base, f"sparse: the file shrinks ({size_base} -> {size_out} bytes)")
            for w in r["magnitude"]["weights"]:
                z = float((inits[w["name"]] == 0).mean())
                check(z >= 0.899, f"sparse: exported {w['name']} stays >= 90% zero after fine-tuning ({z:.3f})")
            check(r["after"]["effective_flops"] < r["after"]["flops"], "sparse: the runtime uses the sparse kernel (effective FLOPs drop)")
            same_predictions(e, out, x_path, tmp, "sparse", full_check=False)

        out, rep = os.path.join(tmp, "lowrank.onnx"), os.path.join(tmp, "lowrank.json")
        p = run(e, "factorize", base, "--flops-ratio", "0.5", "--out", out, "--report", rep, *quick)
        check(p.returncode == 0, f"factorize exits 0 {why(p)}")
        if p.returncode == 0:
            f = json.load(open(rep))["factorize"]
            check(f["flops_after"] <= 0.5 * f["flops_before"], "factorize: FLOP budget met")
            check(any(l["method"] == "tucker2" for l in f["layers"]) and any(l["method"] == "svd" for l in f["layers"]),
                  "factorize: Tucker-2 and SVD both used")
            same_predictions(e, out, x_path, tmp, "lowrank")

        out, rep = os.path.join(tmp, "student.onnx"), os.path.join(tmp, "student.json")
        p = run(e, "distill", "--teacher", base, "--student", "vision_cnn", "--width", "4", "--compare", "--out", out,
                "--report", rep, *quick)
        check(p.returncode == 0, f"distill exits 0 {why(p)}")
        if p.returncode == 0:
            r = json.load(open(rep))
            check(r["distill"]["student_params"] < 0.3 * r["distill"]["teacher_params"], "distill: student < 30% of teacher")
            check("student_without_teacher" in r, "distill --compare: report has the no-teacher baseline")
            same_predictions(e, out, x_path, tmp, "student")

        for label, args, needle in [
            ("flops ratio out of range", ["prune", base, "--structured", "--flops-ratio", "1.5"], "--flops-ratio"),
            ("sparsity out of range", ["prune", base, "--sparsity", "1.0"], "sparsity"),
            ("missing model", ["factorize", os.path.join(tmp, "nope.onnx")], "nope.onnx"),
        ]:
            p = run(e, *args, "--out", os.path.join(tmp, "x.onnx"), "--epochs", "0", "--latency-runs", "1", *DATA)
            lines = [l for l in p.stderr.splitlines() if l.startswith("edgeopt: error:")]
            check(p.returncode == 1 and len(lines) == 1 and needle in p.stderr,
                  f"{label}: exit 1 with one error line naming {needle!r} (got {p.returncode}: {p.stderr.strip()[-200:]!r})")
    if FAILURES:
        print(f"\n{len(FAILURES)} check(s) failed")
        sys.exit(1)
    print("\nall checks passed")


if __name__ == "__main__":
    main()

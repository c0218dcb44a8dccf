#!/usr/bin/env python3
"""Peer check: edgeopt's reference runtime against ONNX Runtime (CPU EP) on models nobody here wrote.

  /usr/bin/python3 compare_ort.py EDGEOPT_BIN [--work DIR] [--models a,b] [--light a,b] [--no-trained]

1. Models exported by PyTorch (export_models.py: torchvision mobilenet_v2 / resnet18, LSTM, GRU, MLP)
   and ONNX's "light" model-zoo models with seeded random weights: a seeded random input runs through
   ONNX Runtime and `edgeopt run`; every output must match within |e - o| <= atol + rtol * |o| (or, in outputs whose scale max|o| is
   large, within 1e-5 * max|o|: float32 summation order on 1e6-sized activations).
2. Round trip: models trained by `edgeopt train` must load in ONNX Runtime and reproduce edgeopt's
   outputs on real samples (`edgeopt data --sample-out`).

ONNX Runtime comes from PyPI into a virtual environment made here (EDGEOPT_VENV, default
~/.cache/edgeopt-venv, with --system-site-packages so Debian's torch, numpy and onnx stay visible).
Exits 77 (CTest's SKIP_RETURN_CODE) when PyPI cannot be reached; 1 when any model fails.
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile
import time
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
SKIP = 77
ONNX_WHEEL_VERSION = "1.23.2"  # its wheel ships onnx/backend/test/data/light/*.onnx
CACHE = os.path.expanduser("~/.cache")
DEFAULT_LIGHT = "light_squeezenet,light_shufflenet,light_inception_v1,light_resnet50,light_inception_v2,light_densenet121"
DEFAULT_TORCH = "torch_mobilenet_v2,torch_resnet18,torch_lstm,torch_gru,torch_lstm_h0,torch_gru_h0,torch_mlp"
# `edgeopt run` refusing a model for an op it lacks: reported as GAP, a failure only with --strict.
OP_GAP = "use ops edgeopt does not support"

# (zoo model, data set, extra train flags); small runs: the point is the exported file, not accuracy.
TRAINED = [
    ("safety_mlp", "wsn-events", ["--epochs", "1"]),
    ("env_lstm", "seattle-weather", ["--epochs", "1"]),
    ("vision_cnn", "fashion-mnist", ["--epochs", "1", "--max-steps-per-epoch", "20", "--max-test", "500"]),
]


def log(msg):
    print(msg, flush=True)


# ---------------------------------------------------------------------------------------------------
# ONNX Runtime in a virtual environment


def ensure_onnxruntime():
    """Re-executes this script under a venv python that has onnxruntime, or exits 77."""
    try:
        import onnxruntime  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("EDGEOPT_PEER_IN_VENV"):
        log("SKIP: onnxruntime still not importable inside the virtual environment")
        sys.exit(SKIP)
    venv = os.environ.get("EDGEOPT_VENV", os.path.join(CACHE, "edgeopt-venv"))
    py = os.path.join(venv, "bin", "python")
    ok = os.path.exists(py) and subprocess.run([py, "-c", "import onnxruntime"], capture_output=True).returncode == 0
    if not ok:
        log("setting up %s (pip install onnxruntime)" % venv)
        r = subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], capture_output=True,
                           text=True)
        if r.returncode != 0:
            log("SKIP: cannot create a virtual environment (python3-venv missing?):\n" + r.stderr[-2000:])
            sys.exit(SKIP)
        r = subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--timeout", "30",
                            "onnxruntime"], capture_output=True, text=True)
        if r.returncode != 0:
            log("SKIP: pip cannot install onnxruntime (is PyPI reachable?):\n" + r.stderr[-2000:])
            sys.exit(SKIP)
    env = dict(os.environ, EDGEOPT_PEER_IN_VENV="1")
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


def onnx_wheel():
    """The onnx wheel holding the light models: cached, else `pip download` (no install). None if unreachable."""
    d = os.path.join(CACHE, "edgeopt-onnx-wheel")
    found = glob.glob(os.path.join(d, "onnx-%s-*.whl" % ONNX_WHEEL_VERSION))
    if not found:
        r = subprocess.run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "-q", "--no-deps",
                            "--only-binary", ":all:", "--timeout", "30", "-d", d, "onnx==" + ONNX_WHEEL_VERSION],
                           capture_output=True, text=True)
        if r.returncode != 0:
            log("note: no light models: pip download onnx failed:\n" + r.stderr[-1000:])
            return None
        found = glob.glob(os.path.join(d, "onnx-%s-*.whl" % ONNX_WHEEL_VERSION))
    if not found:
        return None
    with zipfile.ZipFile(found[0]) as z:
        if not any("/backend/test/data/light/" in n for n in z.namelist()):
            log("note: %s has no light models" % found[0])
            return None
    return found[0]


# ---------------------------------------------------------------------------------------------------
# Running and comparing


def safe_file_name(name):
    """Mirrors src/cli/verbs/run.cpp: how `edgeopt run` names DIR/<output>.npy."""
    s = "".join(c if (c.isalnum() and c.isascii()) or c in "._-" else "_" for c in name)
    return "_" + s if s in ("", ".", "..") else s


def edgeopt_run(edgeopt, model, feeds, out_dir):
    """Runs `edgeopt run`; returns ({output: array}, ms) or raises RuntimeError with its message."""
    import numpy as np

    os.makedirs(out_dir, exist_ok=True)
    cmd = [edgeopt, "run", model, "--output-dir", out_dir]
    for name, arr in feeds.items():
        path = os.path.join(out_dir, "in_%s.npy" % safe_file_name(name))
        np.save(path, arr)
        cmd += ["--input", "%s=%s" % (name, path)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError((r.stderr.strip() or r.stdout.strip())[-2000:])
    m = re.search(r"in ([0-9.]+) ms", r.stdout)
    return out_dir, float(m.group(1)) if m else float("nan")


def compare(edgeopt, model_path, feeds, out_dir, atol, rtol):
    """Returns (ok, max_abs, max_rel, max |ort output|, ort_ms, edgeopt_ms, detail)."""
    import numpy as np
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    # ORT's graph rewrites (conv+BN fusion...) change rounding; compare the graph as written.
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])
    t = time.perf_counter()
    ref = sess.run(None, feeds)
    ort_ms = (time.perf_counter() - t) * 1e3
    out_dir, eo_ms = edgeopt_run(edgeopt, model_path, feeds, out_dir)
    used, max_abs, max_rel, scale, ok, detail = set(), 0.0, 0.0, 0.0, True, []
    for meta, o in zip(sess.get_outputs(), ref):
        base = safe_file_name(meta.name)
        f, k = base, 1
        while f in used:
            f, k = "%s_%d" % (base, k), k + 1
        used.add(f)
        e = np.load(os.path.join(out_dir, f + ".npy"))
        if e.shape != o.shape:
            return False, float("inf"), float("inf"), 0.0, ort_ms, eo_ms, "output %s: shape %s, ONNX Runtime %s" % (
                meta.name, e.shape, o.shape)
        o64, e64 = o.astype(np.float64), e.astype(np.float64)
        d = np.abs(e64 - o64)
        if not np.all(np.isfinite(e64) == np.isfinite(o64)):
            ok = False
            detail.append("output %s: non-finite values differ" % meta.name)
        d = np.where(np.isfinite(d), d, 0.0)
        if d.size:
            max_abs = max(max_abs, float(d.max()))
            scale = max(scale, float(np.abs(np.where(np.isfinite(o64), o64, 0.0)).max()))
            max_rel = max(max_rel, float((d / np.maximum(np.abs(o64), 1e-6)).max()))
            # Random weights in deep residual nets (resnet50, shufflenet) grow activations to ~1e6;
            # float32 sums in another order then differ by ~1e-7 of that scale in elements that
            # cancel to ~1e3. Such elements are judged against the output's scale (1e-5 of max|o|,
            # ggml-style normalized error), every other element by atol + rtol * |o|.
            out_scale = float(np.abs(np.where(np.isfinite(o64), o64, 0.0)).max())
            bad = (d > atol + rtol * np.abs(o64)) & (d > 1e-5 * out_scale)
            if bad.any():
                ok = False
                i = np.unravel_index(np.argmax(d - rtol * np.abs(o64)), d.shape)
                detail.append("output %s: %d of %d values off, worst at %s: edgeopt %.7g, ONNX Runtime %.7g" % (
                    meta.name, int(bad.sum()), d.size, tuple(int(x) for x in i), e64[i], o64[i]))
    return ok, max_abs, max_rel, scale, ort_ms, eo_ms, "; ".join(detail)


def random_feeds(sess_inputs, shapes, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    feeds = {}
    for x in sess_inputs:
        shape = shapes.get(x.name) or [d if isinstance(d, int) and d > 0 else 1 for d in x.shape]
        feeds[x.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds


# ---------------------------------------------------------------------------------------------------


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("edgeopt", help="the edgeopt binary")
    ap.add_argument("--work", default="", help="keep models and outputs here (default: a temporary directory)")
    ap.add_argument("--models", default=DEFAULT_TORCH, help="PyTorch models (export_models.py names); '' for none")
    ap.add_argument("--light", default=DEFAULT_LIGHT, help="ONNX light models; '' for none")
    ap.add_argument("--no-trained", action="store_true", help="skip the edgeopt train round trip")
    ap.add_argument("--atol", type=float, default=1e-4)
    ap.add_argument("--rtol", type=float, default=1e-4)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--strict", action="store_true", default=bool(os.environ.get("EDGEOPT_PEER_STRICT")),
                    help="an op edgeopt lacks fails the run too (also EDGEOPT_PEER_STRICT=1)")
    a = ap.parse_args()
    a.edgeopt = os.path.abspath(a.edgeopt)
    ensure_onnxruntime()

    import numpy as np
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    sys.path.insert(0, HERE)
    import export_models

    tmp = None
    if not a.work:
        tmp = tempfile.TemporaryDirectory(prefix="edgeopt-peer-")
        a.work = tmp.name
    models_dir = os.path.join(a.work, "models")
    os.makedirs(models_dir, exist_ok=True)
    log("onnxruntime %s, numpy %s, tolerance |edgeopt - ort| <= %g + %g * |ort|" % (
        ort.__version__, np.__version__, a.atol, a.rtol))

    manifest = {}
    torch_names = set(filter(None, a.models.split(",")))
    if torch_names:
        try:
            manifest.update(export_models.export_torch(models_dir, torch_names, a.seed))
        except ImportError as e:
            log("note: PyTorch models skipped: %s (Debian: python3-torch python3-torchvision)" % e)
    light_names = set(filter(None, a.light.split(",")))
    if light_names:
        wheel = onnx_wheel()
        if wheel:
            manifest.update(export_models.export_light(models_dir, wheel, light_names, a.seed))

    results = []  # (name, ok, max_abs, max_rel, ort_ms, eo_ms, detail)

    def check(name, path, feeds):
        try:
            if callable(feeds):
                feeds = feeds()
            ok, mabs, mrel, scale, ort_ms, eo_ms, detail = compare(a.edgeopt, path, feeds, os.path.join(a.work, "out", name),
                                                            a.atol, a.rtol)
        except RuntimeError as e:
            ok, mabs, mrel, scale, ort_ms, eo_ms = False, float("nan"), float("nan"), float("nan"), 0, 0
            detail = "edgeopt failed: %s" % e
        except Exception as e:  # ONNX Runtime rejecting our file is a failure too (round trip)
            ok, mabs, mrel, scale, ort_ms, eo_ms = False, float("nan"), float("nan"), float("nan"), 0, 0
            detail = "%s: %s" % (type(e).__name__, str(e)[-1500:])
        status = "ok" if ok else "GAP" if OP_GAP in detail else "FAIL"
        results.append((name, status))
        log("%-4s %-30s max_abs %.2e  max_rel %.2e  max|out| %.2e  ort %7.1f ms  edgeopt %8.1f ms%s" % (
            status, name, mabs, mrel, scale, ort_ms, eo_ms, ("\n       " + detail) if detail else ""))

    for i, (name, m) in enumerate(manifest.items()):
        def feeds(m=m, i=i):
            sess = ort.InferenceSession(m["path"], providers=["CPUExecutionProvider"])
            return random_feeds(sess.get_inputs(), m["inputs"], a.seed + i)
        check(name, m["path"], feeds)

    if not a.no_trained:
        for model, data, extra in TRAINED:
            name = "trained_%s_%s" % (model, data)
            path = os.path.join(models_dir, name + ".onnx")
            cmd = [a.edgeopt, "train", "--model", model, "--data", data, "--seed", "1", "--out", path, "--no-progress"]
            r = subprocess.run(cmd + extra, capture_output=True, text=True)
            if r.returncode != 0:
                results.append((name, "FAIL"))
                log("FAIL %s: %s\n%s" % (name, " ".join(cmd + extra), (r.stderr or r.stdout)[-2000:]))
                continue
            x_path = os.path.join(a.work, name + "_x.npy")
            data_flags = [f for f in extra if f in ("--max-test",)]
            data_flags = extra[extra.index("--max-test"):extra.index("--max-test") + 2] if data_flags else []
            r = subprocess.run([a.edgeopt, "data", "--data", data, "--sample-out", x_path, "--index", "0", "--count",
                                "2"] + data_flags, capture_output=True, text=True)
            if r.returncode != 0:
                results.append((name, "FAIL"))
                log("FAIL %s: edgeopt data: %s" % (name, (r.stderr or r.stdout)[-2000:]))
                continue
            def feeds(path=path, x_path=x_path):
                sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
                return {sess.get_inputs()[0].name: np.load(x_path).astype(np.float32)}
            check(name, path, feeds)

    count = {k: sum(1 for _, s in results if s == k) for k in ("ok", "FAIL", "GAP")}
    gaps = [n for n, s in results if s == "GAP"]
    if gaps:
        log("\nop gaps (edgeopt lacks an op these models use; --strict makes them failures): " + ", ".join(gaps))
    log("\n%d passed, %d failed, %d skipped" % (count["ok"], count["FAIL"] + (count["GAP"] if a.strict else 0),
                                              0 if a.strict else count["GAP"]))
    if not results:
        log("SKIP: no model could be prepared")
        sys.exit(SKIP)
    sys.exit(1 if count["FAIL"] or (a.strict and count["GAP"]) else 0)


if __name__ == "__main__":
    main()

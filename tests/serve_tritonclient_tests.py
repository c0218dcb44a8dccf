#!/usr/bin/env python3
"""Interop: pip's tritonclient (HTTP and gRPC) against `edgeopt serve`.

  /usr/bin/python3 serve_tritonclient_tests.py EDGEOPT_BIN [--work DIR] [--keep]

1. `edgeopt train` makes a small vision_cnn (Fashion-MNIST, a few steps: the point is the served file,
   not accuracy) into a Triton-layout repository: vision_cnn/1/model.onnx + config.pbtxt (batching),
   and the same file as vision_cnn_auto/1/model.onnx without a config (auto-completed).
2. `edgeopt serve` starts on free ports (--http 0 --grpc 0; the bound ports are read from its log).
3. tritonclient.http and tritonclient.grpc check: liveness/readiness, server and model metadata,
   model config, inference on real Fashion-MNIST samples (batch 1 and 4, JSON and binary tensors
   both ways over HTTP, raw contents over gRPC, concurrent async requests) whose outputs must equal
   ONNX Runtime's and `edgeopt run`'s within 1e-5; clear errors for a wrong shape, a wrong dtype, an
   unknown model/version, malformed JSON and an oversized payload (413 / RESOURCE_EXHAUSTED), after
   each of which the server must still answer; the repository extension (index, unload, load).
4. SIGTERM: the server exits 0 after logging that it stopped.

tritonclient[all] and onnxruntime come from PyPI into the venv EDGEOPT_VENV (default
~/.cache/edgeopt-venv, --system-site-packages). Exits 77 (CTest SKIP_RETURN_CODE) when PyPI cannot be
reached; 1 on any failed check.
"""
import argparse
import concurrent.futures
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from edgeopt_serve import ServeProcess  # noqa: E402  (one serve harness for tests and bench)

SKIP = 77
CACHE = os.path.expanduser("~/.cache")
ATOL = 1e-5


def log(msg):
    print(msg, flush=True)


def ensure_packages():
    """Re-executes this script under a venv python with tritonclient and onnxruntime, or exits 77."""
    try:
        import onnxruntime  # noqa: F401
        import tritonclient.grpc  # noqa: F401
        import tritonclient.http  # noqa: F401
        return
    except ImportError:
        pass
    if os.environ.get("EDGEOPT_PEER_IN_VENV"):
        log("SKIP: tritonclient/onnxruntime still not importable inside the virtual environment")
        sys.exit(SKIP)
    venv = os.environ.get("EDGEOPT_VENV", os.path.join(CACHE, "edgeopt-venv"))
    py = os.path.join(venv, "bin", "python")
    probe = "import onnxruntime, tritonclient.http, tritonclient.grpc"
    ok = os.path.exists(py) and subprocess.run([py, "-c", probe], capture_output=True).returncode == 0
    if not ok:
        log("setting up %s (pip install tritonclient[all] onnxruntime)" % venv)
        if not os.path.exists(py):
            r = subprocess.run(["/usr/bin/python3", "-m", "venv", "--system-site-packages", venv], capture_output=True,
                               text=True)
            if r.returncode != 0:
                log("SKIP: cannot create a virtual environment (python3-venv missing?):\n" + r.stderr[-2000:])
                sys.exit(SKIP)
        r = subprocess.run([py, "-m", "pip", "install", "--disable-pip-version-check", "-q", "--timeout", "30",
                            "tritonclient[all]", "onnxruntime"], capture_output=True, text=True)
        if r.returncode != 0:
            log("SKIP: pip cannot install tritonclient[all] / onnxruntime (is PyPI reachable?):\n" + r.stderr[-2000:])
            sys.exit(SKIP)
    env = dict(os.environ, EDGEOPT_PEER_IN_VENV="1")
    os.execve(py, [py, os.path.abspath(__file__)] + sys.argv[1:], env)


class Checks:
    def __init__(self):
        self.failed = []
        self.passed = 0

    def check(self, cond, what, detail=""):
        if cond:
            self.passed += 1
            log("  ok   " + what)
        else:
            self.failed.append(what)
            log("  FAIL " + what + (": " + str(detail) if detail else ""))

    def expect_error(self, fn, what, *needles):
        """fn must raise; its message must contain every needle."""
        try:
            fn()
        except Exception as e:  # tritonclient raises InferenceServerException; urllib HTTPError
            msg = str(e)
            if hasattr(e, "read"):
                msg += " " + e.read().decode(errors="replace")
            missing = [n for n in needles if n not in msg]
            self.check(not missing, what, "missing %r in: %s" % (missing, msg[:400]))
            return msg
        self.check(False, what, "no error raised")
        return ""


def run(cmd, **kw):
    r = subprocess.run(cmd, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise RuntimeError("%s failed (%d):\n%s" % (" ".join(cmd), r.returncode, (r.stderr or r.stdout)[-3000:]))
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("edgeopt")
    ap.add_argument("--work", help="working directory (default: a temporary one, removed)")
    ap.add_argument("--keep", action="store_true", help="keep the working directory")
    a = ap.parse_args()
    ensure_packages()
    import numpy as np
    import onnxruntime as ort
    import tritonclient.grpc as grpcclient
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    a.edgeopt = os.path.abspath(a.edgeopt)
    work = a.work or tempfile.mkdtemp(prefix="edgeopt_serve_tc_")
    os.makedirs(work, exist_ok=True)
    c = Checks()
    server = None
    try:
        repo = os.path.join(work, "repo")
        shutil.rmtree(repo, ignore_errors=True)
        os.makedirs(os.path.join(repo, "vision_cnn", "1"))
        os.makedirs(os.path.join(repo, "vision_cnn_auto", "1"))
        model = os.path.join(repo, "vision_cnn", "1", "model.onnx")
        log("training a small vision_cnn (edgeopt train, a few steps)")
        run([a.edgeopt, "train", "--model", "vision_cnn", "--data", "fashion-mnist", "--epochs", "1",
             "--max-steps-per-epoch", "5", "--max-train", "1000", "--max-test", "200", "--seed", "1", "--out", model,
             "--no-progress"])
        shutil.copy(model, os.path.join(repo, "vision_cnn_auto", "1", "model.onnx"))
        with open(os.path.join(repo, "vision_cnn", "config.pbtxt"), "w") as f:
            f.write('name: "vision_cnn"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 8\n'
                    'input [ { name: "input" data_type: TYPE_FP32 dims: [ 1, 28, 28 ] } ]\n'
                    'output [ { name: "output" data_type: TYPE_FP32 dims: [ 10 ] } ]\n'
                    'dynamic_batching { max_queue_delay_microseconds: 2000 }\n'
                    'instance_group [ { count: 2 kind: KIND_CPU } ]\n')
        xs_path = os.path.join(work, "x.npy")
        run([a.edgeopt, "data", "--data", "fashion-mnist", "--split", "test", "--count", "4", "--sample-out", xs_path])
        xs = np.load(xs_path).astype(np.float32)
        assert xs.shape == (4, 1, 28, 28), xs.shape
        want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"input": xs})[0]
        out_dir = os.path.join(work, "run_out")
        run([a.edgeopt, "run", model, "--input", "input=" + xs_path, "--output-dir", out_dir])
        want_run = np.load(os.path.join(out_dir, "output.npy"))
        c.check(np.allclose(want_run, want, atol=ATOL, rtol=0), "edgeopt run == onnxruntime (the reference)")

        server = ServeProcess(a.edgeopt, repo, grpc=True, extra=["--threads", "2", "--max-request-mb", "1", "--poll-s", "0.5"])
        log("edgeopt serve: HTTP %d, gRPC %d" % (server.http_port, server.grpc_port))
        http_url = "127.0.0.1:%d" % server.http_port
        hc = httpclient.InferenceServerClient(http_url, concurrency=8)
        gc = grpcclient.InferenceServerClient("127.0.0.1:%d" % server.grpc_port)

        def close(got, ref, what):
            ok = got is not None and got.shape == ref.shape and np.allclose(got, ref, atol=ATOL, rtol=0)
            err = float(np.max(np.abs(got - ref))) if ok or (got is not None and got.shape == ref.shape) else None
            c.check(ok, what, "max |diff| %s, shape %s vs %s" % (err, None if got is None else got.shape, ref.shape))

        log("health and metadata")
        for name, cl in (("http", hc), ("grpc", gc)):
            c.check(cl.is_server_live(), name + ": server live")
            c.check(cl.is_server_ready(), name + ": server ready")
            c.check(cl.is_model_ready("vision_cnn"), name + ": model ready")
            c.check(not cl.is_model_ready("vision_cnn", "7"), name + ": version 7 not ready")
        sm = hc.get_server_metadata()
        c.check(sm["name"] == "edgeopt" and "binary_tensor_data" in sm["extensions"], "http: server metadata", sm)
        gsm = gc.get_server_metadata(as_json=True)
        c.check(gsm["name"] == "edgeopt", "grpc: server metadata", gsm)
        mm = hc.get_model_metadata("vision_cnn")
        c.check(mm["inputs"][0] == {"name": "input", "datatype": "FP32", "shape": [-1, 1, 28, 28]}
                and mm["outputs"][0]["shape"] == [-1, 10] and mm["versions"] == ["1"], "http: model metadata", mm)
        gmm = gc.get_model_metadata("vision_cnn", as_json=True)
        c.check(gmm["inputs"][0]["shape"] == ["-1", "1", "28", "28"] and gmm["platform"] == "onnxruntime_onnx",
                "grpc: model metadata", gmm)
        cfg = hc.get_model_config("vision_cnn")
        c.check(cfg["max_batch_size"] == 8 and cfg["dynamic_batching"]["max_queue_delay_microseconds"] in (2000, "2000"),
                "http: model config", cfg)
        gcfg = gc.get_model_config("vision_cnn", as_json=True)["config"]
        c.check(gcfg["max_batch_size"] == 8 and gcfg["input"][0]["data_type"] == "TYPE_FP32", "grpc: model config", gcfg)
        auto = hc.get_model_config("vision_cnn_auto")
        c.check(auto["max_batch_size"] == 8 and auto["input"][0]["dims"] in ([1, 28, 28], ["1", "28", "28"]),
                "http: auto-completed config of a model without config.pbtxt", auto)

        log("inference (outputs vs onnxruntime within %g)" % ATOL)
        for binary_in in (True, False):
            for binary_out in (True, False):
                for rows in (1, 4):
                    inp = httpclient.InferInput("input", [rows, 1, 28, 28], "FP32")
                    inp.set_data_from_numpy(xs[:rows], binary_data=binary_in)
                    out = httpclient.InferRequestedOutput("output", binary_data=binary_out)
                    r = hc.infer("vision_cnn", [inp], outputs=[out])
                    close(r.as_numpy("output"), want[:rows],
                          "http: batch %d, %s in, %s out" % (rows, "binary" if binary_in else "JSON",
                                                             "binary" if binary_out else "JSON"))
        inp = httpclient.InferInput("input", [4, 1, 28, 28], "FP32")
        inp.set_data_from_numpy(xs)
        close(hc.infer("vision_cnn_auto", [inp]).as_numpy("output"), want, "http: model without config.pbtxt")
        for rows in (1, 4):
            gi = grpcclient.InferInput("input", [rows, 1, 28, 28], "FP32")
            gi.set_data_from_numpy(xs[:rows])
            r = gc.infer("vision_cnn", [gi], outputs=[grpcclient.InferRequestedOutput("output")])
            close(r.as_numpy("output"), want[:rows], "grpc: batch %d (raw contents both ways)" % rows)
            c.check(r.get_response().model_version == "1", "grpc: response names version 1")
        close(want_run, want, "edgeopt run output (same check for the record)")

        # Concurrent single-sample requests: the dynamic batcher groups them; each answer must be its own row.
        # The HTTP client is gevent-based (not thread-safe): 64 async_infer calls from this thread.
        pending = []
        for i in range(64):
            ii = httpclient.InferInput("input", [1, 1, 28, 28], "FP32")
            ii.set_data_from_numpy(xs[i % 4:i % 4 + 1])
            pending.append((i, hc.async_infer("vision_cnn", [ii])))
        bad = [i for i, p in pending
               if not np.allclose(p.get_result().as_numpy("output"), want[i % 4:i % 4 + 1], atol=ATOL, rtol=0)]
        c.check(not bad, "http: 64 concurrent requests each get their own row", bad[:5])

        def one_grpc(i):
            ii = grpcclient.InferInput("input", [1, 1, 28, 28], "FP32")
            ii.set_data_from_numpy(xs[i % 4:i % 4 + 1])
            return i, gc.infer("vision_cnn", [ii]).as_numpy("output")

        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            results = list(ex.map(one_grpc, range(64)))
        bad = [i for i, y in results if not np.allclose(y, want[i % 4:i % 4 + 1], atol=ATOL, rtol=0)]
        c.check(not bad, "grpc: 64 concurrent requests (8 threads) each get their own row", bad[:5])

        log("errors (and the server keeps serving after each)")

        def still_serving(after):
            ii = httpclient.InferInput("input", [1, 1, 28, 28], "FP32")
            ii.set_data_from_numpy(xs[:1])
            try:
                y = hc.infer("vision_cnn", [ii]).as_numpy("output")
                c.check(np.allclose(y, want[:1], atol=ATOL, rtol=0), "serving after " + after)
            except Exception as e:
                c.check(False, "serving after " + after, e)

        bad_shape = httpclient.InferInput("input", [1, 1, 28, 27], "FP32")
        bad_shape.set_data_from_numpy(np.zeros((1, 1, 28, 27), np.float32))
        c.expect_error(lambda: hc.infer("vision_cnn", [bad_shape]), "http: wrong shape is a clear error",
                       "input 'input' has shape [1,1,28,27]", "expects [-1,1,28,28]")
        gbad = grpcclient.InferInput("input", [1, 1, 28, 27], "FP32")
        gbad.set_data_from_numpy(np.zeros((1, 1, 28, 27), np.float32))
        m = c.expect_error(lambda: gc.infer("vision_cnn", [gbad]), "grpc: wrong shape is a clear error",
                           "input 'input' has shape [1,1,28,27]")
        c.check("INVALID_ARGUMENT" in m, "grpc: wrong shape is INVALID_ARGUMENT", m[:200])
        bad_dtype = httpclient.InferInput("input", [1, 1, 28, 28], "INT32")
        bad_dtype.set_data_from_numpy(np.zeros((1, 1, 28, 28), np.int32))
        c.expect_error(lambda: hc.infer("vision_cnn", [bad_dtype]), "http: wrong dtype is a clear error",
                       "input 'input' has datatype INT32", "expects FP32")
        gdt = grpcclient.InferInput("input", [1, 1, 28, 28], "FP64")
        gdt.set_data_from_numpy(np.zeros((1, 1, 28, 28), np.float64))
        c.expect_error(lambda: gc.infer("vision_cnn", [gdt]), "grpc: unsupported dtype is a clear error",
                       "datatype 'FP64' is not supported")
        too_big = httpclient.InferInput("input", [9, 1, 28, 28], "FP32")
        too_big.set_data_from_numpy(np.zeros((9, 1, 28, 28), np.float32))
        c.expect_error(lambda: hc.infer("vision_cnn", [too_big]), "http: batch above max_batch_size", "batch size 9")
        ok_in = httpclient.InferInput("input", [1, 1, 28, 28], "FP32")
        ok_in.set_data_from_numpy(xs[:1])
        c.expect_error(lambda: hc.infer("nope", [ok_in]), "http: unknown model", "model 'nope'")
        c.expect_error(lambda: hc.infer("vision_cnn", [ok_in], model_version="9"), "http: unknown version",
                       "no ready version '9'")
        gi = grpcclient.InferInput("input", [1, 1, 28, 28], "FP32")
        gi.set_data_from_numpy(xs[:1])
        m = c.expect_error(lambda: gc.infer("nope", [gi]), "grpc: unknown model", "model 'nope'")
        c.check("NOT_FOUND" in m, "grpc: unknown model is NOT_FOUND", m[:200])
        still_serving("wrong shape/dtype/model")

        base = "http://" + http_url

        def post(path, body, headers=None):
            req = urllib.request.Request(base + path, data=body, headers=headers or {"Content-Type": "application/json"})
            return urllib.request.urlopen(req, timeout=30)

        def status_of(fn):
            try:
                fn()
                return 200, ""
            except urllib.error.HTTPError as e:
                return e.code, e.read().decode(errors="replace")

        code, body = status_of(lambda: post("/v2/models/vision_cnn/infer", b'{"inputs": [{"name": "input", "data'))
        c.check(code == 400 and "malformed JSON" in body, "http: malformed JSON is 400 with a reason", (code, body[:200]))
        code, body = status_of(lambda: post("/v2/models/vision_cnn/infer", b'{"inputs": 3}'))
        c.check(code == 400 and "inputs" in body, "http: a request without an inputs array is 400", (code, body[:200]))
        still_serving("malformed JSON")
        payload = b'{"inputs": [' + b" " * (2 << 20) + b"]}"  # 2 MiB, over --max-request-mb 1
        code, body = status_of(lambda: post("/v2/models/vision_cnn/infer", payload))
        c.check(code == 413 and "--max-request-mb" in body, "http: oversized payload is 413 with a reason",
                (code, body[:200]))
        gbig_data = np.random.default_rng(3).random((8, 1, 28, 28), dtype=np.float32)
        gbig2 = grpcclient.InferInput("input", [8, 1, 28, 28], "FP32")
        gbig2.set_data_from_numpy(gbig_data)
        # 8 samples are 25 KB; a message over the 1 MiB limit needs a wider (otherwise wrong) input.
        huge = grpcclient.InferInput("input", [8, 1, 28, 28 * 48], "FP32")
        huge.set_data_from_numpy(np.zeros((8, 1, 28, 28 * 48), np.float32))
        m = c.expect_error(lambda: gc.infer("vision_cnn", [huge]), "grpc: oversized message is refused",
                           "RESOURCE_EXHAUSTED")
        still_serving("oversized payloads")
        r = gc.infer("vision_cnn", [gbig2])
        ref = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"input": gbig_data})[0]
        close(r.as_numpy("output"), ref, "grpc: batch 8 of random inputs after the errors")

        log("repository extension")
        idx = hc.get_model_repository_index()
        c.check(sorted(m["name"] for m in idx) == ["vision_cnn", "vision_cnn_auto"]
                and all(m["state"] == "READY" for m in idx), "http: repository index", idx)
        gc.unload_model("vision_cnn_auto")
        c.check(not hc.is_model_ready("vision_cnn_auto"), "grpc unload -> not ready over http")
        hc.load_model("vision_cnn_auto")
        c.check(gc.is_model_ready("vision_cnn_auto"), "http load -> ready over grpc")
        gidx = gc.get_model_repository_index(as_json=True)
        c.check(len(gidx.get("models", [])) == 2, "grpc: repository index", gidx)

        log("hot reload: version 2 appears while requests flow")
        os.makedirs(os.path.join(work, "stage2"), exist_ok=True)
        shutil.copy(model, os.path.join(work, "stage2", "model.onnx"))
        errors = []
        versions = set()
        stop = threading.Event()

        def flow():
            cl = httpclient.InferenceServerClient(http_url)
            while not stop.is_set():
                ii = httpclient.InferInput("input", [1, 1, 28, 28], "FP32")
                ii.set_data_from_numpy(xs[:1])
                try:
                    rr = cl.infer("vision_cnn", [ii])
                    versions.add(rr.get_response()["model_version"])
                    if not np.allclose(rr.as_numpy("output"), want[:1], atol=ATOL, rtol=0):
                        errors.append("wrong output")
                except Exception as e:
                    errors.append(str(e))

        threads = [threading.Thread(target=flow) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        os.rename(os.path.join(work, "stage2"), os.path.join(repo, "vision_cnn", "2"))
        t0 = time.time()
        while time.time() - t0 < 15 and hc.get_model_metadata("vision_cnn")["versions"] != ["2"]:
            time.sleep(0.1)
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join()
        c.check(hc.get_model_metadata("vision_cnn")["versions"] == ["2"], "version 2 replaced version 1")
        c.check(versions == {"1", "2"}, "requests were answered by both versions", versions)
        c.check(not errors, "no failed request during the swap", errors[:3])

        log("graceful stop (SIGTERM)")
        rc = server.stop()
        c.check(rc == 0, "exit code 0 after SIGTERM", rc)
        c.check(any("stopped" in line for line in server.lines), "logged 'stopped'")
        c.check(any("loaded model 'vision_cnn' version 1" in line for line in server.lines), "logged the loaded model")
    except Exception as e:
        import traceback
        traceback.print_exc()
        c.failed.append("exception: %s" % e)
    finally:
        if server is not None:
            server.stop(signal.SIGKILL, 5)
            if c.failed:
                log("--- server log (tail) ---\n" + "".join(server.lines[-30:]))
        if not a.keep and not a.work:
            shutil.rmtree(work, ignore_errors=True)
    log("%d checks passed, %d failed%s" % (c.passed, len(c.failed), (": " + "; ".join(c.failed)) if c.failed else ""))
    return 1 if c.failed else 0


if __name__ == "__main__":
    sys.exit(main())

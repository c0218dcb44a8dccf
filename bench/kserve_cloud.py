#!/usr/bin/env python3
"""The cloud side of edge-cloud co-inference, on pip's KServe model server (Open Inference
Protocol v2 over REST) with ONNX Runtime: serves every model of a Triton-layout repository
(DIR/<name>/1/model.onnx, as `edgeopt partition --repo DIR` writes it).

    kserve_cloud.py REPO_DIR --port 8080 [--threads 2] [--models a,b]

Needs the kserve venv (tests/kserve_peer_test.py creates ~/.cache/edgeopt-kserve-venv).
Prints "READY <port>" on stdout once every model is loaded and the server is about to listen.
"""
import argparse
import os
import sys

import numpy as np
import onnxruntime as ort
import kserve
from kserve import InferOutput, InferRequest, InferResponse, Model, ModelServer
from kserve.utils.numpy_codec import from_np_dtype


class OnnxModel(Model):
    """One ONNX model run by ONNX Runtime; inputs and outputs by name, binary or JSON."""

    def __init__(self, name: str, path: str, threads: int, count_file: str = ""):
        super().__init__(name)
        self.path = path
        self.threads = threads
        self.count_file = count_file
        self.load()

    def load(self) -> bool:
        so = ort.SessionOptions()
        so.intra_op_num_threads = self.threads
        so.inter_op_num_threads = 1
        self.sess = ort.InferenceSession(self.path, so, providers=["CPUExecutionProvider"])
        self.output_names = [o.name for o in self.sess.get_outputs()]
        self.ready = True
        return self.ready

    async def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        feeds = {i.name: i.as_numpy() for i in payload.inputs}
        results = self.sess.run(None, feeds)
        outputs = []
        for name, arr in zip(self.output_names, results):
            o = InferOutput(name=name, shape=list(arr.shape), datatype=from_np_dtype(arr.dtype))
            o.set_data_from_numpy(arr, binary_data=True)
            outputs.append(o)
        if self.count_file:  # answered requests, for harnesses that must act mid-run (tests)
            with open(self.count_file, "a") as f:
                f.write(self.name + "\n")
        return InferResponse(response_id=payload.id or "", model_name=self.name, infer_outputs=outputs,
                             use_binary_outputs=payload.use_binary_outputs,
                             requested_outputs=payload.request_outputs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("repo")
    ap.add_argument("--port", type=int, default=8080)
    ap.add_argument("--host", default="")
    ap.add_argument("--threads", type=int, default=1, help="ONNX Runtime intra-op threads per model")
    ap.add_argument("--models", default="", help="comma-separated subset of the repository")
    ap.add_argument("--count-file", default="", help="append each answered model's name to this file (a line per request)")
    a = ap.parse_args()
    wanted = set(filter(None, a.models.split(",")))
    models = []
    for name in sorted(os.listdir(a.repo)):
        path = os.path.join(a.repo, name, "1", "model.onnx")
        if os.path.isfile(path) and (not wanted or name in wanted):
            models.append(OnnxModel(name, path, a.threads, a.count_file))
    if not models:
        print(f"no DIR/<name>/1/model.onnx under {a.repo}", file=sys.stderr)
        return 2
    print(f"READY {a.port} {len(models)} models", flush=True)
    ModelServer(http_port=a.port, enable_grpc=False, workers=1, enable_latency_logging=False,
                enable_docs_url=False).start(models)
    return 0


if __name__ == "__main__":
    sys.exit(main())

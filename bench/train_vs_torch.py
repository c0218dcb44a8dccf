#!/usr/bin/env python3
"""Training throughput: edgeopt's C++ trainer against PyTorch (CPU) on the same model and data.

  /usr/bin/python3 bench/train_vs_torch.py EDGEOPT_BIN [--steps N] [--threads T] [--pin] [--json out.json]

Both train vision_cnn as src/train/zoo/zoo.cpp builds it by default for Fashion-MNIST (width 32,
depth 2, no dropout):
  Conv3x3(1->32, pad 1, no bias) BN ReLU MaxPool2  Conv3x3(32->64) BN ReLU MaxPool2
  Flatten  Linear(64*7*7 -> 128) ReLU  Linear(128 -> 10)
with what `edgeopt train` uses by default: batch 128, AdamW (lr 2e-3, weight decay 1e-4), cross
entropy, gradient-norm clipping at 5, cosine schedule with linear warm-up, shuffled batches.

edgeopt: `edgeopt train --epochs 1 --max-steps-per-epoch N --report r.json`, samples_per_s of the epoch
(the training loop only: data loading and validation are outside it). PyTorch: the same N steps, timed
the same way (batch gathering included), torch.set_num_threads(T). EDGEOPT_NUM_THREADS=T for edgeopt.
--pin also pins both to CPUs 0..T-1 (taskset / sched_setaffinity) so neither borrows other cores.
PyTorch's OpenMP threads spin at barriers; on a shared machine that collapses its multi-threaded
speed (3x slower at 2 threads than at 1 in our runs), so OMP_WAIT_POLICY defaults to PASSIVE here.
The numbers move with machine load: --repeat N keeps the best of N runs of each; compare the ratio.
Needs python3-torch (Debian) and the Fashion-MNIST IDX files (Debian's dataset-fashion-mnist).
"""
import argparse
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def run_edgeopt(binary, steps, threads, pin, seed):
    with tempfile.TemporaryDirectory(prefix="edgeopt-bench-") as d:
        report = os.path.join(d, "r.json")
        cmd = [binary, "train", "--model", "vision_cnn", "--data", "fashion-mnist", "--epochs", "1",
               "--max-steps-per-epoch", str(steps), "--max-test", "500", "--seed", str(seed), "--no-progress",
               "--out", os.path.join(d, "m.onnx"), "--report", report]
        if pin:
            cmd = ["taskset", "-c", "0-%d" % (threads - 1)] + cmd
        env = dict(os.environ, EDGEOPT_NUM_THREADS=str(threads))
        r = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("edgeopt train failed:\n%s" % (r.stderr or r.stdout)[-3000:])
        with open(report) as f:
            rep = json.load(f)
    ep = rep["epochs"][0]
    return {"samples_per_s": ep["samples_per_s"], "seconds": ep["seconds"], "train_loss": ep["train_loss"],
            "parameters": rep.get("parameters"), "batch": rep.get("batch")}


def run_torch(steps, threads, pin, seed, batch=128, lr=2e-3):
    import torch
    from torch import nn

    if pin:
        os.sched_setaffinity(0, set(range(threads)))
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    x = read_idx(os.path.join(FASHION, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    x = (x - x.mean()) / x.std()
    x = torch.from_numpy(x).unsqueeze(1).contiguous()
    y = torch.from_numpy(y)

    def conv_block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1),
                nn.ReLU(), nn.MaxPool2d(2, 2)]

    model = nn.Sequential(*conv_block(1, 32), *conv_block(32, 64), nn.Flatten(), nn.Linear(64 * 7 * 7, 128),
                          nn.ReLU(), nn.Linear(128, 10))
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    warmup = min(steps, 500)

    def lr_at(s):  # linear warm-up then cosine, like edgeopt's LrSchedule
        if s < warmup:
            return lr * (s + 1) / warmup
        return lr * 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(steps - warmup, 1)))

    loss_fn = nn.CrossEntropyLoss()
    model.train()
    order = torch.randperm(x.shape[0])
    t = time.perf_counter()
    loss_sum, samples = 0.0, 0
    for s in range(steps):
        idx = order[s * batch:(s + 1) * batch]
        xb, yb = x[idx], y[idx]
        for g in opt.param_groups:
            g["lr"] = lr_at(s)
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        loss_sum += loss.item() * xb.shape[0]
        samples += xb.shape[0]
    secs = time.perf_counter() - t
    return {"samples_per_s": samples / secs, "seconds": secs, "train_loss": loss_sum / samples, "parameters": params,
            "torch": torch.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("edgeopt", help="the edgeopt binary")
    ap.add_argument("--steps", type=int, default=50, help="training steps of batch 128 (<= 468)")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--pin", action="store_true", help="pin both to CPUs 0..T-1")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=1, help="runs of each, alternating; the best counts")
    ap.add_argument("--json", default="", help="also write the results here")
    a = ap.parse_args()
    if a.steps < 1 or a.steps > 468:
        sys.exit("--steps must be in 1..468 (one epoch of Fashion-MNIST at batch 128)")
    # Before torch (and its OpenMP runtime) loads; an explicit setting in the environment wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    eo_runs, th_runs = [], []
    for _ in range(max(a.repeat, 1)):
        eo_runs.append(run_edgeopt(os.path.abspath(a.edgeopt), a.steps, a.threads, a.pin, a.seed))
        th_runs.append(run_torch(a.steps, a.threads, a.pin, a.seed))
    eo = max(eo_runs, key=lambda r: r["samples_per_s"])
    th = max(th_runs, key=lambda r: r["samples_per_s"])
    ratio = eo["samples_per_s"] / th["samples_per_s"]
    print("vision_cnn on Fashion-MNIST, batch 128, %d steps, %d thread(s)%s, best of %d, load average %.1f, "
          "OMP_WAIT_POLICY=%s" % (a.steps, a.threads, " pinned" if a.pin else "", len(eo_runs), os.getloadavg()[0],
                                  os.environ["OMP_WAIT_POLICY"]))
    print("  edgeopt  %9.1f samples/s  (%.1f s, loss %.4f, %s parameters)" % (
        eo["samples_per_s"], eo["seconds"], eo["train_loss"], eo["parameters"]))
    print("  pytorch  %9.1f samples/s  (%.1f s, loss %.4f, %s parameters, torch %s)" % (
        th["samples_per_s"], th["seconds"], th["train_loss"], th["parameters"], th["torch"]))
    print("  edgeopt / pytorch = %.3f" % ratio)
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"steps": a.steps, "threads": a.threads, "pin": a.pin, "edgeopt": eo, "pytorch": th,
                       "edgeopt_runs": [r["samples_per_s"] for r in eo_runs],
                       "pytorch_runs": [r["samples_per_s"] for r in th_runs],
                       "ratio": ratio, "loadavg": os.getloadavg()}, f, indent=2)


if __name__ == "__main__":
    main()

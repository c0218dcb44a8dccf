#!/usr/bin/env python3
"""Unstructured pruning: edgeopt against PyTorch's own torch.nn.utils.prune, same model, same
starting weights, same data, same schedule; prints both test accuracies side by side.

  /usr/bin/python3 bench/compress_vs_torch.py EDGEOPT_BIN --model cnn.onnx [--sparsity 0.9] [--rounds 3]
      [--epochs-per-round 1] [--final-epochs 2] [--layer-wise] [--max-steps-per-epoch N] [--json out.json]

The model is a vision_cnn trained by `edgeopt train` (Fashion-MNIST, width 32, depth 2): PyTorch
rebuilds the same network (Conv3x3 1->32 BN ReLU MaxPool, Conv3x3 32->64 BN ReLU MaxPool, Linear
3136->128 ReLU, Linear 128->10) and loads the ONNX weights, so both start from identical weights.
Schedule (both): `rounds` rounds; round i prunes to the polynomial (Zhu & Gupta 2017) sparsity
s_i = s_f (1 - (1 - i/rounds)^3) by L1 magnitude (global threshold unless --layer-wise) over the
weights with >= 1024 entries (edgeopt's --min-weights default: block1 conv, fc1, fc2), then
fine-tunes epochs_per_round epochs with the masks held; then final_epochs more at s_f. Fine-tuning
(both): AdamW lr 1e-3, weight decay 1e-4, batch 128, gradient clip 5, linear warm-up (one epoch,
at most 500 steps) then cosine per round, best validation weights kept per round.
PyTorch side: prune.global_unstructured / prune.l1_unstructured with amount (s_i - s_{i-1}) /
(1 - s_{i-1}), since PyTorch applies an iterative amount to the weights still unpruned.
Data: edgeopt holds out 6000 training images for validation by its seed; PyTorch holds out 6000
by its own seed (same size, not the same images). Test accuracy is on the full 10000-image test set.
"""
import argparse
import copy
import gzip
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

FASHION = "/usr/share/datasets/fashion-mnist"


def read_idx(path):
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def schedule(final, rounds):
    return [final * (1 - (1 - i / rounds) ** 3) for i in range(1, rounds + 1)]


def run_edgeopt(binary, a):
    with tempfile.TemporaryDirectory(prefix="edgeopt-prune-") as d:
        rep = os.path.join(d, "r.json")
        cmd = [binary, "prune", a.model, "--data", "fashion-mnist", "--sparsity", str(a.sparsity), "--gradual-rounds",
               str(a.rounds), "--epochs", str(a.rounds * a.epochs_per_round), "--final-epochs", str(a.final_epochs),
               "--seed", str(a.seed), "--out", os.path.join(d, "m.onnx"), "--report", rep, "--no-progress",
               "--latency-runs", "0"]
        if not a.layer_wise:
            cmd.append("--global")
        if a.max_steps_per_epoch:
            cmd += ["--max-steps-per-epoch", str(a.max_steps_per_epoch)]
        r = subprocess.run(cmd, capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit("edgeopt prune failed:\n%s" % (r.stderr or r.stdout)[-3000:])
        with open(rep) as f:
            j = json.load(f)
    return {"before": j["before"]["test"]["accuracy"], "after": j["after"]["test"]["accuracy"],
            "sparsity": j["gradual"]["final"]["sparsity"],
            "layers": {w["name"]: w["sparsity"] for w in j["gradual"]["final"]["weights"]}}


def run_torch(a):
    import onnx
    import torch
    from onnx import numpy_helper
    from torch import nn
    from torch.nn.utils import prune

    torch.manual_seed(a.seed)
    torch.set_num_threads(a.threads)
    w = {t.name: torch.from_numpy(numpy_helper.to_array(t).copy()) for t in onnx.load(a.model).graph.initializer}

    def block(cin, cout):
        return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1),
                nn.ReLU(), nn.MaxPool2d(2, 2)]

    model = nn.Sequential(*block(1, 32), *block(32, 64), nn.Flatten(), nn.Linear(64 * 7 * 7, 128), nn.ReLU(),
                          nn.Linear(128, 10))
    with torch.no_grad():
        for i, b in ((0, 0), (4, 1)):
            model[i].weight.copy_(w[f"block{b}.conv.weight"])
            bn = model[i + 1]
            for attr, key in (("weight", "weight"), ("bias", "bias"), ("running_mean", "running_mean"),
                              ("running_var", "running_var")):
                getattr(bn, attr).copy_(w[f"block{b}.conv.bn.{key}"])
        for i, name in ((9, "head.fc1"), (11, "head.fc2")):
            model[i].weight.copy_(w[f"{name}.weight"])
            model[i].bias.copy_(w[f"{name}.bias"])

    x = read_idx(os.path.join(FASHION, "train-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    y = read_idx(os.path.join(FASHION, "train-labels-idx1-ubyte.gz")).astype(np.int64)
    xt = read_idx(os.path.join(FASHION, "t10k-images-idx3-ubyte.gz")).astype(np.float32) / 255.0
    yt = read_idx(os.path.join(FASHION, "t10k-labels-idx1-ubyte.gz")).astype(np.int64)
    perm = np.random.default_rng(a.seed).permutation(len(x))
    val_idx, tr_idx = perm[:6000], perm[6000:]
    mean, std = x[tr_idx].mean(), x[tr_idx].std()
    norm = lambda v: torch.from_numpy((v - mean) / std).unsqueeze(1).contiguous()  # noqa: E731
    xtr, ytr = norm(x[tr_idx]), torch.from_numpy(y[tr_idx])
    xva, yva = norm(x[val_idx]), torch.from_numpy(y[val_idx])
    xte, yte = norm(xt), torch.from_numpy(yt)

    def accuracy(xs, ys):
        model.eval()
        with torch.no_grad():
            return float(sum((model(xs[i:i + 500]).argmax(1) == ys[i:i + 500]).sum() for i in range(0, len(xs), 500))) / len(xs)

    before = accuracy(xte, yte)
    targets = [(model[4], "weight"), (model[9], "weight"), (model[11], "weight")]  # >= 1024 entries
    loss_fn = nn.CrossEntropyLoss()

    def fine_tune(epochs, seed):
        steps_per_epoch = len(xtr) // a.batch
        if a.max_steps_per_epoch:
            steps_per_epoch = min(steps_per_epoch, a.max_steps_per_epoch)
        total, warmup = epochs * steps_per_epoch, min(steps_per_epoch, 500)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=a.lr, weight_decay=1e-4)
        g = torch.Generator().manual_seed(seed)
        best, best_state, step = -1.0, None, 0
        for _ in range(epochs):
            model.train()
            order = torch.randperm(len(xtr), generator=g)
            for s in range(steps_per_epoch):
                lr = a.lr * (step + 1) / warmup if step < warmup else \
                    a.lr * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(total - warmup, 1)))
                for pg in opt.param_groups:
                    pg["lr"] = lr
                idx = order[s * a.batch:(s + 1) * a.batch]
                opt.zero_grad(set_to_none=True)
                loss = loss_fn(model(xtr[idx]), ytr[idx])
                loss.backward()
                nn.utils.clip_grad_norm_(model.parameters(), 5.0)
                opt.step()
                step += 1
            v = accuracy(xva, yva)
            if v > best:
                best, best_state = v, copy.deepcopy(model.state_dict())
        model.load_state_dict(best_state)
        return best

    prev = 0.0
    for i, s in enumerate(schedule(a.sparsity, a.rounds)):
        amount = (s - prev) / (1 - prev)
        if a.layer_wise:
            for m, n in targets:
                prune.l1_unstructured(m, n, amount=amount)
        else:
            prune.global_unstructured(targets, pruning_method=prune.L1Unstructured, amount=amount)
        prev = s
        fine_tune(a.epochs_per_round, a.seed + i)
    if a.final_epochs:
        fine_tune(a.final_epochs, a.seed + a.rounds)
    layers = {name: float((m.weight == 0).float().mean()) for (m, _), name in
              zip(targets, ("block1.conv.weight", "head.fc1.weight", "head.fc2.weight"))}
    zeros = sum(int((m.weight == 0).sum()) for m, _ in targets)
    total = sum(m.weight.numel() for m, _ in targets)
    return {"before": before, "after": accuracy(xte, yte), "sparsity": zeros / total, "layers": layers,
            "torch": torch.__version__}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("edgeopt")
    ap.add_argument("--model", required=True, help="vision_cnn ONNX trained by `edgeopt train` on fashion-mnist")
    ap.add_argument("--sparsity", type=float, default=0.9)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--epochs-per-round", type=int, default=1)
    ap.add_argument("--final-epochs", type=int, default=2)
    ap.add_argument("--layer-wise", action="store_true", help="per-layer thresholds (default: global)")
    ap.add_argument("--max-steps-per-epoch", type=int, default=0)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    e = run_edgeopt(a.edgeopt, a)
    t = run_torch(a)
    print(f"unstructured pruning to {a.sparsity:.0%} ({'layer-wise' if a.layer_wise else 'global'}), "
          f"{a.rounds} rounds x {a.epochs_per_round} epoch(s) + {a.final_epochs} final epoch(s)"
          + (f", max {a.max_steps_per_epoch} steps/epoch" if a.max_steps_per_epoch else ""))
    print(f"{'':28s} {'edgeopt':>10s} {'PyTorch':>10s}")
    print(f"{'test accuracy before':28s} {100 * e['before']:9.2f}% {100 * t['before']:9.2f}%")
    print(f"{'test accuracy after':28s} {100 * e['after']:9.2f}% {100 * t['after']:9.2f}%")
    print(f"{'sparsity (pruned weights)':28s} {100 * e['sparsity']:9.2f}% {100 * t['sparsity']:9.2f}%")
    for k in t["layers"]:
        print(f"{'  ' + k:28s} {100 * e['layers'].get(k, float('nan')):9.2f}% {100 * t['layers'][k]:9.2f}%")
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"edgeopt": e, "torch": t, "args": vars(a)}, f, indent=2)


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""`edgeopt train` / `eval` / `data` end to end on small real data, and their errors: a missing
data file, a CSV with a bad row, a label column that does not exist, and a model whose output does
not fit the loss each give exactly one `edgeopt: error:` line naming the file/line/column, exit 1.

Usage: /usr/bin/python3 tests/cli_train_tests.py --edgeopt build/src/cli/edgeopt
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

FAILURES = []


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what)
    if not cond:
        FAILURES.append(what)


def run(edgeopt, *args):
    return subprocess.run([edgeopt, *args], capture_output=True, text=True, timeout=600)


def expect_error(edgeopt, label, args, needles):
    p = run(edgeopt, *args)
    lines = [l for l in p.stderr.splitlines() if l.startswith("edgeopt: error:")]
    check(p.returncode == 1, f"{label}: exit code 1 (got {p.returncode}: {p.stderr.strip()[-300:]!r})")
    check(len(lines) == 1, f"{label}: one 'edgeopt: error:' line (got {lines!r})")
    for n in needles:
        check(n in p.stderr, f"{label}: message mentions {n!r} (got {p.stderr.strip()[-300:]!r})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeopt", required=True)
    e = ap.parse_args().edgeopt
    with tempfile.TemporaryDirectory() as tmp:
        # Happy path: a forecaster on real weather observations, exported, re-evaluated from ONNX.
        out = os.path.join(tmp, "lstm.onnx")
        rep = os.path.join(tmp, "report.json")
        p = run(e, "train", "--model", "env_gru", "--data", "seattle-weather", "--epochs", "2", "--seed", "3",
                "--width", "16", "--depth", "1", "--out", out, "--report", rep, "--no-progress")
        check(p.returncode == 0, f"train env_gru exits 0 ({p.stderr.strip()[-300:]!r})")
        if p.returncode == 0:
            r = json.load(open(rep))
            check(len(r["epochs"]) == 2 and r["test"]["rmse"] > 0, "report has 2 epochs and a test RMSE")
            q = run(e, "eval", out, "--data", "seattle-weather", "--json", "--seed", "3")
            check(q.returncode == 0, f"eval exits 0 ({q.stderr.strip()[-200:]!r})")
            j = json.loads(q.stdout)
            for k in ("mae", "rmse", "baseline_rmse", "linear_rmse"):
                check(k in j, f"eval --json has {k}")
            check(abs(j["rmse"] - r["test"]["rmse"]) < 1e-6 * max(1, j["rmse"]),
                  f"eval of the exported ONNX reproduces the training report's RMSE ({j['rmse']} vs {r['test']['rmse']})")
        # Resume: a checkpointed run continued for one more epoch.
        ck = os.path.join(tmp, "ck.bin")
        args = ["train", "--model", "safety_mlp", "--data", "wsn-events", "--seed", "1", "--out",
                os.path.join(tmp, "m.onnx"), "--checkpoint", ck, "--no-progress"]
        p1 = run(e, *args, "--epochs", "1")
        p2 = run(e, *args, "--epochs", "2", "--resume")
        check(p1.returncode == 0 and p2.returncode == 0 and "resumed from" in p2.stderr,
              f"checkpoint + --resume continue the run ({p2.stderr.strip()[-200:]!r})")

        expect_error(e, "missing data file", ["train", "--model", "safety_mlp", "--data", os.path.join(tmp, "nope.csv"),
                                              "--label", "y", "--epochs", "1", "--out", os.path.join(tmp, "x.onnx")],
                     ["nope.csv"])
        bad = os.path.join(tmp, "bad.csv")
        with open(bad, "w") as f:
            f.write("a,b,label\n1,2,x\n3,oops,y\n5,6,x\n")
        expect_error(e, "CSV bad row", ["train", "--model", "safety_mlp", "--data", bad, "--label", "label",
                                        "--epochs", "1", "--out", os.path.join(tmp, "x.onnx")],
                     ["bad.csv", ":3", "oops"])
        good = os.path.join(tmp, "good.csv")
        with open(good, "w") as f:
            f.write("a,b,label\n" + "".join(f"{i},{i % 3},{'x' if i % 2 else 'y'}\n" for i in range(40)))
        expect_error(e, "missing label column", ["train", "--model", "safety_mlp", "--data", good, "--label", "klass",
                                                 "--epochs", "1", "--out", os.path.join(tmp, "x.onnx")],
                     ["klass", "label"])
        # A 2-class model fine-tuned on a 3-class table with the same features: the output cannot fit.
        two = os.path.join(tmp, "two.onnx")
        p = run(e, "train", "--model", "safety_mlp", "--data", good, "--label", "label", "--epochs", "1",
                "--out", two, "--no-progress")
        check(p.returncode == 0, f"train safety_mlp on a CSV table exits 0 ({p.stderr.strip()[-200:]!r})")
        three = os.path.join(tmp, "three.csv")
        with open(three, "w") as f:
            f.write("a,b,label\n" + "".join(f"{i},{i % 5},{'xyz'[i % 3]}\n" for i in range(40)))
        expect_error(e, "output does not fit the loss", ["train", "--model", two, "--data", three, "--label", "label",
                                                         "--epochs", "1", "--out", os.path.join(tmp, "x.onnx"),
                                                         "--no-progress"],
                     ["f32[", "3-class"])
    if FAILURES:
        print(f"{len(FAILURES)} check(s) failed")
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())

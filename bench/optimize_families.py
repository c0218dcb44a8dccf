#!/usr/bin/python3
"""`edgeopt optimize --auto` on the three model families, against the reference paper's rows.

For each family (vision_cnn on Fashion-MNIST, env_lstm on seattle-weather, safety_mlp on wsn-events)
this trains the baseline, runs the default automatic search and prints, from each report.json:
accuracy drop (points; RMSE increase in % for the forecaster), latency of the chosen model vs the
unoptimized fp32 model in ONNX Runtime (same machine, same threads, timed by the optimizer), size
reduction, and whether the paper's rows (92.5% -> 91.8% accuracy: -0.7 point; 120 -> 60 ms: 2x;
45% smaller) and this project's targets (<= 0.5 point / +2% RMSE, >= 4x vs ORT fp32, >= 80%
smaller) are met. Not part of CI (about 10-20 minutes per family on 2 cores).

Usage: /usr/bin/python3 bench/optimize_families.py [--edgeopt build/src/cli/edgeopt] [--out out/families]
       [--families vision_cnn,env_lstm,safety_mlp] [--threads 1]
"""
import argparse
import json
import os
import subprocess
import sys
import time

FAMILIES = {
    "vision_cnn": ("fashion-mnist", 8),
    "env_lstm": ("seattle-weather", 30),
    "safety_mlp": ("wsn-events", 30),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeopt", default="build/src/cli/edgeopt")
    ap.add_argument("--out", default="out/families")
    ap.add_argument("--families", default=",".join(FAMILIES))
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rows = []
    for fam in a.families.split(","):
        data, epochs = FAMILIES[fam]
        out = os.path.join(a.out, fam)
        t0 = time.time()
        p = subprocess.run([a.edgeopt, "optimize", fam, "--data", data, "--auto", "--epochs", str(epochs),
                            "--seed", str(a.seed), "--threads", str(a.threads), "--out", out, "--no-progress"],
                           capture_output=True, text=True)
        if p.returncode != 0:
            print(f"{fam}: optimize failed: {p.stderr[-500:]}", file=sys.stderr)
            sys.exit(1)
        with open(os.path.join(out, "report.json")) as f:
            r = json.load(f)
        b, best, s = r["baseline"], r["best"], r.get("summary", {})
        cls = r["model"]["metric"] == "accuracy"
        if best is None:
            rows.append((fam, "none", None, None, None, None, time.time() - t0))
            continue
        drop = best["accuracy_drop_points"] if cls else best["rmse_increase_pct"]
        vs_ort = s.get("speedup_vs_ort_fp32")
        rows.append((fam, best["name"], drop, s["speedup_vs_baseline"], vs_ort, s["size_reduction_pct"],
                     r["search"]["elapsed_s"], cls, b, best))
    print(f"\n{'family':<11} {'chosen':<22} {'drop':>12} {'vs own fp32':>11} {'vs ORT fp32':>11} {'smaller':>8} "
          f"{'search s':>8}  paper rows / our targets")
    for row in rows:
        if row[1] == "none":
            print(f"{row[0]:<11} no candidate met the budgets")
            continue
        fam, name, drop, sp, vs_ort, smaller, secs, cls, b, best = row
        unit = "pt" if cls else "% RMSE"
        paper = drop <= (0.7 if cls else 2.0) and (vs_ort or 0) >= 2.0 and smaller >= 45
        ours = drop <= (0.5 if cls else 2.0) and (vs_ort or 0) >= 4.0 and smaller >= 80
        print(f"{fam:<11} {name:<22} {drop:>+9.2f} {unit:<2} {sp:>10.2f}x {(vs_ort or float('nan')):>10.2f}x "
              f"{smaller:>7.1f}% {secs:>8.0f}  {'beats' if paper else 'misses'} / {'met' if ours else 'not met'}")
        print(f"{'':<11} baseline {('%.2f%%' % (100 * b['accuracy'])) if cls else ('RMSE %.4f' % b['rmse'])}, "
              f"{b['latency_ms']:.4f} ms, {b['size_bytes']} B -> "
              f"{('%.2f%%' % (100 * best['accuracy'])) if cls else ('RMSE %.4f' % best['rmse'])}, "
              f"{best['latency_ms']:.4f} ms, {best['size_bytes']} B; ORT fp32 {best.get('ort_fp32_latency_ms', float('nan')):.4f} ms")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""`edgeopt optimize` end to end on real data, small enough for CI (a Fashion-MNIST subset, capped
training steps; seattle-weather for the forecaster): the report holds every field the docs promise
for the baseline, the best and every candidate; the numbers in it are real (the best model's file,
evaluated by `edgeopt eval`, has the accuracy the card says; sizes are the files' sizes); the search
is reproducible with a seed; an interrupted/re-run search resumes from its files; a latency budget
the baseline misses is met and the rejected candidates say why; bad recipes and flags give one clear
`edgeopt: error:` line.

Usage: /usr/bin/python3 tests/cli_optimize_tests.py --edgeopt build/src/cli/edgeopt
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

FAILURES = []
QUICK = ["--epochs", "1", "--fine-tune-epochs", "1", "--max-steps-per-epoch", "12",
         "--latency-rounds", "2", "--latency-runs", "10", "--no-progress", "--no-ort"]
CNN_DATA = ["--data", "fashion-mnist", "--max-train", "3000", "--max-test", "500", "--seed", "1"]
CARD_FIELDS = ["id", "name", "steps", "latency_ms", "latency_p99_ms", "latency_source", "size_bytes",
               "peak_memory_mb", "energy_mj_per_inference", "energy_source", "status", "reject_reasons",
               "pareto", "path"]


def check(cond, what):
    print(("ok:   " if cond else "FAIL: ") + what, flush=True)
    if not cond:
        FAILURES.append(what)


def run(edgeopt, *args, timeout=900):
    return subprocess.run([edgeopt, *args], capture_output=True, text=True, timeout=timeout)


def load_report(out):
    with open(os.path.join(out, "report.json")) as f:
        return json.load(f)


def card_ok(c, metric):
    missing = [k for k in CARD_FIELDS if k not in c]
    if metric == "accuracy":
        good = 0 < c.get("accuracy", -1) <= 1
    else:
        good = c.get("rmse", 0) > 0
    return not missing and good and c["latency_ms"] > 0 and c["size_bytes"] > 0, missing


def test_cnn_auto(edgeopt, work):
    out = os.path.join(work, "cnn")
    p = run(edgeopt, "optimize", "vision_cnn", *CNN_DATA, "--auto", "--out", out, *QUICK)
    check(p.returncode == 0, "optimize vision_cnn --auto runs " + repr(p.stderr[-400:]))
    if p.returncode != 0:
        return
    r = load_report(out)
    check(r["model"]["metric"] == "accuracy" and r["data"]["eval_samples"] == 500, "report names the metric and data")
    for c in [r["baseline"], r["best"], *r["candidates"]]:
        ok, missing = card_ok(c, "accuracy")
        check(ok, f"card {c.get('id')} {c.get('name')} has every field (missing {missing})")
    check(len(r["candidates"]) >= 10, f"the auto search built {len(r['candidates'])} candidates")
    names = " ".join(c["name"] for c in r["candidates"])
    check(all(k in names for k in ("int8", "fp16", "prune", "lowrank")), "auto search covers precision, pruning, low rank")
    check(len(r["pareto"]) >= 1 and all(any(c["id"] == i and c["pareto"] for c in [r["baseline"], *r["candidates"]])
                                        for i in r["pareto"]), "the Pareto front lists flagged candidates")
    # Real numbers: sizes are the files, the best model's accuracy is what `edgeopt eval` measures.
    best = r["best"]
    check(best is not None and best["status"] == "best", "a best candidate is chosen")
    path = os.path.join(out, best["path"])
    check(os.path.getsize(path) == best["size_bytes"], "best size_bytes is its file's size")
    e = run(edgeopt, "eval", path, *CNN_DATA, "--json")
    acc = json.loads(e.stdout)["accuracy"] if e.returncode == 0 else -1
    check(abs(acc - best["accuracy"]) < 1e-9, f"edgeopt eval of the best file gives the card's accuracy ({acc} vs {best['accuracy']})")
    base_acc = r["baseline"]["val_accuracy"]
    check(base_acc - best["val_accuracy"] <= r["budgets"]["max_accuracy_drop"] / 100 + 1e-12,
          "the best candidate is within the accuracy budget on the validation split")
    check(best["latency_ms"] < r["baseline"]["latency_ms"], "the best candidate is faster than the baseline")
    check(r["summary"]["size_reduction_pct"] > 50, f"the best is {r['summary']['size_reduction_pct']:.1f}% smaller")
    check(len(r.get("layers", [])) > 0, "per-layer latency of baseline and best")

    check_html(out, r)

    # Resume: the same command again rebuilds nothing and gives the same qualities.
    p2 = run(edgeopt, "optimize", "vision_cnn", *CNN_DATA, "--auto", "--out", out, *QUICK)
    r2 = load_report(out) if p2.returncode == 0 else {"search": {}}
    check(r2["search"].get("reused") == len(r["candidates"]) and r2["search"].get("resumed"),
          f"a rerun resumes from the files ({r2['search'].get('reused')} of {len(r['candidates'])} reused)")
    check(p2.returncode == 0 and [c["accuracy"] for c in r2["candidates"]] == [c["accuracy"] for c in r["candidates"]],
          "resumed candidates keep their accuracies")

    # A latency budget the baseline misses: met, and the report says what was rejected and why.
    budget = 0.75 * r["baseline"]["latency_ms"]
    p3 = run(edgeopt, "optimize", "vision_cnn", *CNN_DATA, "--auto", "--out", out, "--max-latency-ms", f"{budget:.6f}", *QUICK)
    r3 = load_report(out) if p3.returncode == 0 else None
    check(r3 is not None, "optimize with a latency budget runs " + repr(p3.stderr[-300:]))
    if r3:
        slow = [c for c in r3["candidates"] if c["latency_ms"] > budget]
        check(all(c["status"] == "rejected" and any("latency" in w for w in c["reject_reasons"]) for c in slow),
              f"the {len(slow)} candidates over the {budget:.4f} ms budget are rejected with the latency as the reason")
        check(any("latency" in w for w in r3["baseline"]["reject_reasons"]), "the baseline misses the budget, and says so")
        check(r3["best"] is None or r3["best"]["latency_ms"] <= budget,
              "the chosen model meets the latency budget" + ("" if r3["best"] is None else f" ({r3['best']['latency_ms']:.4f} ms)"))
        check(r3["best"] is not None, "some candidate meets the budget")
    return r


def check_html(out, r):
    """report.html renders in headless Chromium (Debian `chromium`), is self-contained, and its
    charts carry the report's numbers (plotted values are in data-value attributes)."""
    import shutil
    html = open(os.path.join(out, "report.html")).read()
    check("http://" not in html.replace("http://www.w3.org", "") and "https://" not in html,
          "report.html loads nothing from the network")
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if not browser:
        check(False, "chromium is installed (scripts/install-deps.sh installs it)")
        return
    p = subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
                        "file://" + os.path.join(out, "report.html")], capture_output=True, text=True, timeout=120)
    dom = p.stdout
    check(p.returncode == 0 and "<svg" in dom, "Chromium renders report.html with its SVG charts")
    for key in ("latency_ms", "accuracy", "size_bytes"):
        v = json.dumps(r["best"][key])
        check(f'"{v}"' in dom, f"the rendered report carries the best candidate's {key} ({v})")
    check(json.dumps(r["baseline"]["latency_ms"]) in dom, "the rendered report carries the baseline latency")


def test_reproducible(edgeopt, work, first):
    """Same seed, fresh directory: the same models (accuracies equal to the last digit)."""
    recipe = os.path.join(work, "recipe.json")
    with open(recipe, "w") as f:
        json.dump({"candidates": [
            {"name": "p50", "steps": [{"prune": {"flops_ratio": 0.5}}, {"fine_tune": {"epochs": 1, "distill": True}}]},
            {"name": "p50-int8", "steps": [{"prune": {"flops_ratio": 0.5}}, {"fine_tune": {"epochs": 1, "distill": True}},
                                           {"quantize": {"dtype": "int8", "calib": "percentile"}}]}]}, f)
    accs = []
    for k in range(2):
        out = os.path.join(work, f"repro{k}")
        p = run(edgeopt, "optimize", "vision_cnn", *CNN_DATA, "--recipe", recipe, "--out", out, *QUICK)
        check(p.returncode == 0, f"recipe run {k} " + repr(p.stderr[-300:]))
        if p.returncode != 0:
            return
        r = load_report(out)
        check(r["search"]["mode"] == "recipe" and [c["name"] for c in r["candidates"]] == ["p50", "p50-int8"],
              "the recipe's candidates are built, in order")
        accs.append([r["baseline"]["accuracy"]] + [c["accuracy"] for c in r["candidates"]])
    check(accs[0] == accs[1], f"two runs with seed 1 give identical accuracies {accs[0]} / {accs[1]}")


def test_interrupted(edgeopt, work):
    """Killed (SIGKILL) after its first candidate: the rerun reuses what was finished and gives the
    same models as the uninterrupted run of the same recipe (test_reproducible's repro0)."""
    import signal
    import time
    out = os.path.join(work, "killed")
    recipe = os.path.join(work, "recipe.json")
    cmd = [edgeopt, "optimize", "vision_cnn", *CNN_DATA, "--recipe", recipe, "--out", out, *QUICK]
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = os.path.join(out, "candidates", "c01.json")
    # Sanitized builds run several times slower (tests/CMakeLists.txt sets the scale).
    deadline = time.time() + 300 * float(os.environ.get("EDGEOPT_TEST_TIME_SCALE", "1"))
    while time.time() < deadline and not os.path.exists(first) and p.poll() is None:
        time.sleep(0.05)
    p.send_signal(signal.SIGKILL)
    p.wait()
    check(os.path.exists(first), "the first candidate's card was written before the kill")
    q = run(edgeopt, *cmd[1:])
    check(q.returncode == 0, "the rerun after SIGKILL completes " + repr(q.stderr[-300:]))
    if q.returncode != 0:
        return
    r = load_report(out)
    ref = load_report(os.path.join(work, "repro0"))
    check(r["search"]["reused"] >= 1 and r["search"]["resumed"], f"the rerun reused {r['search']['reused']} finished candidate(s)")
    check([c["accuracy"] for c in r["candidates"]] == [c["accuracy"] for c in ref["candidates"]],
          "the resumed run's models equal the uninterrupted run's")


def test_forecaster(edgeopt, work):
    out = os.path.join(work, "lstm")
    recipe = os.path.join(work, "lstm.yaml")
    with open(recipe, "w") as f:
        f.write("candidates:\n"
                "  - name: int8\n"
                "    steps: [{quantize: {dtype: int8}}]\n"
                "  - name: pruned\n"
                "    steps:\n"
                "      - prune: {flops_ratio: 0.5}\n"
                "      - fine_tune: {epochs: 2, distill: true}\n")
    p = run(edgeopt, "optimize", "env_lstm", "--data", "seattle-weather", "--recipe", recipe, "--out", out,
            "--epochs", "3", "--latency-rounds", "2", "--latency-runs", "10", "--no-progress", "--no-ort")
    check(p.returncode == 0, "optimize env_lstm --recipe (YAML) runs " + repr(p.stderr[-300:]))
    if p.returncode != 0:
        return
    r = load_report(out)
    check(r["model"]["metric"] == "rmse", "the forecaster's metric is RMSE")
    for c in [r["baseline"], *r["candidates"]]:
        ok, missing = card_ok(c, "rmse")
        check(ok and "rmse_increase_pct" in c, f"forecast card {c['name']} has RMSE and its increase (missing {missing})")


def test_errors(edgeopt, work):
    bad = os.path.join(work, "bad.yaml")
    with open(bad, "w") as f:
        f.write("steps:\n  - prune: {flops_ratio: 2}\n")
    p = run(edgeopt, "optimize", "vision_cnn", *CNN_DATA, "--recipe", bad, "--out", os.path.join(work, "bad"), *QUICK)
    lines = [l for l in p.stderr.splitlines() if l.startswith("edgeopt: error:")]
    check(p.returncode == 1 and len(lines) == 1 and bad in lines[0] and "flops_ratio" in lines[0],
          "a bad recipe is one error line naming the file and field: " + repr(p.stderr[-200:]))
    p = run(edgeopt, "optimize", "vision_cnn", *CNN_DATA, "--recipe", bad, "--auto", "--out", os.path.join(work, "bad"))
    check(p.returncode == 1 and "not both" in p.stderr, "--recipe with --auto is refused")
    p = run(edgeopt, "optimize", "no_such_model", *CNN_DATA, "--out", os.path.join(work, "bad2"), *QUICK)
    check(p.returncode == 1 and "no_such_model" in p.stderr and "vision_cnn" in p.stderr,
          "an unknown zoo name lists the known ones")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--edgeopt", required=True)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as work:
        test_errors(a.edgeopt, work)
        first = test_cnn_auto(a.edgeopt, work)
        test_reproducible(a.edgeopt, work, first)
        test_interrupted(a.edgeopt, work)
        test_forecaster(a.edgeopt, work)
    print(f"{len(FAILURES)} failed")
    sys.exit(1 if FAILURES else 0)


if __name__ == "__main__":
    main()

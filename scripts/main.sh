#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the main job on real data:
# `edgeopt optimize` trains vision_cnn on Fashion-MNIST, builds and measures compressed and
# quantized candidates, picks the fastest within the accuracy budget and writes a report.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
BUILD=${EDGEOPT_BUILD_DIR:-build}
E="$BUILD/src/cli/edgeopt"
OUT=${EDGEOPT_OUT:-out}
mkdir -p "$OUT"
EPOCHS=${EDGEOPT_EPOCHS:-8}
OPT="$OUT/optimize"
echo "== 1. optimize vision_cnn on Fashion-MNIST: train ($EPOCHS epochs, seed 1), then search (rerun resumes)"
"$E" optimize vision_cnn --data fashion-mnist --auto --epochs "$EPOCHS" --seed 1 --max-accuracy-drop 0.5 --out "$OPT"
if [ ! -f "$OPT/best.onnx" ]; then
  echo "no candidate met the budgets: see $OPT/report.md"
  exit 0
fi
echo "== 2. the chosen model on the held-out test set"
"$E" eval "$OPT/best.onnx" --data fashion-mnist --split test
echo "== 3. run it on a real test image"
"$E" data --data fashion-mnist --sample-out "$OUT/sample.npy" --index 0
"$E" run "$OPT/best.onnx" --input "input=$OUT/sample.npy" --output-dir "$OUT/run"
echo "== 4. batch-1 latency, baseline then the chosen model (1 thread)"
"$E" bench "$OPT/baseline.onnx" --threads 1 --iters 500
"$E" bench "$OPT/best.onnx" --threads 1 --iters 500
echo "main job done: the report is $OPT/report.html (also report.md, report.json)"

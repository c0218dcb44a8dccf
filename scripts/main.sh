#!/usr/bin/env bash
# The README's first command: install dependencies, build, and run the main job on real data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
BUILD=${EDGEOPT_BUILD_DIR:-build}
E="$BUILD/src/cli/edgeopt"
OUT=${EDGEOPT_OUT:-out}
mkdir -p "$OUT"
EPOCHS=${EDGEOPT_EPOCHS:-8}
echo "== 1. train vision_cnn on Fashion-MNIST ($EPOCHS epochs, seed 1)"
"$E" train --model vision_cnn --data fashion-mnist --epochs "$EPOCHS" --seed 1 \
  --out "$OUT/vision_cnn.onnx" --report "$OUT/train_report.json"
echo "== 2. evaluate on the held-out test set"
"$E" eval "$OUT/vision_cnn.onnx" --data fashion-mnist --split test
echo "== 3. inspect the exported model"
"$E" inspect "$OUT/vision_cnn.onnx"
echo "== 4. run it on a real test image"
"$E" data --data fashion-mnist --sample-out "$OUT/sample.npy" --index 0
"$E" run "$OUT/vision_cnn.onnx" --input "input=$OUT/sample.npy" --output-dir "$OUT/run"
echo "== 5. quantize it to int8 (post-training, per-channel weights, 512 calibration images)"
"$E" quantize "$OUT/vision_cnn.onnx" --data fashion-mnist --method ptq --calib minmax --per-channel --seed 1 \
  --out "$OUT/vision_cnn_int8.onnx" --report "$OUT/quantize_report.json" --no-progress
echo "== 6. batch-1 latency, fp32 then int8 (1 thread)"
"$E" bench "$OUT/vision_cnn.onnx" --threads 1 --iters 200
"$E" bench "$OUT/vision_cnn_int8.onnx" --threads 1 --iters 200
echo "main job done: results in $OUT/"

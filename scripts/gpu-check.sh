#!/bin/bash
# Runs on a lent GPU machine, in the repo root, after scripts/gpu-pack.sh here (docs/cuda.md):
#   1. cuda_test: every op and model family on CUDA against the CPU reference (fp32, fp16, int8);
#   2. the torchvision models exported there (tests/peers/export_models.py, as on this machine);
#   3. the optimize report's measured GPU rows (optimize_test's CudaPlatformRows.*);
#   4. bench/cuda_vs_ort.py: edgeopt's CUDA backend vs ONNX Runtime's CUDA EP, batch 1 and 32, in
#      fp32 (both exact), tf32 (both TF32 tensor cores) and edgeopt fp16, with NVML power/memory.
# Results go to $OUT (the device tool's folder) or /tmp/gpu-out.
set -uo pipefail
OUT="${OUT:-/tmp/gpu-out}"; mkdir -p "$OUT"
D=.devrun
STAGE="${EDGEOPT_GPU_STAGES:-test,report,bench}"
nvidia-smi --query-gpu=name,driver_version,memory.total,power.limit --format=csv
# CUDA 13 libraries: the image's toolkit and the nvidia-* wheels beside its PyTorch.
libdirs=""
for lib in libcudart.so.13 libcublasLt.so.13 libcublas.so.13 libcudnn.so.9 libcufft.so.12 libcurand.so.10 libnvrtc.so.13; do
  f=$(find /usr/local/cuda/ /usr/local/cuda/lib64/ /opt /usr/lib/x86_64-linux-gnu -name "$lib" 2>/dev/null | head -1)
  if [ -n "$f" ]; then libdirs="$libdirs:$(dirname "$f")"; else echo "not found: $lib"; fi
done
export LD_LIBRARY_PATH="$PWD/$D/lib$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export EDGEOPT_REQUIRE_CUDA=1  # a GPU test that finds no device fails here instead of skipping
echo "LD_LIBRARY_PATH=$LD_LIBRARY_PATH"
if [[ "$STAGE" == *test* ]]; then
  timeout "${EDGEOPT_GPU_TEST_TIMEOUT:-240}" "$D/bin/cuda_test" --gtest_output="json:$OUT/cuda_test.json" \
    ${EDGEOPT_GPU_TEST_FILTER:+--gtest_filter=$EDGEOPT_GPU_TEST_FILTER} > "$OUT/cuda_test.log" 2>&1
  echo "cuda_test exit $?"
  grep -E "^\[  (PASSED|FAILED|SKIPPED) |^\[       OK|^\[  FAILED|Failure|error|Expected|Which is|cpu=" "$OUT/cuda_test.log" | head -80
fi
if [[ "$STAGE" == *report* ]]; then
  # The optimize report's GPU rows from the real bench program (CudaPlatformRows.*).
  EDGEOPT_CUDA_BENCH_PROGRAM="$PWD/$D/bin/edgeopt-cuda-bench" "$D/bin/optimize_test" --gtest_filter='CudaPlatformRows.*' 2>&1 | tail -12
fi
if [[ "$STAGE" == *bench* ]]; then
  PY=python3
  if [ -f /tmp/xfer/libonnxruntime_providers_cuda.so.xz ] && [ -f "$D/ort/onnxruntime_rest.tar.xz" ]; then
    mkdir -p /tmp/site
    "$PY" - <<'PYEOF'
import lzma, os, shutil, tarfile
D = ".devrun/ort"
with tarfile.open(os.path.join(D, "onnxruntime_rest.tar.xz")) as t:
    t.extractall("/tmp/site")
capi = "/tmp/site/onnxruntime/capi"
for src in [os.path.join(D, f) for f in os.listdir(D) if f.endswith(".xz") and not f.endswith(".tar.xz")] + \
        ["/tmp/xfer/libonnxruntime_providers_cuda.so.xz"]:
    dst = os.path.join(capi, os.path.basename(src)[:-3])
    with lzma.open(src) as f, open(dst, "wb") as g:
        shutil.copyfileobj(f, g, 1 << 24)
    os.chmod(dst, 0o755)
print("onnxruntime-gpu unpacked:", sorted(os.listdir(capi))[:40])
PYEOF
    export PYTHONPATH=/tmp/site
  else
    echo "no onnxruntime-gpu carried: ORT columns will say so"
  fi
  "$PY" -c "import onnxruntime as o; print('onnxruntime', o.__version__, o.__file__, o.get_available_providers())"
  mkdir -p /tmp/models
  cp "$D"/models/*.onnx /tmp/models/
  timeout 120 "$PY" tests/peers/export_models.py /tmp/models --only torch_mobilenet_v2,torch_resnet18 > /tmp/export.log 2>&1 ||
    { echo "export failed"; tail -20 /tmp/export.log; }
  M=(/tmp/models/vision_cnn.onnx /tmp/models/vision_cnn_int8.onnx /tmp/models/torch_mlp.onnx /tmp/models/torch_lstm.onnx
     /tmp/models/torch_mobilenet_v2.onnx /tmp/models/torch_resnet18.onnx)
  for dt in ${EDGEOPT_GPU_DTYPES:-fp32 tf32 fp16}; do
    rounds="${EDGEOPT_GPU_ROUNDS:-2}"
    [ "$dt" = fp16 ] && rounds=1  # no ORT fp16 model to match: one round, for edgeopt's own numbers
    PYTHONUNBUFFERED=1 "$PY" bench/cuda_vs_ort.py "$D/bin/edgeopt-cuda-bench" "${M[@]}" --python "$PY" --batches 1,32 \
      --dtype "$dt" --rounds "$rounds" --iters 200 --warmup 20 --json "$OUT/vs_ort_$dt.json" 2>&1 |
      tee -a "$OUT/vs_ort.txt"
  done
  # One run per model with the per-node kernel notes (which cuDNN algorithm, fused or not).
  for m in "${M[@]}"; do
    "$D/bin/edgeopt-cuda-bench" "$m" --batch 1 --iters 50 --json >> "$OUT/kernels_b1_fp32.jsonl" 2>&1
  done
fi

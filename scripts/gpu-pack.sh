#!/bin/bash
# Packs what a lent GPU machine (the `device` tool; docs/cuda.md "On a lent GPU") needs, into two
# git-ignored folders that its calls carry (64 MiB per call, no network there):
#   .devrun/   the CUDA programs (cuda_test, edgeopt-cuda-bench), the Debian shared libraries they
#              load that the GPU image lacks, the small bench models, onnxruntime-gpu's Python
#              package and two of its libraries (xz);
#   .devxfer/  onnxruntime-gpu's CUDA provider, pruned to sm_90 (bench/prune_fatbin.py) and xz'd:
#              ~52 MB, so it travels in a call of its own, first, and waits in /tmp/xfer there.
# Usage: bash scripts/gpu-pack.sh [BUILD_DIR] [ORT_GPU_WHEEL]   (then scripts/gpu-check.sh there)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BUILD="${1:-$ROOT/build}"
WHEEL="${2:-}"
cd "$ROOT"
for p in .devrun .devxfer; do grep -qx "/$p/" .git/info/exclude 2>/dev/null || echo "/$p/" >> .git/info/exclude; done
rm -rf .devrun && mkdir -p .devrun/bin .devrun/lib .devrun/models .devrun/ort
cp "$BUILD/src/cuda/cuda_test" "$BUILD/src/cli/edgeopt-cuda-bench" "$BUILD/src/optimize/optimize_test" .devrun/bin/
strip .devrun/bin/*
# Every non-glibc, non-CUDA library the programs load (the GPU image is another distribution).
for b in .devrun/bin/*; do ldd "$b"; done | awk '$3 ~ /^\// {print $3}' | sort -u |
  grep -v -E '/(libc|libm|libgcc_s|libstdc\+\+|ld-linux[^/]*|libpthread|libdl|librt)\.so|/usr/local/cuda' |
  while read -r lib; do cp -L "$lib" .devrun/lib/; done
M="$HOME/.cache/edgeopt-bench-models/reference"
[ -f "$M/vision_cnn.onnx" ] || { echo "no $M/vision_cnn.onnx: run bench/runtime_vs_peers.py once (it exports the reference models)"; exit 1; }
cp "$M/vision_cnn.onnx" "$M/torch_mlp.onnx" "$M/torch_lstm.onnx" .devrun/models/
# vision_cnn in int8 (edgeopt's PTQ on Fashion-MNIST; the batch dim made symbolic first): the CUDA
# int8 path against ORT's CUDA EP running the same QDQ model.
/usr/bin/python3 - "$M/vision_cnn.onnx" .devrun/models/vision_cnn_dyn.onnx <<'PYEOF'
import sys, onnx
m = onnx.load(sys.argv[1])
for vi in list(m.graph.input) + list(m.graph.output):
    d = vi.type.tensor_type.shape.dim
    if d and d[0].HasField("dim_value"):
        d[0].dim_param = "N"
onnx.save(m, sys.argv[2])
PYEOF
"$BUILD/src/cli/edgeopt" quantize .devrun/models/vision_cnn_dyn.onnx --data fashion-mnist --calib-samples 256 \
  --out .devrun/models/vision_cnn_int8.onnx --no-progress | tail -1
rm .devrun/models/vision_cnn_dyn.onnx
if [ -n "$WHEEL" ]; then
  T=$(mktemp -d)
  (cd "$T" && unzip -q "$WHEEL")
  C="$T/onnxruntime/capi"
  strip --strip-unneeded "$C"/libonnxruntime_providers_cuda.so
  /usr/bin/python3 bench/prune_fatbin.py "$C"/libonnxruntime_providers_cuda.so --keep-sm 90
  rm -rf .devxfer && mkdir -p .devxfer
  xz -T2 -9 -c "$C"/libonnxruntime_providers_cuda.so > .devxfer/libonnxruntime_providers_cuda.so.xz
  for f in "$C"/libonnxruntime.so.* "$C"/onnxruntime_pybind11_state*.so; do
    xz -T2 -9 -c "$f" > ".devrun/ort/$(basename "$f").xz"; rm "$f"
  done
  rm "$C"/libonnxruntime_providers_cuda.so
  tar -C "$T" -cJf .devrun/ort/onnxruntime_rest.tar.xz onnxruntime
  rm -rf "$T"
fi
du -sh .devrun .devxfer 2>/dev/null

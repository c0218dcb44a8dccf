#!/usr/bin/env bash
# Cross-builds core + kernels + runtime for 64-bit ARM (Debian's g++-aarch64-linux-gnu, arm64
# multiarch libhwy/libgtest) and runs their test suites under qemu-user (issue 10):
#   - every kernel test on an emulated core with NEON and the dot product (Highway's NEON target,
#     the SDOT int8 GEMM), then again with Highway forced to SCALAR;
#   - the int8 and quantized-op tests on a Cortex-A72 (Raspberry Pi 4: NEON, no dot product), so
#     the portable int8 path runs too;
#   - the core/runtime suite (graph passes, memory plan, thread pool).
# The Highway targets and int8 ISAs each run exercised are printed.
#   scripts/test-arm64.sh [BUILD_DIR=build-arm64]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-arm64}
for tool in aarch64-linux-gnu-g++ qemu-aarch64; do
  command -v "$tool" >/dev/null || { echo "test-arm64: $tool missing (scripts/install-deps.sh installs it)"; exit 1; }
done
LAUNCHER=""
command -v ccache >/dev/null 2>&1 && LAUNCHER="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache"
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_TOOLCHAIN_FILE=cmake/toolchains/aarch64-linux-gnu.cmake \
  -DEDGEOPT_RUNTIME_ONLY=ON $LAUNCHER >/dev/null
ninja -C "$BUILD" -j"$(nproc)" kernels_test core_runtime_test
file "$BUILD/src/kernels_test" | sed 's/, BuildID.*//'
LOG=$(mktemp)
trap 'rm -f "$LOG"' EXIT
run() {  # run CPU [ENV=VALUE...] -- binary args...
  local cpu=$1; shift
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  echo "== qemu-aarch64 -cpu $cpu ${envs[*]} ${*#$BUILD/src/}"
  local rc=0
  env "${envs[@]}" qemu-aarch64 -cpu "$cpu" "$@" >"$LOG" 2>&1 || rc=$?
  grep -E "Highway targets|int8 GEMM ISAs|dispatch forced|tests? from .* ran|PASSED|FAILED|Failure" "$LOG" || true
  if [ "$rc" -ne 0 ]; then tail -40 "$LOG"; echo "test-arm64: FAILED (exit $rc)"; exit 1; fi
}
start=$(date +%s)
run max -- "$BUILD/src/kernels_test" --gtest_brief=1
run max EDGEOPT_HWY_TARGET=SCALAR -- "$BUILD/src/kernels_test" --gtest_brief=1
run cortex-a72 -- "$BUILD/src/kernels_test" --gtest_brief=1 \
  --gtest_filter='GemmInt8.*:*Int8*:*QLinear*:*Quant*:*Requant*'
run max -- "$BUILD/src/core_runtime_test" --gtest_brief=1
echo "test-arm64: all passed under qemu in $(( $(date +%s) - start )) s"

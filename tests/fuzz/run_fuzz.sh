#!/usr/bin/env bash
# Builds the ONNX-loader fuzz target with clang (libFuzzer + ASan + UBSan) and runs it for a bounded
# time. Crashing inputs land in <build dir>/fuzz-artifacts/; turn each into a regression seed under
# tests/fuzz/corpus/onnx_load/ once fixed.
#
#   tests/fuzz/run_fuzz.sh [SECONDS=60] [BUILD_DIR=build-fuzz] [extra libFuzzer flags...]
#   tests/fuzz/run_fuzz.sh 300 /tmp/build-fuzz -jobs=2 -workers=2
set -euo pipefail
SECONDS_TO_RUN="${1:-60}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${2:-$ROOT/build-fuzz}"
shift $(( $# > 2 ? 2 : $# ))
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
  -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" \
  -DEDGEOPT_FUZZ=ON -DEDGEOPT_BUILD_TESTS=ON >/dev/null
ninja -C "$BUILD" onnx_load_fuzz

# Work on a copy so the committed seeds stay small; new interesting inputs accumulate here.
WORK="$BUILD/fuzz-corpus/onnx_load"
ART="$BUILD/fuzz-artifacts/"
mkdir -p "$WORK" "$ART"
cp -n "$ROOT"/tests/fuzz/corpus/onnx_load/* "$WORK"/ 2>/dev/null || true
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
"$BUILD/tests/onnx_load_fuzz" "$WORK" -max_total_time="$SECONDS_TO_RUN" -max_len=65536 -rss_limit_mb=4096 \
  -artifact_prefix="$ART" -print_final_stats=1 "$@"

#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (libFuzzer + ASan + UBSan) and runs each for a bounded
# time. Crashing inputs land in <build dir>/fuzz-artifacts/<target>/ and fail the run; turn each
# into a regression seed under tests/fuzz/corpus/<target>/ (plus a unit test) once fixed.
#
#   tests/fuzz/run_fuzz.sh [SECONDS=60] [BUILD_DIR=build-fuzz] [extra libFuzzer flags...]
#   tests/fuzz/run_fuzz.sh 300 /tmp/build-fuzz -jobs=2 -workers=2
#   EDGEOPT_FUZZ_TARGETS="csv_parse npy_parse" tests/fuzz/run_fuzz.sh 600
#
# Targets (tests/fuzz/<target>_fuzz.cpp, seeds in tests/fuzz/corpus/<target>/):
#   onnx_load    ONNX loader -> Session -> export          (SECONDS)
#   csv_parse    CSV -> numbers, dates, time-series windows, tabular splits
#   idx_parse    IDX (MNIST format) header and payload
#   npy_parse    .npy reader, and its writer round trip
#   mqtt_decode  MQTT reading decoder (JSON and binary) and the result/error encoders
#   oip_json_parse     OIP v2 JSON inference request parser and response encoder
#   oip_binary_parse   OIP v2 binary tensor extension: server request parser, offload client decoders
#   grpc_infer_decode  gRPC ModelInferRequest bytes -> protobuf -> request tensors
#   model_config_parse Triton config.pbtxt parser and completion against a model
#   recipe_parse       `edgeopt optimize` recipe files (YAML/JSON)
# The parser targets run EDGEOPT_FUZZ_PARSER_SECONDS each (default: SECONDS).
set -euo pipefail
SECONDS_TO_RUN="${1:-60}"
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
BUILD="${2:-$ROOT/build-fuzz}"
shift $(( $# > 2 ? 2 : $# ))
TARGETS="${EDGEOPT_FUZZ_TARGETS:-onnx_load csv_parse idx_parse npy_parse mqtt_decode oip_json_parse oip_binary_parse grpc_infer_decode model_config_parse recipe_parse}"
PARSER_SECONDS="${EDGEOPT_FUZZ_PARSER_SECONDS:-$SECONDS_TO_RUN}"
SAN="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
LAUNCHER=""
command -v ccache >/dev/null 2>&1 && LAUNCHER="-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache"

cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ $LAUNCHER \
  -DCMAKE_CXX_FLAGS="$SAN" -DCMAKE_C_FLAGS="$SAN" \
  -DEDGEOPT_FUZZ=ON -DEDGEOPT_BUILD_TESTS=ON >/dev/null
ninja -C "$BUILD" $(for t in $TARGETS; do echo "${t}_fuzz"; done)

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0:allocator_may_return_null=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for t in $TARGETS; do
  # Work on a copy so the committed seeds stay small; new interesting inputs accumulate here.
  WORK="$BUILD/fuzz-corpus/$t"
  ART="$BUILD/fuzz-artifacts/$t/"
  mkdir -p "$WORK" "$ART"
  cp -n "$ROOT"/tests/fuzz/corpus/"$t"/* "$WORK"/ 2>/dev/null || true
  secs="$PARSER_SECONDS"
  max_len=4096
  if [ "$t" = onnx_load ]; then secs="$SECONDS_TO_RUN"; max_len=65536; fi
  DICT=()
  [ -f "$ROOT/tests/fuzz/$t.dict" ] && DICT=(-dict="$ROOT/tests/fuzz/$t.dict")
  echo "== fuzz $t for ${secs}s"
  "$BUILD/tests/${t}_fuzz" "$WORK" -max_total_time="$secs" -max_len="$max_len" -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -artifact_prefix="$ART" -print_final_stats=1 "${DICT[@]}" "$@"
done

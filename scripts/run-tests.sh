#!/usr/bin/env bash
# The README's second command: installs dependencies, builds, and runs the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
bash scripts/build.sh
BUILD=${EDGEOPT_BUILD_DIR:-build}
ctest --test-dir "$BUILD" --output-on-failure -j"$(nproc)" --timeout 1200
# The kernel and runtime suites cross-built for ARM64 and run under qemu-user (NEON, dot product).
if [ "$(uname -m)" = x86_64 ]; then
  bash scripts/test-arm64.sh
fi
# The libFuzzer targets (clang, ASan+UBSan) for a bounded time each; a crash fails CI: the ONNX
# loader for 120 s, the CSV/IDX/NPY/MQTT-reading parsers and the server's parsers (OIP JSON and
# binary requests, gRPC ModelInferRequest, config.pbtxt, recipes) for 30 s each.
# ASan+UBSan on every change for the device-side code: every op's reference and fast kernels,
# the graph passes, memory plan and thread pool (kernels_test, core_runtime_test; ~10 min, most of
# it the instrumented build). TSan on every change for the threaded runtime: the intra-op pool,
# parallel kernels at 1-4 threads and concurrent sessions (core_runtime_test). The whole suite
# under ASan+UBSan and the server tests under TSan: scripts/sanitize.sh, run by hand (an
# instrumented build of every library exceeds CI's budget; docs/security.md).
EDGEOPT_SANITIZE_TESTS="core_runtime_test kernels_test" bash scripts/sanitize.sh asan
EDGEOPT_TSAN_TESTS="core_runtime_test" bash scripts/sanitize.sh tsan
if command -v clang++ >/dev/null 2>&1; then
  # A fixed seed and run count keep the CI run reproducible; longer exploratory runs: run_fuzz.sh 600.
  EDGEOPT_FUZZ_PARSER_SECONDS="${EDGEOPT_FUZZ_PARSER_SECONDS:-30}" \
  bash tests/fuzz/run_fuzz.sh "${EDGEOPT_FUZZ_SECONDS:-120}" "${EDGEOPT_FUZZ_BUILD_DIR:-build-fuzz}" \
    -seed=1 -runs="${EDGEOPT_FUZZ_RUNS:-300000}"
fi

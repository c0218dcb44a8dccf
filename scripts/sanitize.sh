#!/usr/bin/env bash
# Sanitizer builds of the test suite, each in its own build directory:
#   asan  ASan+UBSan (EDGEOPT_SANITIZE=ON: -fsanitize=address,undefined, no recovery from UB) of the
#         whole suite, then ctest (peer tests that need PyPI skip themselves as usual);
#   tsan  TSan (-fsanitize=thread) of the runtime and server: core_runtime_test, serve_test,
#         serve_security_test, split_test, then those tests.
#
#   scripts/sanitize.sh                    # both, whole suite for asan
#   scripts/sanitize.sh asan               # just ASan+UBSan
#   scripts/sanitize.sh tsan               # just TSan
#   EDGEOPT_SANITIZE_TESTS="serve_security_test serve_test" scripts/sanitize.sh asan   # a subset
#   EDGEOPT_SANITIZE_JOBS=2 ... (build and ctest parallelism; default nproc)
#
# Exit status: non-zero when a build fails or any test fails (a sanitizer report fails its test:
# ASan/UBSan abort, TSan exits 66). Reports are in the ctest output (--output-on-failure).
# Known noise: gRPC and abseil come from Debian uninstrumented, so TSan cannot see their locks and
# reports races inside them (docs/security.md lists what is suppressed and why:
# scripts/tsan.supp).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
WHAT="${1:-all}"
JOBS="${EDGEOPT_SANITIZE_JOBS:-$(nproc)}"
# -O1: what the sanitizer docs recommend (fast enough to run, stacks still readable) and about a
# third less compile time than -O2 for a second build of every library.
OPT=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -g" "-DCMAKE_C_FLAGS_DEBUG=-O1 -g")
LAUNCHER=()
command -v ccache >/dev/null 2>&1 && LAUNCHER=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
status=0

# Runs test binaries directly (gtest_discover_tests names CTest tests Suite.Case, not by binary).
run_binaries() {
  local build="$1"; shift
  local t bin
  for t in "$@"; do
    bin=$(find "$(cd "$build" && pwd)" -name "$t" -type f -perm -u+x | head -1)
    if [ -z "$bin" ]; then echo "no test binary $t in $build" >&2; status=1; continue; fi
    echo "== $bin"
    (cd "$(dirname "$bin")" && "$bin" --gtest_brief=1) || { echo "FAILED: $t" >&2; status=1; }
  done
}

run_asan() {
  local build="${EDGEOPT_ASAN_BUILD_DIR:-build-asan}"
  cmake -S . -B "$build" -G Ninja "${OPT[@]}" -DEDGEOPT_SANITIZE=ON "${LAUNCHER[@]}" >/dev/null
  local targets=()
  [ -n "${EDGEOPT_SANITIZE_TESTS:-}" ] && targets=($EDGEOPT_SANITIZE_TESTS)
  echo "== ASan+UBSan: building ${targets[*]:-everything} in $build"
  ninja -C "$build" -j"$JOBS" "${targets[@]}"
  # Leak checking on: a leak fails the test. halt_on_error keeps the first report readable.
  export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:detect_stack_use_after_return=1"
  export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
  export LSAN_OPTIONS="suppressions=$ROOT/scripts/lsan.supp:print_suppressions=0"
  if [ ${#targets[@]} -gt 0 ]; then
    run_binaries "$build" "${targets[@]}"
  else
    echo "== ASan+UBSan: ctest (all but the PyPI peer tests)"
    ctest --test-dir "$build" --output-on-failure -j"$JOBS" --timeout 1800 -LE peer || status=1
  fi
}

run_tsan() {
  local build="${EDGEOPT_TSAN_BUILD_DIR:-build-tsan}"
  local tests="${EDGEOPT_TSAN_TESTS:-core_runtime_test serve_test serve_security_test split_test}"
  local flags="-fsanitize=thread -fno-omit-frame-pointer -g"
  cmake -S . -B "$build" -G Ninja "${OPT[@]}" "${LAUNCHER[@]}" \
    -DCMAKE_CXX_FLAGS="$flags" -DCMAKE_C_FLAGS="$flags" -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=thread" >/dev/null
  echo "== TSan: building $tests in $build"
  ninja -C "$build" -j"$JOBS" $tests
  # intercept_memcmp=0: Debian's cpp-httplib is uninstrumented, so TSan sees its memory only through
  # the memcpy/memcmp interceptors, and a block one pool thread builds once and others later compare
  # (a lazily initialised static whose guard check TSan cannot see) shows up as a race entirely
  # inside libcpp-httplib.so. Suppressing that module would also hide races in our HTTP handlers
  # (every handler runs under its frames); not checking memcmp reads costs far less (docs/security.md).
  export TSAN_OPTIONS="halt_on_error=0:exitcode=66:second_deadlock_stack=1:intercept_memcmp=0:suppressions=$ROOT/scripts/tsan.supp"
  run_binaries "$build" $tests
}

case "$WHAT" in
  asan) run_asan ;;
  tsan) run_tsan ;;
  all) run_asan; run_tsan ;;
  *) echo "usage: $0 [asan|tsan|all]" >&2; exit 2 ;;
esac
exit $status

#!/usr/bin/env bash
# Configures and builds edgeopt (Release, Ninja) into ${EDGEOPT_BUILD_DIR:-build}.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${EDGEOPT_BUILD_DIR:-build}
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release "$@" >/dev/null
ninja -C "$BUILD" -j"$(nproc)"

#!/usr/bin/env bash
# Installs everything edgeopt needs to build, test and run its main job, from Debian packages only.
# Idempotent: packages already present are skipped by apt.
set -euo pipefail
PKGS=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  libonnx-dev libprotobuf-dev protobuf-compiler
  libhwy-dev libeigen3-dev
  libcli11-dev nlohmann-json3-dev libspdlog-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev zlib1g-dev
  libonnx-testdata dataset-fashion-mnist python3-vega-datasets
  python3 python3-venv python3-numpy python3-onnx python3-torch python3-torchvision libopenblas0
  clang libclang-rt-14-dev
  libcpp-httplib-dev libssl-dev libgrpc++-dev protobuf-compiler-grpc libmosquitto-dev libyaml-cpp-dev
  mosquitto python3-paho-mqtt prometheus wrk chromium iproute2
)
# The ARM cross-build and its qemu test run (scripts/test-arm64.sh): the cross compiler, qemu-user
# and the arm64 multiarch Highway/GoogleTest (which bring libc6:arm64, the loader qemu runs).
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  PKGS+=(g++-aarch64-linux-gnu qemu-user libhwy-dev:arm64 libgtest-dev:arm64)
  dpkg --print-foreign-architectures | grep -qx arm64 || $SUDO dpkg --add-architecture arm64
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "edgeopt: dependencies installed"

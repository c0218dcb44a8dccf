#!/bin/bash
# runtime_footprint.sh PROBE: the device-side libraries (runtime + kernels + core) stay small and
# self-contained. Runs the probe, then fails if its binary or dynamic dependencies mention protobuf,
# ONNX, Eigen, gRPC/HTTP/MQTT server code, and prints the stripped size.
set -euo pipefail
probe=$1
"$probe"
deps=$(ldd "$probe" | awk '{print $1}' | tr '\n' ' ')
echo "dynamic deps: $deps"
if echo "$deps" | grep -Eiq 'protobuf|onnx|grpc|mosquitto|httplib|ssl'; then
  echo "FAIL: the runtime probe links a forbidden library"; exit 1
fi
syms=$(nm -C "$probe" | grep -Ec 'google::protobuf|onnx::|Eigen::|grpc|httplib|mosquitto' || true)
if [ "$syms" != "0" ]; then
  nm -C "$probe" | grep -E 'google::protobuf|onnx::|Eigen::|grpc|httplib|mosquitto' | head -5
  echo "FAIL: $syms forbidden symbols in the runtime probe"; exit 1
fi
tmp=$(mktemp)
strip -o "$tmp" "$probe"
echo "runtime probe (core + kernels + runtime, all ops, every Highway target): $(stat -c %s "$probe") bytes, stripped $(stat -c %s "$tmp") bytes"
rm -f "$tmp"

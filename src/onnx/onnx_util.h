// Small helpers shared by import.cpp and export.cpp (internal to edgeopt_onnx).
#pragma once
#include <cstdint>
#include <string>

namespace edgeopt::onnx {

// ONNX library messages span several lines ("==> Context: ..."); the CLI prints one line.
inline std::string one_line(const std::string& s) {
  std::string out;
  bool space = false;
  for (char c : s) {
    if (c == '\n' || c == '\r' || c == '\t' || c == ' ') {
      space = !out.empty();
      continue;
    }
    if (space) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

// The IR version that came with each ai.onnx opset (onnx/helper.py VERSION_TABLE), capped at the
// IR 8 that ONNX 1.12's checker accepts.
inline int64_t ir_version_for_opset(int64_t opset) {
  if (opset <= 8) return 3;
  if (opset == 9) return 4;
  if (opset == 10) return 5;
  if (opset == 11) return 6;
  if (opset <= 14) return 7;
  return 8;
}

// Wraps ONNX shape-inference functions known to crash on malformed input (inference_guards.cpp).
// Idempotent and thread-safe; call before any onnx::shape_inference use.
void install_inference_guards();

}  // namespace edgeopt::onnx

// Dynamic (per-call) quantization parameters for activations that have no calibrated range, as
// ONNX DynamicQuantizeLinear defines them and ONNX Runtime's DynamicQuantizeLSTM uses them: the
// block's range widened to contain 0, [min(0, min x), max(0, max x)], mapped onto all 256 u8 codes,
// so 0 is exact and the zero point lies in [0, 255].
//
//   DynamicQ8Params p = dynamic_u8_params(h, rows, cols, stride);
//   uint8_t q = static_cast<uint8_t>(quantize_f32(v, p.scale, p.zero_point, 0, 255));
//
// Header-only: the int8 recurrent references and their fast kernels share this one definition.
#pragma once
#include <cmath>
#include <cstdint>

#include "kernels/quant/requantize.h"

namespace edgeopt::kernels::quant {

struct DynamicQ8Params {
  float scale = 1.f;
  int32_t zero_point = 0;
};

// Over the rows x cols block at x (row stride `stride` floats). NaN is skipped by the comparisons
// (quantize_f32 then maps it to the zero point); an all-zero block, or one whose range is not a
// finite float (+-inf, overflow), gives scale 1, zero point 0 (defined, saturating codes).
inline DynamicQ8Params dynamic_u8_params(const float* x, int64_t rows, int64_t cols, int64_t stride) {
  float lo = 0.f, hi = 0.f;
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const float v = x[r * stride + c];
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
  if (!(hi > lo) || !std::isfinite(hi - lo)) return {};
  DynamicQ8Params p;
  p.scale = (hi - lo) / 255.f;
  // ONNX DynamicQuantizeLinear: zero_point = saturate(round(qmin - min / scale)).
  const float zp = -lo / p.scale;
  p.zero_point = static_cast<int32_t>(round_half_even(zp < 0.f ? 0.f : (zp > 255.f ? 255.f : zp)));
  return p;
}

}  // namespace edgeopt::kernels::quant

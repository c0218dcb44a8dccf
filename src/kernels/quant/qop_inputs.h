// Reading and validating the scale / zero-point inputs of the integer ops (QLinearConv,
// QLinearMatMul, ConvInteger, MatMulInteger, QLinearAdd), and turning them into the fixed-point
// requantization parameters of the int8 kernels.
//
//   float sx = quant::scalar_scale(ctx.in[1], "x_scale");
//   int32_t zx = quant::scalar_zero_point(ctx.in[2], x.dtype(), "x_zero_point");
//   quant::RequantParams rq = quant::requant_params(sx, sw, sy, zy, y_dtype, quant::fused_qrange(...));
//
// Every function throws InvalidArgument naming the tensor and the rule.
#pragma once
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "core/tensor.h"
#include "kernels/common.h"
#include "kernels/quant/requantize.h"

namespace edgeopt::kernels::quant {

inline bool is_8bit(DType t) { return t == DType::kU8 || t == DType::kI8; }
inline int32_t qmin_of(DType t) { return t == DType::kU8 ? 0 : -128; }
inline int32_t qmax_of(DType t) { return t == DType::kU8 ? 255 : 127; }

inline void check_8bit(const Tensor& t, const std::string& name) {
  EDGEOPT_CHECK_ARG(t.defined(), "input " + name + " is required");
  EDGEOPT_CHECK_ARG(is_8bit(t.dtype()), "input " + name + " is " + t.describe() + "; it must be u8 or i8");
}

// The scales of `name`: 1 (per tensor) or `channels` values (per channel; channels 0: scalar only),
// each finite and > 0.
inline std::vector<float> read_scales(const Tensor& t, int64_t channels, const std::string& name) {
  EDGEOPT_CHECK_ARG(t.defined(), "input " + name + " is required");
  EDGEOPT_CHECK_ARG(t.dtype() == DType::kF32, "input " + name + " is " + t.describe() + "; it must be f32");
  const bool ok = t.numel() == 1 || (channels > 0 && t.rank() == 1 && t.numel() == channels);
  EDGEOPT_CHECK_ARG(ok, "input " + name + " has shape " + t.shape().str() + "; it must be a scalar" +
                            (channels > 0 ? " or 1-D of " + std::to_string(channels) + " (one per channel)" : ""));
  std::vector<float> s(t.data<float>(), t.data<float>() + t.numel());
  for (size_t i = 0; i < s.size(); ++i)
    EDGEOPT_CHECK_ARG(std::isfinite(s[i]) && s[i] > 0.f, "input " + name + "[" + std::to_string(i) + "] = " +
                                                             std::to_string(s[i]) + "; scales must be finite and > 0");
  return s;
}
// The checks of read_scales for a scalar, without building a vector (the forwards call this per run).
inline float scalar_scale(const Tensor& t, const char* name) {
  if (t.defined() && t.dtype() == DType::kF32 && t.numel() == 1) {
    const float s = t.data<float>()[0];
    if (std::isfinite(s) && s > 0.f) return s;
  }
  return read_scales(t, 0, name)[0];  // throws the message
}

// The zero points of `name` (undefined: 0), whose dtype must be `dtype` (the quantized tensor's).
inline std::vector<int32_t> read_zero_points(const Tensor& t, DType dtype, int64_t channels, const std::string& name) {
  if (!t.defined()) return {0};
  EDGEOPT_CHECK_ARG(t.dtype() == dtype, "input " + name + " is " + t.describe() + ", but the tensor it quantizes is " +
                                            dtype_name(dtype) + "; their dtypes must match");
  const bool ok = t.numel() == 1 || (channels > 0 && t.rank() == 1 && t.numel() == channels);
  EDGEOPT_CHECK_ARG(ok, "input " + name + " has shape " + t.shape().str() + "; it must be a scalar" +
                            (channels > 0 ? " or 1-D of " + std::to_string(channels) + " (one per channel)" : ""));
  std::vector<int32_t> z(static_cast<size_t>(t.numel()));
  if (is_8bit(dtype)) {
    for (int64_t i = 0; i < t.numel(); ++i)
      z[i] = dtype == DType::kU8 ? int32_t{t.data<uint8_t>()[i]} : int32_t{t.data<int8_t>()[i]};
  } else {
    const std::vector<int64_t> v = t.to_i64_vector();
    for (size_t i = 0; i < v.size(); ++i) z[i] = static_cast<int32_t>(v[i]);
  }
  return z;
}
// The checks of read_zero_points for a scalar, without building a vector (called per run).
inline int32_t scalar_zero_point(const Tensor& t, DType dtype, const char* name) {
  if (!t.defined()) return 0;
  if (t.dtype() == dtype && t.numel() == 1 && is_8bit(dtype))
    return dtype == DType::kU8 ? int32_t{t.data<uint8_t>()[0]} : int32_t{t.data<int8_t>()[0]};
  return read_zero_points(t, dtype, 0, name)[0];  // throws the message (or reads a wider dtype)
}

// [qmin, qmax] of the output, narrowed by a fused Relu/Clip (the `activation` attribute): since
// quantization is monotonic, Q(clamp(v, lo, hi)) == clamp(Q(v), Q(lo), Q(hi)) exactly.
struct QRange {
  int32_t lo = 0, hi = 255;
};
inline QRange fused_qrange(const Node& node, float y_scale, int32_t y_zp, DType y_dtype) {
  QRange r{qmin_of(y_dtype), qmax_of(y_dtype)};
  const FusedActivation act = fused_activation(node);
  if (act.lo != -INFINITY) r.lo = std::max(r.lo, quantize_f32(act.lo, y_scale, y_zp, r.lo, r.hi));
  if (act.hi != INFINITY) r.hi = std::min(r.hi, quantize_f32(act.hi, y_scale, y_zp, qmin_of(y_dtype), r.hi));
  if (r.hi < r.lo) r.hi = r.lo;
  return r;
}

// Per output channel: M[c] = s_x * s_w[c] / s_y as a fixed-point multiplier (double, as gemmlowp).
struct RequantParams {
  std::vector<int32_t> multiplier, shift;
};
inline RequantParams requant_params(float sx, const std::vector<float>& sw, float sy, int64_t channels) {
  RequantParams p;
  p.multiplier.resize(static_cast<size_t>(channels));
  p.shift.resize(static_cast<size_t>(channels));
  for (int64_t c = 0; c < channels; ++c) {
    const float s = sw.size() == 1 ? sw[0] : sw[static_cast<size_t>(c)];
    const QuantMultiplier m = quantize_multiplier(static_cast<double>(sx) * s / sy);
    p.multiplier[c] = m.multiplier;
    p.shift[c] = m.shift;
  }
  return p;
}

}  // namespace edgeopt::kernels::quant

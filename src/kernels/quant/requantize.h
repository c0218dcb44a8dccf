// The one rounding/saturation routine of edgeopt's integer path: QuantizeLinear, every int8 (qs8/qu8)
// reference and fast kernel, the QDQ export and QAT fake-quant all call these functions, so that
// "QAT accuracy == deployed accuracy" is a test rather than a hope (STYLE.md section 13).
//
//   int32_t q = quant::quantize_f32(x, 0.05f, 128, 0, 255);          // f32 -> u8 code
//   quant::QuantMultiplier m = quant::quantize_multiplier(s_x * s_w / s_y);
//   int8_t y = static_cast<int8_t>(quant::requantize(acc, m, zp_y, -128, 127));
//
// Header-only on purpose: these run in the innermost loops of the int8 kernels and must inline.
// None of them allocate or throw; validating scales (finite, non-zero) is the caller's job.
#pragma once
#include <cmath>
#include <cstdint>
#include <limits>

// The CUDA backend compiles these very functions for the device (src/cuda), so GPU int8 results
// are bit-exact with the CPU ones; for the host compiler the macro is empty.
#ifdef __CUDACC__
#define EDGEOPT_QUANT_HD __host__ __device__
#else
#define EDGEOPT_QUANT_HD
#endif

namespace edgeopt::kernels::quant {

// Round half to even (banker's rounding), independent of the FP environment's rounding mode
// (std::nearbyint follows fesetround, which another library may have changed). ONNX
// QuantizeLinear specifies half-to-even, as numpy.round does: 2.5 -> 2, 3.5 -> 4, -2.5 -> -2.
EDGEOPT_QUANT_HD inline float round_half_even(float v) {
  float f = std::floor(v);
  float diff = v - f;  // exact for |v| < 2^24; above that v is already an integer and diff == 0
  if (diff > 0.5f) return f + 1.f;
  if (diff < 0.5f) return f;
  return std::fmod(f, 2.f) == 0.f ? f : f + 1.f;
}

// q = clamp(round_half_even(x / scale) + zero_point, qmin, qmax), the ONNX QuantizeLinear formula.
// The division is in f32 (as ONNX Runtime does; x * (1/scale) differs in the last bit for some x).
// +-inf saturate to qmax/qmin; NaN maps to zero_point (ONNX leaves it undefined; this keeps the
// value finite and equal to what dequantizes to 0).
EDGEOPT_QUANT_HD inline int32_t quantize_f32(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  float v = x / scale;
  if (std::isnan(v)) return zero_point < qmin ? qmin : (zero_point > qmax ? qmax : zero_point);
  // Clamp in double before converting: the float -> int conversion of an out-of-range value is UB.
  double q = static_cast<double>(round_half_even(v)) + zero_point;
  if (q < qmin) return qmin;
  if (q > qmax) return qmax;
  return static_cast<int32_t>(q);
}

// x = (q - zero_point) * scale, the ONNX DequantizeLinear formula (the subtraction is exact in
// int32 for 8-bit codes; for i32 codes it is done in int64 so it cannot overflow).
EDGEOPT_QUANT_HD inline float dequantize_f32(int32_t q, float scale, int32_t zero_point) {
  return static_cast<float>(static_cast<int64_t>(q) - zero_point) * scale;
}

// Fake quantization for QAT: dequantize(quantize(x)); identical to an int8 deployment of x.
inline float fake_quantize_f32(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  return dequantize_f32(quantize_f32(x, scale, zero_point, qmin, qmax), scale, zero_point);
}

// A real multiplier M >= 0 as multiplier * 2^shift / 2^31 with multiplier in [2^30, 2^31) (Q0.31),
// gemmlowp / TFLite style. shift > 0 is a left shift (M >= 1), shift < 0 a right shift.
// M == 0, or M < 2^-62 (which rounds every int32 to 0) gives {0, 0}.
struct QuantMultiplier {
  int32_t multiplier = 0;
  int shift = 0;
};

// Relative error of the represented multiplier <= 2^-31. Negative or non-finite M is a caller bug
// (scales are validated upstream); it returns {0, 0}. M >= 2^31 saturates to the largest
// representable multiplier (2^31 - 1) * 2^31 / 2^31, far beyond any real requantization scale.
inline QuantMultiplier quantize_multiplier(double real_multiplier) {
  if (!(real_multiplier > 0.0) || !std::isfinite(real_multiplier)) return {};
  int exp = 0;
  double q = std::frexp(real_multiplier, &exp);  // real = q * 2^exp, q in [0.5, 1)
  auto q_fixed = static_cast<int64_t>(std::llround(q * 2147483648.0));
  if (q_fixed == (int64_t{1} << 31)) {  // q rounded up to 1.0
    q_fixed /= 2;
    ++exp;
  }
  if (exp < -62) return {};
  if (exp > 31) return {std::numeric_limits<int32_t>::max(), 31};
  return {static_cast<int32_t>(q_fixed), exp};
}

// y = clamp(round_half_even(acc * multiplier / 2^(31 - shift)) + zero_point, qmin, qmax): the exact
// 64-bit product acc * multiplier (|product| < 2^62), rounded once, ties to even. This is ONNX
// QLinearConv/QLinearMatMul's round(acc * M) for the represented M (within 2^-31 of the real one),
// so an int8 kernel equals DequantizeLinear -> f32 op -> QuantizeLinear (what ONNX Runtime and QAT
// fake-quant compute) except where acc * M lies within ~2^-31 relative of a .5 boundary.
// (gemmlowp/TFLite round twice, in the high multiply and then in the right shift; the first
// rounding leaves only 31 + shift fraction bits, so about 1 in 1000 real conv outputs came out one
// step above the exact value: enough to move ORT-vs-edgeopt accuracy by 0.3 points on 1000 images.)
// No overflow for any shift in [-62, 31]: the quotient of a 62-bit product fits int64.
EDGEOPT_QUANT_HD inline int32_t requantize(int32_t acc, QuantMultiplier m, int32_t zero_point, int32_t qmin, int32_t qmax) {
  const int64_t p = static_cast<int64_t>(acc) * m.multiplier;
  const int n = 31 - m.shift;  // right shift of the product, 0..93
  int64_t y;
  if (n <= 0) {
    y = p;
  } else if (n >= 63) {
    y = 0;  // |p| < 2^62 <= 2^(n-1): |p / 2^n| < 1/2
  } else {
    const int64_t q = p >> n;  // floor
    const int64_t r = p & ((int64_t{1} << n) - 1);  // p - q * 2^n, in [0, 2^n)
    const int64_t half = int64_t{1} << (n - 1);
    y = q + ((r > half || (r == half && (q & 1) != 0)) ? 1 : 0);
  }
  y += zero_point;
  if (y < qmin) return qmin;
  if (y > qmax) return qmax;
  return static_cast<int32_t>(y);
}

}  // namespace edgeopt::kernels::quant

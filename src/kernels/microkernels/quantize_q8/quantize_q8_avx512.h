// quant::quantize_f32 for 16 f32 lanes with AVX-512 (F+BW+VL, target-attributed, x86-64 only): the
// vector form of QuantizeLinear that quantize_f32_to_q8 and QLinearAdd's one-pass kernel share, so
// both round exactly as the scalar routine: an IEEE division, round half to even (roundscale's
// nearest mode equals round_half_even for every float), + zero point, clamp; NaN -> the clamped
// zero point. Adding the zero point in f32 is exact below 2^24, and beyond that the clamp
// saturates either way.
//
//   const Quantize16Consts k = quantize16_consts(0.02f, 128, 0, 255);
//   __m128i codes = quantize16(x, k);   // 16 u8 (or s8, two's complement) codes
//
// Callers must check the CPU (gemm_int8::default_isa() == kAvx512Vnni implies F+BW+VL).
#pragma once
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstdint>

namespace edgeopt::kernels::quantize_q8::x86 {

struct Quantize16Consts {
  __m512 scale, zero_point, lo, hi;
  __m512i nan_code;
};

__attribute__((target("avx512f,avx512bw,avx512vl"))) inline Quantize16Consts quantize16_consts(float scale,
                                                                                              int32_t zero_point,
                                                                                              int32_t qmin,
                                                                                              int32_t qmax) {
  return {_mm512_set1_ps(scale), _mm512_set1_ps(static_cast<float>(zero_point)),
          _mm512_set1_ps(static_cast<float>(qmin)), _mm512_set1_ps(static_cast<float>(qmax)),
          _mm512_set1_epi32(zero_point < qmin ? qmin : (zero_point > qmax ? qmax : zero_point))};
}

// The 16 codes, narrowed in a register (masked vpmovdb stores are slow). kMayBeNaN = false: the
// caller's x is never NaN (QLinearAdd's clamped sums of 8-bit codes), so the NaN lanes are not
// looked for (two instructions of ~20; 15% of that kernel's time).
template <bool kMayBeNaN = true>
__attribute__((target("avx512f,avx512bw,avx512vl"))) inline __m128i quantize16(__m512 x, const Quantize16Consts& k) {
  const __m512 v = _mm512_div_ps(x, k.scale);
  __m512 r = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  r = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, k.zero_point), k.lo), k.hi);
  __m512i q = _mm512_cvtps_epi32(r);
  if constexpr (kMayBeNaN) q = _mm512_mask_blend_epi32(_mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), q, k.nan_code);
  return _mm512_cvtepi32_epi8(q);
}

}  // namespace edgeopt::kernels::quantize_q8::x86
#endif

#include "kernels/microkernels/quantize_q8/quantize_q8.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/quant/requantize.h"

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own mask intrinsics (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace edgeopt::kernels::quantize_q8 {
namespace {

void quantize_scalar(const float* x, int64_t n, float scale, int32_t zp, int32_t lo, int32_t hi, bool is_signed,
                     void* y) {
  for (int64_t i = 0; i < n; ++i) {
    const int32_t q = quant::quantize_f32(x[i], scale, zp, lo, hi);
    if (is_signed)
      static_cast<int8_t*>(y)[i] = static_cast<int8_t>(q);
    else
      static_cast<uint8_t*>(y)[i] = static_cast<uint8_t>(q);
  }
}

#if defined(__x86_64__)
// The same steps as quant::quantize_f32: an IEEE division, round half to even (roundscale's
// nearest mode equals round_half_even for every float), + zero point, clamp; NaN -> clamped zero
// point. Adding the zero point in f32 is exact below 2^24, and beyond that the clamp saturates either way.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void quantize_avx512(const float* x, int64_t n, float scale,
                                                                          int32_t zp, int32_t lo, int32_t hi, void* y) {
  const __m512 vs = _mm512_set1_ps(scale), vz = _mm512_set1_ps(static_cast<float>(zp));
  const __m512 vlo = _mm512_set1_ps(static_cast<float>(lo)), vhi = _mm512_set1_ps(static_cast<float>(hi));
  const __m512i nan_code = _mm512_set1_epi32(zp < lo ? lo : (zp > hi ? hi : zp));
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m512 v = _mm512_div_ps(_mm512_maskz_loadu_ps(m, x + i), vs);
    const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    __m512 r = _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    r = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(r, vz), vlo), vhi);
    const __m512i q = _mm512_mask_blend_epi32(nan, _mm512_cvtps_epi32(r), nan_code);
    const __m128i b = _mm512_cvtepi32_epi8(q);  // narrowed in a register: masked vpmovdb stores are slow
    if (m == 0xffff)
      _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i), b);
    else
      _mm_mask_storeu_epi8(out + i, m, b);
  }
}
#endif

}  // namespace

void quantize_f32_to_q8(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                        bool is_signed, void* y, gemm_int8::Isa isa) {
#if defined(__x86_64__)
  if (isa == gemm_int8::Isa::kAvx512Vnni) return quantize_avx512(x, n, scale, zero_point, qmin, qmax, y);
#endif
  (void)isa;
  quantize_scalar(x, n, scale, zero_point, qmin, qmax, is_signed, y);
}

}  // namespace edgeopt::kernels::quantize_q8

#include "kernels/microkernels/quantize_q8/quantize_q8.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "kernels/microkernels/quantize_q8/quantize_q8_avx512.h"
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
__attribute__((target("avx512f,avx512bw,avx512vl"))) void quantize_avx512(const float* x, int64_t n, float scale,
                                                                          int32_t zp, int32_t lo, int32_t hi, void* y) {
  const x86::Quantize16Consts k = x86::quantize16_consts(scale, zp, lo, hi);
  auto* out = static_cast<uint8_t*>(y);
  for (int64_t i = 0; i < n; i += 16) {
    const __mmask16 m = n - i >= 16 ? __mmask16(0xffff) : __mmask16((1u << (n - i)) - 1);
    const __m128i b = x86::quantize16(_mm512_maskz_loadu_ps(m, x + i), k);
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

// Byte shuffles shared by the int8 packing code (gemm_int8 and the int8 conv's im2col): SSE2 on
// x86, NEON on ARM (vst4q_u8 is exactly this interleave), plain loops elsewhere.
#pragma once
#include <cstdint>

#if defined(__SSE2__)
#include <emmintrin.h>
#elif defined(__ARM_NEON)
#include <arm_neon.h>
#endif

namespace edgeopt::kernels::gemm_int8 {

// out[i * 4 + t] = src_t[i] ^ mask for i < 16, t < 4: four 16-byte rows into 16 4-byte quads.
inline void interleave4x16_xor_u8(const uint8_t* s0, const uint8_t* s1, const uint8_t* s2, const uint8_t* s3,
                                  uint8_t mask, uint8_t* out) {
#if defined(__SSE2__)
  const __m128i m = _mm_set1_epi8(static_cast<char>(mask));
  const __m128i a = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s0)), m);
  const __m128i b = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s1)), m);
  const __m128i c = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s2)), m);
  const __m128i e = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s3)), m);
  const __m128i ab_lo = _mm_unpacklo_epi8(a, b), ab_hi = _mm_unpackhi_epi8(a, b);
  const __m128i ce_lo = _mm_unpacklo_epi8(c, e), ce_hi = _mm_unpackhi_epi8(c, e);
  auto* o = reinterpret_cast<__m128i*>(out);
  _mm_storeu_si128(o + 0, _mm_unpacklo_epi16(ab_lo, ce_lo));
  _mm_storeu_si128(o + 1, _mm_unpackhi_epi16(ab_lo, ce_lo));
  _mm_storeu_si128(o + 2, _mm_unpacklo_epi16(ab_hi, ce_hi));
  _mm_storeu_si128(o + 3, _mm_unpackhi_epi16(ab_hi, ce_hi));
#elif defined(__ARM_NEON)
  const uint8x16_t m = vdupq_n_u8(mask);
  uint8x16x4_t v;
  v.val[0] = veorq_u8(vld1q_u8(s0), m);
  v.val[1] = veorq_u8(vld1q_u8(s1), m);
  v.val[2] = veorq_u8(vld1q_u8(s2), m);
  v.val[3] = veorq_u8(vld1q_u8(s3), m);
  vst4q_u8(out, v);
#else
  const uint8_t* s[4] = {s0, s1, s2, s3};
  for (int i = 0; i < 16; ++i)
    for (int t = 0; t < 4; ++t) out[i * 4 + t] = s[t][i] ^ mask;
#endif
}

// even[i] = src[2i], odd[i] = src[2i + 1] for i < 16: 32 bytes split by parity (stride-2 convs).
inline void deinterleave2x16_u8(const uint8_t* src, uint8_t* even, uint8_t* odd) {
#if defined(__SSE2__)
  const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src));
  const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 16));
  const __m128i low = _mm_set1_epi16(0x00ff);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(even), _mm_packus_epi16(_mm_and_si128(a, low), _mm_and_si128(b, low)));
  _mm_storeu_si128(reinterpret_cast<__m128i*>(odd), _mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8)));
#elif defined(__ARM_NEON)
  const uint8x16x2_t v = vld2q_u8(src);
  vst1q_u8(even, v.val[0]);
  vst1q_u8(odd, v.val[1]);
#else
  for (int i = 0; i < 16; ++i) {
    even[i] = src[2 * i];
    odd[i] = src[2 * i + 1];
  }
#endif
}

// even[j] = src[2j], odd[j] = src[2j + 1] for j < n (4-byte pixels split by column parity: the
// phase planes of stride-2 convs). Reads src[0, 2 * ceil(n / 4) * 4); writes only [0, n).
inline void deinterleave_u32(const uint32_t* src, int64_t n, uint32_t* even, uint32_t* odd) {
  int64_t j = 0;
#if defined(__SSE2__)
  for (; j + 4 <= n; j += 4) {
    const __m128 a = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * j)));
    const __m128 b = _mm_castsi128_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + 2 * j + 4)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(even + j), _mm_castps_si128(_mm_shuffle_ps(a, b, 0x88)));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(odd + j), _mm_castps_si128(_mm_shuffle_ps(a, b, 0xdd)));
  }
#elif defined(__ARM_NEON)
  for (; j + 4 <= n; j += 4) {
    const uint32x4x2_t v = vld2q_u32(src + 2 * j);
    vst1q_u32(even + j, v.val[0]);
    vst1q_u32(odd + j, v.val[1]);
  }
#endif
  for (; j < n; ++j) {
    even[j] = src[2 * j];
    odd[j] = src[2 * j + 1];
  }
}

// p[i] ^= mask for i < n (the compiler vectorizes this loop for any ISA).
inline void xor_u8(uint8_t* p, int64_t n, uint8_t mask) {
  for (int64_t i = 0; i < n; ++i) p[i] ^= mask;
}

}  // namespace edgeopt::kernels::gemm_int8

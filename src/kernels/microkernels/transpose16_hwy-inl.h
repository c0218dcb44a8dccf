// A 16x16 fp32 transpose in AVX-512 registers, for the per-target kernels that switch between
// planes and pixel-major vectors (the small-plane depthwise conv, the pixel-rows conv's stores).
// Per-target header (Highway's toggle guard): include after hwy/highway.h in a foreach_target file.
#if defined(EDGEOPT_KERNELS_MICROKERNELS_TRANSPOSE16_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef EDGEOPT_KERNELS_MICROKERNELS_TRANSPOSE16_INL_H_
#undef EDGEOPT_KERNELS_MICROKERNELS_TRANSPOSE16_INL_H_
#else
#define EDGEOPT_KERNELS_MICROKERNELS_TRANSPOSE16_INL_H_
#endif

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::microkernels {
namespace HWY_NAMESPACE {

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// r[i] = row i of a 16x16 block -> r[j] = column j: 64 in-register shuffles (unpack ps, unpack pd,
// two rounds of 128-bit lane shuffles).
HWY_INLINE void Transpose16x16F32(__m512* r) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  __m512 u[16];  // u[4i + k], 128-bit lane L: column 4L + k, rows 4i .. 4i + 3
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 2]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 1]), e = _mm512_castps_pd(t[4 * i + 3]);
    u[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, b));
    u[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, b));
    u[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(c, e));
    u[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(c, e));
  }
  for (int k = 0; k < 4; ++k) {
    const __m512 s0 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0x44), s1 = _mm512_shuffle_f32x4(u[k], u[4 + k], 0xEE);
    const __m512 s2 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0x44);
    const __m512 s3 = _mm512_shuffle_f32x4(u[8 + k], u[12 + k], 0xEE);
    r[k] = _mm512_shuffle_f32x4(s0, s2, 0x88);
    r[4 + k] = _mm512_shuffle_f32x4(s0, s2, 0xDD);
    r[8 + k] = _mm512_shuffle_f32x4(s1, s3, 0x88);
    r[12 + k] = _mm512_shuffle_f32x4(s1, s3, 0xDD);
  }
}
#endif

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::microkernels
HWY_AFTER_NAMESPACE();

#endif  // toggle guard

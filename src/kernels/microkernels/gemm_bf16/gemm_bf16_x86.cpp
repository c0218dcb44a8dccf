// x86 bf16 tile: AVX512-BF16 vdpbf16ps (two bf16 products summed into each f32 lane per
// instruction, twice the flops of an f32 FMA). Functions carry target attributes and run only after
// gemm_bf16's CPUID check.
#include <cstdlib>
#include <cstring>

#include "kernels/microkernels/gemm_bf16/gemm_bf16_internal.h"

#if defined(__x86_64__)
#include <immintrin.h>

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own mask intrinsics (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define EDGEOPT_TARGET_AVX512BF16 __attribute__((target("avx512f,avx512bw,avx512vl,avx512bf16")))
#define EDGEOPT_TARGET_AVX512BW __attribute__((target("avx512f,avx512bw")))

namespace edgeopt::kernels::gemm_bf16::detail {
namespace {

inline int32_t load_pair(const uint16_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline __mmask16 cols_mask(int64_t nr, int64_t from) {
  const int64_t n = nr - from;
  return n <= 0 ? __mmask16{0} : n >= 16 ? __mmask16{0xffff} : static_cast<__mmask16>((1u << n) - 1);
}

// kRows (1, 2, 4 or 8) rows of the tile: a batch-1 Gemm computes one row, not eight. 24 named
// accumulators, not an array indexed in the K loop: with an array GCC 12 copies registers around
// every FMA (see gemm_int8_x86.cpp).
template <int kRows>
EDGEOPT_TARGET_AVX512BF16 void tile_rows(const Tile& t) {
  const __mmask16 m0 = cols_mask(t.nr, 0), m1 = cols_mask(t.nr, 16), m2 = cols_mask(t.nr, 32);
  __m512 c00 = _mm512_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00, c20 = c00, c21 = c00,
         c22 = c00, c30 = c00, c31 = c00, c32 = c00, c40 = c00, c41 = c00, c42 = c00, c50 = c00, c51 = c00,
         c52 = c00, c60 = c00, c61 = c00, c62 = c00, c70 = c00, c71 = c00, c72 = c00;
  if (t.load_c) {
#define EDGEOPT_BF16_LOAD_ROW(i, x0, x1, x2)                       \
  if (kRows > (i) && t.mr > (i)) {                                 \
    x0 = _mm512_maskz_loadu_ps(m0, t.c + (i) * t.ldc);             \
    x1 = _mm512_maskz_loadu_ps(m1, t.c + (i) * t.ldc + 16);        \
    x2 = _mm512_maskz_loadu_ps(m2, t.c + (i) * t.ldc + 32);        \
  }
    EDGEOPT_BF16_LOAD_ROW(0, c00, c01, c02)
    EDGEOPT_BF16_LOAD_ROW(1, c10, c11, c12)
    EDGEOPT_BF16_LOAD_ROW(2, c20, c21, c22)
    EDGEOPT_BF16_LOAD_ROW(3, c30, c31, c32)
    EDGEOPT_BF16_LOAD_ROW(4, c40, c41, c42)
    EDGEOPT_BF16_LOAD_ROW(5, c50, c51, c52)
    EDGEOPT_BF16_LOAD_ROW(6, c60, c61, c62)
    EDGEOPT_BF16_LOAD_ROW(7, c70, c71, c72)
#undef EDGEOPT_BF16_LOAD_ROW
  }
  const uint16_t* a = t.a;
  const uint16_t* b = t.b;
  for (int64_t q = 0; q < t.kq; ++q, a += kMr * 2, b += kNr * 2) {
    const __m512bh b0 = (__m512bh)_mm512_loadu_si512(b);
    const __m512bh b1 = (__m512bh)_mm512_loadu_si512(b + 32);
    const __m512bh b2 = (__m512bh)_mm512_loadu_si512(b + 64);
    __m512bh av;
#define EDGEOPT_BF16_ROW(i, x0, x1, x2)                              \
  if constexpr (kRows > (i)) {                                       \
    av = (__m512bh)_mm512_set1_epi32(load_pair(a + 2 * (i)));        \
    x0 = _mm512_dpbf16_ps(x0, av, b0);                               \
    x1 = _mm512_dpbf16_ps(x1, av, b1);                               \
    x2 = _mm512_dpbf16_ps(x2, av, b2);                               \
  }
    EDGEOPT_BF16_ROW(0, c00, c01, c02)
    EDGEOPT_BF16_ROW(1, c10, c11, c12)
    EDGEOPT_BF16_ROW(2, c20, c21, c22)
    EDGEOPT_BF16_ROW(3, c30, c31, c32)
    EDGEOPT_BF16_ROW(4, c40, c41, c42)
    EDGEOPT_BF16_ROW(5, c50, c51, c52)
    EDGEOPT_BF16_ROW(6, c60, c61, c62)
    EDGEOPT_BF16_ROW(7, c70, c71, c72)
#undef EDGEOPT_BF16_ROW
  }
  const __m512 acc[kMr][3] = {{c00, c01, c02}, {c10, c11, c12}, {c20, c21, c22}, {c30, c31, c32},
                              {c40, c41, c42}, {c50, c51, c52}, {c60, c61, c62}, {c70, c71, c72}};
  const __mmask16 masks[3] = {m0, m1, m2};
  __m512 cb[3] = {_mm512_setzero_ps(), _mm512_setzero_ps(), _mm512_setzero_ps()};
  if (t.last && t.col_bias)
    for (int h = 0; h < 3; ++h) cb[h] = _mm512_maskz_loadu_ps(masks[h], t.col_bias + 16 * h);
  const __m512 lo = _mm512_set1_ps(t.lo), hi = _mm512_set1_ps(t.hi);
  for (int64_t i = 0; i < kRows && i < t.mr; ++i) {
    const __m512 rb = t.last && t.row_bias ? _mm512_set1_ps(t.row_bias[i]) : _mm512_setzero_ps();
    for (int h = 0; h < 3; ++h) {
      if (!masks[h]) break;
      __m512 v = acc[i][h];
      if (t.last) {
        if (t.row_bias) v = _mm512_add_ps(v, rb);
        if (t.col_bias) v = _mm512_add_ps(v, cb[h]);
        if (t.clamp) v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
      }
      _mm512_mask_storeu_ps(t.c + i * t.ldc + 16 * h, masks[h], v);
    }
  }
}

// f32_to_bf16 on 16 lanes, left in the high half of each 32-bit lane (low half garbage).
EDGEOPT_TARGET_AVX512BW inline __m512i round_bf16_hi(__m512 x) {
  const __m512i u = _mm512_castps_si512(x);
  const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
  const __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff)));
  const __mmask16 nan =
      _mm512_cmpgt_epu32_mask(_mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff)), _mm512_set1_epi32(0x7f800000));
  return _mm512_mask_or_epi32(r, nan, u, _mm512_set1_epi32(0x00400000));  // nan stays nan (quiet)
}

}  // namespace

void tile_avx512bf16(const Tile& t) {
  if (t.mr <= 1)
    tile_rows<1>(t);
  else if (t.mr <= 2)
    tile_rows<2>(t);
  else if (t.mr <= 4)
    tile_rows<4>(t);
  else
    tile_rows<8>(t);
}

EDGEOPT_TARGET_AVX512BW void pack_b_pair_avx512(const float* r0, const float* r1, int64_t nc, uint16_t* out) {
  for (int64_t c = 0; c < kNr; c += 16) {
    const __mmask16 m = cols_mask(nc, c);
    const __m512i h0 = round_bf16_hi(_mm512_maskz_loadu_ps(m, r0 + c));
    const __m512i h1 = r1 ? round_bf16_hi(_mm512_maskz_loadu_ps(m, r1 + c)) : _mm512_setzero_si512();
    // Low half of each lane: r0's bf16, high half: r1's (element 2c and 2c + 1 of the pair).
    const __m512i w = _mm512_mask_blend_epi16(0xAAAAAAAAu, _mm512_srli_epi32(h0, 16), h1);
    _mm512_storeu_si512(out + 2 * c, _mm512_maskz_mov_epi32(m, w));
  }
}

}  // namespace edgeopt::kernels::gemm_bf16::detail

#else  // not x86-64: default_isa() never picks these

namespace edgeopt::kernels::gemm_bf16::detail {
void tile_avx512bf16(const Tile&) { std::abort(); }
void pack_b_pair_avx512(const float*, const float*, int64_t, uint16_t*) { std::abort(); }
}  // namespace edgeopt::kernels::gemm_bf16::detail

#endif

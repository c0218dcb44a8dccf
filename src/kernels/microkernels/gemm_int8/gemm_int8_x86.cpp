// x86 int8 microkernels: AVX512-VNNI (vpdpbusd: four u8*s8 products summed into each s32 lane)
// and AVX2 (widen to s16, vpmaddwd: exact, unlike vpmaddubsw which saturates u8*s8 pair sums at
// s16). Functions carry target attributes and run only after gemm_int8's CPUID check.
#if defined(__x86_64__)
#include <immintrin.h>

#include <cstring>

#include "kernels/microkernels/gemm_int8/gemm_int8_internal.h"
#include "kernels/microkernels/gemm_int8/requantize_avx512.h"
#include "kernels/quant/requantize.h"

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own mask intrinsics (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#define EDGEOPT_TARGET_AVX512VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,bmi2")))
#define EDGEOPT_TARGET_AVX2 __attribute__((target("avx2,fma")))

namespace edgeopt::kernels::gemm_int8::detail {
namespace {

using x86::RequantConsts;
using x86::requant_consts;
using x86::requantize16;

inline int32_t load_quad(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// The 8x32 tile's K loop: 16 named zmm accumulators c00..c71 (row, half), per k-quad two R loads
// and eight 4-byte broadcasts of L. Named variables, not an array indexed in a loop: with an array
// GCC 12 copied registers around every vpdpbusd. Needs kLhsUnsigned, kIndirect, kq, l, r and roff
// in scope; R quad q is at r + q * 128 (packed) or r + roff[q] (indirect, Operands::rhs_quad_offsets).
#define EDGEOPT_VNNI_8X32_ACCUMULATE()                                                                              \
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00; \
  __m512i c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;                   \
  for (int64_t q = 0; q < kq; ++q, l += kMr * 4, r += kIndirect ? 0 : kNr * 4) {                                  \
    const uint8_t* rq = kIndirect ? r + roff[q] : r;                                                               \
    const __m512i b0 = _mm512_loadu_si512(rq);                                                                     \
    const __m512i b1 = _mm512_loadu_si512(rq + 64);                                                                \
    __m512i a;                                                                                                     \
    EDGEOPT_VNNI_ROW(0, c00, c01);                                                                                 \
    EDGEOPT_VNNI_ROW(1, c10, c11);                                                                                 \
    EDGEOPT_VNNI_ROW(2, c20, c21);                                                                                 \
    EDGEOPT_VNNI_ROW(3, c30, c31);                                                                                 \
    EDGEOPT_VNNI_ROW(4, c40, c41);                                                                                 \
    EDGEOPT_VNNI_ROW(5, c50, c51);                                                                                 \
    EDGEOPT_VNNI_ROW(6, c60, c61);                                                                                 \
    EDGEOPT_VNNI_ROW(7, c70, c71);                                                                                 \
  }                                                                                                                \
  const __m512i acc[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},                                      \
                               {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}}
#define EDGEOPT_VNNI_ROW(i, x0, x1)                                                                  \
  a = _mm512_set1_epi32(load_quad(l + 4 * (i)));                                                     \
  x0 = kLhsUnsigned ? _mm512_dpbusd_epi32(x0, a, b0) : _mm512_dpbusd_epi32(x0, b0, a);               \
  x1 = kLhsUnsigned ? _mm512_dpbusd_epi32(x1, a, b1) : _mm512_dpbusd_epi32(x1, b1, a)

// 8x32 tile into an s32 tile in memory.
template <bool kLhsUnsigned, bool kIndirect>
EDGEOPT_TARGET_AVX512VNNI void ukernel_vnni_8x32(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile,
                                                 [[maybe_unused]] const int64_t* roff) {
  EDGEOPT_VNNI_8X32_ACCUMULATE();
  for (int64_t i = 0; i < kMr; ++i) {
    _mm512_store_si512(tile + i * kNr, acc[i][0]);
    _mm512_store_si512(tile + i * kNr + 16, acc[i][1]);
  }
}

// The 8x32 kernel with the per-row u8/s8 epilogue applied to the accumulators in registers (bias,
// the channel-form requantization, clamp, narrow, one 32-byte store per row): no s32 tile round
// trip through memory, which for the small-K pointwise convs (K = 16-96) cost as much as the MACs.
// Every row's channel must be requant_channel_ok (rows[i].general false).
template <bool kLhsUnsigned, bool kIndirect>
EDGEOPT_TARGET_AVX512VNNI void ukernel_vnni_8x32_q8rows(int64_t kq, const uint8_t* l, const uint8_t* r,
                                                        [[maybe_unused]] const int64_t* roff,
                                                        const x86::RequantChannelScalars* rows, const int32_t* bias,
                                                        const Epilogue& ep, uint8_t* c, int64_t ldc) {
  EDGEOPT_VNNI_8X32_ACCUMULATE();
  const __m512i zp = _mm512_set1_epi32(ep.zero_point), lo = _mm512_set1_epi32(ep.qmin), hi = _mm512_set1_epi32(ep.qmax);
  for (int64_t i = 0; i < kMr; ++i) {
    const __m512i b = bias ? _mm512_set1_epi32(bias[i]) : _mm512_setzero_si512();
    const x86::RequantChannel rc = x86::requant_channel(rows[i]);
    const __m128i y0 = _mm512_cvtepi32_epi8(x86::requantize16_channel(_mm512_add_epi32(acc[i][0], b), rc, zp, lo, hi));
    const __m128i y1 = _mm512_cvtepi32_epi8(x86::requantize16_channel(_mm512_add_epi32(acc[i][1], b), rc, zp, lo, hi));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(c + i * ldc), _mm256_inserti128_si256(_mm256_castsi128_si256(y0), y1, 1));
  }
}
#undef EDGEOPT_VNNI_ROW
#undef EDGEOPT_VNNI_8X32_ACCUMULATE

// The pixel-rows tile (gemm_int8_pixel_rows): rows are kRows <= 8 pixels, each read through its own
// pointer plus the quad's offset (u8, broadcast), columns 32 output channels: four consecutive
// pack_lhs blocks of the s8 weights (wstride bytes apart), two blocks' 32-byte quads joined per zmm.
// Fewer rows (4, 1) for a plane's last pixels (3136 = 392 x 8, 200 = 25 x 8, 20 = 2 x 8 + 4), or
// 7 per block where that tiles the plane and 8 does not (49 = 7 x 7, 196 = 28 x 7).
template <int kRows>
EDGEOPT_TARGET_AVX512VNNI void ukernel_vnni_px_rows(int64_t kq, const uint8_t* const* px, const int64_t* off,
                                                    const uint8_t* w, int64_t wstride, int32_t* tile) {
  const uint8_t *p0 = px[0], *p1 = px[1], *p2 = px[2], *p3 = px[3], *p4 = px[4], *p5 = px[5], *p6 = px[6],
                *p7 = px[7];
  const uint8_t *w0 = w, *w1 = w + wstride, *w2 = w + 2 * wstride, *w3 = w + 3 * wstride;
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
  __m512i c40 = c00, c41 = c00, c50 = c00, c51 = c00, c60 = c00, c61 = c00, c70 = c00, c71 = c00;
  for (int64_t q = 0; q < kq; ++q) {
    const int64_t o = off[q], wq = q * kMr * 4;
    const __m512i b0 = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w0 + wq))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w1 + wq)), 1);
    const __m512i b1 = _mm512_inserti64x4(
        _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(w2 + wq))),
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w3 + wq)), 1);
    __m512i a;
#define EDGEOPT_PX_ROW(i, p, x0, x1)           \
  if constexpr (kRows > (i)) {                 \
    a = _mm512_set1_epi32(load_quad((p) + o)); \
    x0 = _mm512_dpbusd_epi32(x0, a, b0);       \
    x1 = _mm512_dpbusd_epi32(x1, a, b1);       \
  }
    EDGEOPT_PX_ROW(0, p0, c00, c01)
    EDGEOPT_PX_ROW(1, p1, c10, c11)
    EDGEOPT_PX_ROW(2, p2, c20, c21)
    EDGEOPT_PX_ROW(3, p3, c30, c31)
    EDGEOPT_PX_ROW(4, p4, c40, c41)
    EDGEOPT_PX_ROW(5, p5, c50, c51)
    EDGEOPT_PX_ROW(6, p6, c60, c61)
    EDGEOPT_PX_ROW(7, p7, c70, c71)
#undef EDGEOPT_PX_ROW
  }
  const __m512i acc[kMr][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31},
                               {c40, c41}, {c50, c51}, {c60, c61}, {c70, c71}};
  for (int64_t i = 0; i < kRows; ++i) {
    _mm512_store_si512(tile + i * kNr, acc[i][0]);
    _mm512_store_si512(tile + i * kNr + 16, acc[i][1]);
  }
}

// A block with at most 4 real rows (e.g. 44 output channels = 5 full blocks + 4 rows): rows 0-3
// of the tile only, half the work of the 8-row kernel; rows 4-7 of the tile are left unwritten.
template <bool kLhsUnsigned>
EDGEOPT_TARGET_AVX512VNNI void ukernel_vnni_4x32(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile) {
  __m512i c00 = _mm512_setzero_si512(), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00, c30 = c00, c31 = c00;
#define EDGEOPT_DP(acc, a, b) acc = kLhsUnsigned ? _mm512_dpbusd_epi32(acc, a, b) : _mm512_dpbusd_epi32(acc, b, a)
  for (int64_t q = 0; q < kq; ++q, l += kMr * 4, r += kNr * 4) {
    const __m512i b0 = _mm512_loadu_si512(r);
    const __m512i b1 = _mm512_loadu_si512(r + 64);
    __m512i a = _mm512_set1_epi32(load_quad(l + 0));
    EDGEOPT_DP(c00, a, b0);
    EDGEOPT_DP(c01, a, b1);
    a = _mm512_set1_epi32(load_quad(l + 4));
    EDGEOPT_DP(c10, a, b0);
    EDGEOPT_DP(c11, a, b1);
    a = _mm512_set1_epi32(load_quad(l + 8));
    EDGEOPT_DP(c20, a, b0);
    EDGEOPT_DP(c21, a, b1);
    a = _mm512_set1_epi32(load_quad(l + 12));
    EDGEOPT_DP(c30, a, b0);
    EDGEOPT_DP(c31, a, b1);
  }
#undef EDGEOPT_DP
  const __m512i rows[4][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}};
  for (int64_t i = 0; i < 4; ++i) {
    _mm512_store_si512(tile + i * kNr, rows[i][0]);
    _mm512_store_si512(tile + i * kNr + 16, rows[i][1]);
  }
}

// A single-row block (batch-1 MatMul/Gemm: a GEMV): only row 0 of L is real, so the 8x32 kernel
// would waste 7/8 of its work; four k-quads in flight hide vpdpbusd's latency instead.
template <bool kLhsUnsigned>
EDGEOPT_TARGET_AVX512VNNI void ukernel_vnni_1x32(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile,
                                                 int64_t ls) {
  __m512i acc[8];
  for (auto& a : acc) a = _mm512_setzero_si512();
  int64_t q = 0;
  for (; q + 4 <= kq; q += 4) {
#pragma GCC unroll 4
    for (int u = 0; u < 4; ++u) {
      const __m512i a = _mm512_set1_epi32(load_quad(l + (q + u) * ls));
      const uint8_t* rq = r + (q + u) * kNr * 4;
      const __m512i b0 = _mm512_loadu_si512(rq), b1 = _mm512_loadu_si512(rq + 64);
      acc[2 * u] = kLhsUnsigned ? _mm512_dpbusd_epi32(acc[2 * u], a, b0) : _mm512_dpbusd_epi32(acc[2 * u], b0, a);
      acc[2 * u + 1] =
          kLhsUnsigned ? _mm512_dpbusd_epi32(acc[2 * u + 1], a, b1) : _mm512_dpbusd_epi32(acc[2 * u + 1], b1, a);
    }
  }
  for (; q < kq; ++q) {
    const __m512i a = _mm512_set1_epi32(load_quad(l + q * ls));
    const uint8_t* rq = r + q * kNr * 4;
    const __m512i b0 = _mm512_loadu_si512(rq), b1 = _mm512_loadu_si512(rq + 64);
    acc[0] = kLhsUnsigned ? _mm512_dpbusd_epi32(acc[0], a, b0) : _mm512_dpbusd_epi32(acc[0], b0, a);
    acc[1] = kLhsUnsigned ? _mm512_dpbusd_epi32(acc[1], a, b1) : _mm512_dpbusd_epi32(acc[1], b1, a);
  }
  // Wrapping s32 adds: the same sum in any order.
  const __m512i c0 = _mm512_add_epi32(_mm512_add_epi32(acc[0], acc[2]), _mm512_add_epi32(acc[4], acc[6]));
  const __m512i c1 = _mm512_add_epi32(_mm512_add_epi32(acc[1], acc[3]), _mm512_add_epi32(acc[5], acc[7]));
  _mm512_store_si512(tile, c0);
  _mm512_store_si512(tile + 16, c1);
}

// One row at a time: eight ymm accumulators hold (k0k1, k2k3) partial sums of 32 columns.
template <bool kLhsUnsigned>
EDGEOPT_TARGET_AVX2 void ukernel_avx2_8x32(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile) {
  for (int64_t i = 0; i < kMr; ++i) {
    __m256i acc[8];
    for (auto& a : acc) a = _mm256_setzero_si256();
    const uint8_t* li = l + i * 4;
    const uint8_t* rq = r;
    for (int64_t q = 0; q < kq; ++q, li += kMr * 4, rq += kNr * 4) {
      const __m128i l4 = _mm_cvtsi32_si128(load_quad(li));
      const __m256i lb = _mm256_broadcastq_epi64(kLhsUnsigned ? _mm_cvtepu8_epi16(l4) : _mm_cvtepi8_epi16(l4));
      for (int c = 0; c < 8; ++c) {
        const __m128i rv = _mm_loadu_si128(reinterpret_cast<const __m128i*>(rq + c * 16));
        const __m256i rw = kLhsUnsigned ? _mm256_cvtepi8_epi16(rv) : _mm256_cvtepu8_epi16(rv);
        acc[c] = _mm256_add_epi32(acc[c], _mm256_madd_epi16(rw, lb));
      }
    }
    for (int c = 0; c < 8; ++c) {
      alignas(32) int32_t lanes[8];
      _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), acc[c]);
      for (int t = 0; t < 4; ++t)
        tile[i * kNr + c * 4 + t] =
            static_cast<int32_t>(static_cast<uint32_t>(lanes[2 * t]) + static_cast<uint32_t>(lanes[2 * t + 1]));
    }
  }
}

}  // namespace

void ukernel_avx512vnni(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned,
                        const int64_t* roff) {
  if (roff) {
    if (lhs_unsigned)
      ukernel_vnni_8x32<true, true>(kq, l, r, tile, roff);
    else
      ukernel_vnni_8x32<false, true>(kq, l, r, tile, roff);
  } else if (lhs_unsigned) {
    ukernel_vnni_8x32<true, false>(kq, l, r, tile, nullptr);
  } else {
    ukernel_vnni_8x32<false, false>(kq, l, r, tile, nullptr);
  }
}

void ukernel_avx512vnni_q8rows(int64_t kq, const uint8_t* l, const uint8_t* r, const int64_t* roff,
                               bool lhs_unsigned, const x86::RequantChannelScalars* rows, const int32_t* bias,
                               const Epilogue& ep, uint8_t* c, int64_t ldc) {
  if (roff) {
    if (lhs_unsigned)
      ukernel_vnni_8x32_q8rows<true, true>(kq, l, r, roff, rows, bias, ep, c, ldc);
    else
      ukernel_vnni_8x32_q8rows<false, true>(kq, l, r, roff, rows, bias, ep, c, ldc);
  } else if (lhs_unsigned) {
    ukernel_vnni_8x32_q8rows<true, false>(kq, l, r, nullptr, rows, bias, ep, c, ldc);
  } else {
    ukernel_vnni_8x32_q8rows<false, false>(kq, l, r, nullptr, rows, bias, ep, c, ldc);
  }
}

int64_t ukernel_avx512vnni_pixel_rows(int64_t rows, int64_t kq, const uint8_t* const* px, const int64_t* off,
                                      const uint8_t* w, int64_t wstride, int32_t* tile) {
  if (rows == 1) return ukernel_vnni_px_rows<1>(kq, px, off, w, wstride, tile), 1;
  if (rows <= 4) return ukernel_vnni_px_rows<4>(kq, px, off, w, wstride, tile), 4;
  if (rows <= 7) return ukernel_vnni_px_rows<7>(kq, px, off, w, wstride, tile), 7;
  return ukernel_vnni_px_rows<8>(kq, px, off, w, wstride, tile), 8;
}

void ukernel_avx512vnni_4row(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned) {
  if (lhs_unsigned)
    ukernel_vnni_4x32<true>(kq, l, r, tile);
  else
    ukernel_vnni_4x32<false>(kq, l, r, tile);
}

void ukernel_avx512vnni_1row(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned,
                             int64_t lhs_quad_stride) {
  if (lhs_unsigned)
    ukernel_vnni_1x32<true>(kq, l, r, tile, lhs_quad_stride);
  else
    ukernel_vnni_1x32<false>(kq, l, r, tile, lhs_quad_stride);
}

void ukernel_avx2(int64_t kq, const uint8_t* l, const uint8_t* r, int32_t* tile, bool lhs_unsigned) {
  if (lhs_unsigned)
    ukernel_avx2_8x32<true>(kq, l, r, tile);
  else
    ukernel_avx2_8x32<false>(kq, l, r, tile);
}

// Full s32 rows of per-row channels (a conv before a fused max pool): bias, two stores per row. Kept
// apart from epilogue_avx512 so the requantizing loop there compiles as before.
__attribute__((noinline)) static EDGEOPT_TARGET_AVX512VNNI void epilogue_s32_rows_avx512(const int32_t* tile, int64_t i0,
                                                                                        int64_t mr, int64_t j0,
                                                                                        const Epilogue& ep, int32_t* c,
                                                                                        int64_t ldc) {
  for (int64_t i = 0; i < mr; ++i) {
    const __m512i bias = ep.bias ? _mm512_set1_epi32(ep.bias[i0 + i]) : _mm512_setzero_si512();
    int32_t* out = c + (i0 + i) * ldc + j0;
    _mm512_storeu_si512(out, _mm512_add_epi32(_mm512_load_si512(tile + i * kNr), bias));
    _mm512_storeu_si512(out + 16, _mm512_add_epi32(_mm512_load_si512(tile + i * kNr + 16), bias));
  }
}

// A per-row u8/s8 epilogue of full rows with the per-channel requantization constants precomputed.
__attribute__((noinline)) static EDGEOPT_TARGET_AVX512VNNI void epilogue_q8_rows_avx512(
    const int32_t* tile, int64_t i0, int64_t mr, int64_t j0, const Epilogue& ep, void* c, int64_t ldc,
    const x86::RequantChannelScalars* rows) {
  const __m512i zp = _mm512_set1_epi32(ep.zero_point), lo = _mm512_set1_epi32(ep.qmin), hi = _mm512_set1_epi32(ep.qmax);
  for (int64_t i = 0; i < mr; ++i) {
    const __m512i bias = ep.bias ? _mm512_set1_epi32(ep.bias[i0 + i]) : _mm512_setzero_si512();
    const __m512i a0 = _mm512_add_epi32(_mm512_load_si512(tile + i * kNr), bias);
    const __m512i a1 = _mm512_add_epi32(_mm512_load_si512(tile + i * kNr + 16), bias);
    const x86::RequantChannelScalars& rs = rows[i0 + i];
    __m128i y0, y1;
    if (!rs.general) {
      const x86::RequantChannel rc = x86::requant_channel(rs);
      y0 = _mm512_cvtepi32_epi8(x86::requantize16_channel(a0, rc, zp, lo, hi));
      y1 = _mm512_cvtepi32_epi8(x86::requantize16_channel(a1, rc, zp, lo, hi));
    } else {
      const RequantConsts k = x86::requant_consts_channel(rs.mult, rs.shift);
      y0 = _mm512_cvtepi32_epi8(requantize16(a0, k, zp, lo, hi));
      y1 = _mm512_cvtepi32_epi8(requantize16(a1, k, zp, lo, hi));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint8_t*>(c) + (i0 + i) * ldc + j0),
                        _mm256_inserti128_si256(_mm256_castsi128_si256(y0), y1, 1));
  }
}

EDGEOPT_TARGET_AVX512VNNI void epilogue_avx512(const int32_t* tile, int64_t i0, int64_t mr, int64_t j0, int64_t nr,
                                               const Epilogue& ep, void* c, int64_t ldc,
                                               const x86::RequantChannelScalars* rows) {
  if (rows && nr == kNr) return epilogue_q8_rows_avx512(tile, i0, mr, j0, ep, c, ldc, rows);
  if (ep.out == OutType::kS32 && ep.per_row && nr == kNr)
    return epilogue_s32_rows_avx512(tile, i0, mr, j0, ep, static_cast<int32_t*>(c), ldc);
  const __m512i zp = _mm512_set1_epi32(ep.zero_point), lo = _mm512_set1_epi32(ep.qmin), hi = _mm512_set1_epi32(ep.qmax);
  const bool q8 = ep.out != OutType::kS32;
  RequantConsts row_consts{};
  for (int64_t i = 0; i < mr; ++i) {
    if (q8 && ep.per_row) {  // one channel for the row: even and odd lanes share scalar constants
      row_consts = x86::requant_consts_channel(ep.multiplier[i0 + i], ep.shift[i0 + i]);
    }
    if (q8 && ep.per_row && nr == kNr) {  // a full row: two independent chains, one 32-byte store
      const __m512i bias = ep.bias ? _mm512_set1_epi32(ep.bias[i0 + i]) : _mm512_setzero_si512();
      const __m512i a0 = _mm512_add_epi32(_mm512_load_si512(tile + i * kNr), bias);
      const __m512i a1 = _mm512_add_epi32(_mm512_load_si512(tile + i * kNr + 16), bias);
      __m128i y0, y1;
      if (x86::requant_channel_ok(ep.multiplier[i0 + i], ep.shift[i0 + i])) {
        const x86::RequantChannel rc = x86::requant_channel(ep.multiplier[i0 + i], ep.shift[i0 + i]);
        y0 = _mm512_cvtepi32_epi8(x86::requantize16_channel(a0, rc, zp, lo, hi));
        y1 = _mm512_cvtepi32_epi8(x86::requantize16_channel(a1, rc, zp, lo, hi));
      } else {
        y0 = _mm512_cvtepi32_epi8(requantize16(a0, row_consts, zp, lo, hi));
        y1 = _mm512_cvtepi32_epi8(requantize16(a1, row_consts, zp, lo, hi));
      }
      _mm256_storeu_si256(reinterpret_cast<__m256i*>(static_cast<uint8_t*>(c) + (i0 + i) * ldc + j0),
                          _mm256_inserti128_si256(_mm256_castsi128_si256(y0), y1, 1));
      continue;
    }
    for (int64_t j = 0; j < nr; j += 16) {
      const __mmask16 m = nr - j >= 16 ? __mmask16(0xffff) : __mmask16((1u << (nr - j)) - 1);
      __m512i acc = _mm512_load_si512(tile + i * kNr + j);
      const int64_t ch = ep.per_row ? i0 + i : j0 + j;
      if (ep.bias)
        acc = _mm512_add_epi32(acc,
                               ep.per_row ? _mm512_set1_epi32(ep.bias[ch]) : _mm512_maskz_loadu_epi32(m, ep.bias + ch));
      const int64_t at = (i0 + i) * ldc + j0 + j;
      if (ep.out == OutType::kS32) {
        if (m == 0xffff)
          _mm512_storeu_si512(static_cast<int32_t*>(c) + at, acc);
        else
          _mm512_mask_storeu_epi32(static_cast<int32_t*>(c) + at, m, acc);
        continue;
      }
      __m128i y;
      if (ep.per_row && x86::requant_channel_ok(ep.multiplier[ch], ep.shift[ch])) {
        // Narrow in a register, then a plain store: Zen 4 runs vpmovdb-to-memory with a mask slowly.
        y = _mm512_cvtepi32_epi8(
            x86::requantize16_channel(acc, x86::requant_channel(ep.multiplier[ch], ep.shift[ch]), zp, lo, hi));
      } else {
        const RequantConsts cc = ep.per_row ? row_consts
                                            : requant_consts(_mm512_maskz_loadu_epi32(m, ep.multiplier + ch),
                                                             _mm512_maskz_loadu_epi32(m, ep.shift + ch));
        y = _mm512_cvtepi32_epi8(requantize16(acc, cc, zp, lo, hi));
      }
      if (m == 0xffff)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint8_t*>(c) + at), y);
      else
        _mm_mask_storeu_epi8(static_cast<uint8_t*>(c) + at, m, y);
    }
  }
}

// The pixel-rows epilogue: tile rows are pixels n0.. (mr real), columns the channels j0..j0+31
// (per-column requantization), written transposed into the channel planes: y[(j0 + j) * ldy + n0 + i].
// The 8 x 32 bytes are transposed by three unpack levels (bytes, words, dwords) into qwords of one
// channel's 8 pixels each: channel 16 L + 8 h1 + 4 h2 + 2 h3 + w is qword w of 128-bit lane L of
// f[h1][h2][h3]. A full tile stores 8 bytes per channel; a partial one only its mr bytes (the rest
// of the qword would land in the next channel's plane).
EDGEOPT_TARGET_AVX512VNNI void epilogue_pixel_rows_avx512(const int32_t* tile, int64_t mr, int64_t j0,
                                                          const Epilogue& ep, uint8_t* y, int64_t ldy, int64_t n0) {
  const __m512i zp = _mm512_set1_epi32(ep.zero_point), lo = _mm512_set1_epi32(ep.qmin), hi = _mm512_set1_epi32(ep.qmax);
  const RequantConsts c0 = requant_consts(_mm512_loadu_si512(ep.multiplier + j0), _mm512_loadu_si512(ep.shift + j0));
  const RequantConsts c1 =
      requant_consts(_mm512_loadu_si512(ep.multiplier + j0 + 16), _mm512_loadu_si512(ep.shift + j0 + 16));
  const __m512i b0 = ep.bias ? _mm512_loadu_si512(ep.bias + j0) : _mm512_setzero_si512();
  const __m512i b1 = ep.bias ? _mm512_loadu_si512(ep.bias + j0 + 16) : _mm512_setzero_si512();
  __m256i r[kMr];
  for (int64_t i = 0; i < kMr; ++i) {
    if (i >= mr) {  // rows past the tile's real ones: junk that is never stored
      r[i] = r[0];
      continue;
    }
    const __m128i y0 = _mm512_cvtepi32_epi8(requantize16(_mm512_add_epi32(_mm512_load_si512(tile + i * kNr), b0), c0, zp, lo, hi));
    const __m128i y1 =
        _mm512_cvtepi32_epi8(requantize16(_mm512_add_epi32(_mm512_load_si512(tile + i * kNr + 16), b1), c1, zp, lo, hi));
    r[i] = _mm256_inserti128_si256(_mm256_castsi128_si256(y0), y1, 1);
  }
  __m256i a[2][4], b[2][2][2], f[2][2][2][2];
  for (int p = 0; p < 4; ++p) {
    a[0][p] = _mm256_unpacklo_epi8(r[2 * p], r[2 * p + 1]);
    a[1][p] = _mm256_unpackhi_epi8(r[2 * p], r[2 * p + 1]);
  }
  for (int h1 = 0; h1 < 2; ++h1)
    for (int p = 0; p < 2; ++p) {
      b[h1][0][p] = _mm256_unpacklo_epi16(a[h1][2 * p], a[h1][2 * p + 1]);
      b[h1][1][p] = _mm256_unpackhi_epi16(a[h1][2 * p], a[h1][2 * p + 1]);
    }
  for (int h1 = 0; h1 < 2; ++h1)
    for (int h2 = 0; h2 < 2; ++h2) {
      f[h1][h2][0][0] = _mm256_unpacklo_epi32(b[h1][h2][0], b[h1][h2][1]);
      f[h1][h2][1][0] = _mm256_unpackhi_epi32(b[h1][h2][0], b[h1][h2][1]);
    }
  uint8_t* base = y + j0 * ldy + n0;
  const __mmask16 tail = static_cast<__mmask16>((1u << mr) - 1);
  for (int h1 = 0; h1 < 2; ++h1)
    for (int h2 = 0; h2 < 2; ++h2)
      for (int h3 = 0; h3 < 2; ++h3) {
        const __m256i v = f[h1][h2][h3][0];
        const __m128i lanes[2] = {_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1)};
        for (int l = 0; l < 2; ++l)
          for (int w = 0; w < 2; ++w) {
            const int64_t ch = 16 * l + 8 * h1 + 4 * h2 + 2 * h3 + w;
            const uint64_t q = static_cast<uint64_t>(w == 0 ? _mm_cvtsi128_si64(lanes[l]) : _mm_extract_epi64(lanes[l], 1));
            if (mr == kMr)
              std::memcpy(base + ch * ldy, &q, 8);
            else  // only the mr real bytes: the rest of the qword belongs to the next tile or plane
              _mm_mask_storeu_epi8(base + ch * ldy - 8 * w, tail << (8 * w), lanes[l]);
          }
      }
}

// Row i of a row-pair tile + its bias: the vertical max (columns 0-15 vs 16-31 are the two conv
// rows), then the max of each column pair in the even lanes (odd lanes: don't care).
EDGEOPT_TARGET_AVX512VNNI inline __m512i pool_row_pairs(const int32_t* tile, int64_t i, const int32_t* bias_or_null,
                                                        int64_t i0) {
  const __m512i bias = bias_or_null ? _mm512_set1_epi32(bias_or_null[i0 + i]) : _mm512_setzero_si512();
  const __m512i v = _mm512_max_epi32(_mm512_add_epi32(_mm512_load_si512(tile + i * kNr), bias),
                                     _mm512_add_epi32(_mm512_load_si512(tile + i * kNr + 16), bias));
  return _mm512_max_epi32(v, _mm512_srli_epi64(v, 32));  // odd lane onto even (zeros shifted in)
}

// Two tile rows at a time: the even lanes of both pooled rows are gathered into one vector (8
// pooled outputs per channel), requantized with per-half constants.
EDGEOPT_TARGET_AVX512VNNI void epilogue_pool2x2_avx512(const int32_t* tile, int64_t i0, int64_t mr, const Epilogue& ep,
                                                       void* y, int64_t plane, int64_t at, int64_t n) {
  const __m512i zp = _mm512_set1_epi32(ep.zero_point), lo = _mm512_set1_epi32(ep.qmin), hi = _mm512_set1_epi32(ep.qmax);
  const __m512i evens = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const auto store_mask = static_cast<__mmask16>((1u << n) - 1);
  for (int64_t i = 0; i < mr; i += 2) {
    const int64_t i1 = i + 1 < mr ? i + 1 : i;  // an odd last row pairs with itself
    const __m512i both = _mm512_permutex2var_epi32(pool_row_pairs(tile, i, ep.bias, i0), evens,
                                                   pool_row_pairs(tile, i1, ep.bias, i0));
    const int64_t c0 = i0 + i, c1 = i0 + i1;
    const __m512i mult =
        _mm512_inserti64x4(_mm512_set1_epi32(ep.multiplier[c0]), _mm256_set1_epi32(ep.multiplier[c1]), 1);
    const __m512i shift = _mm512_inserti64x4(_mm512_set1_epi32(ep.shift[c0]), _mm256_set1_epi32(ep.shift[c1]), 1);
    const __m128i q = _mm512_cvtepi32_epi8(requantize16(both, requant_consts(mult, shift), zp, lo, hi));
    auto* out = static_cast<uint8_t*>(y) + at;
    if (n == 8) {
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + c0 * plane), q);
      if (i1 != i) _mm_storel_epi64(reinterpret_cast<__m128i*>(out + c1 * plane), _mm_unpackhi_epi64(q, q));
    } else {
      _mm_mask_storeu_epi8(out + c0 * plane, store_mask, q);
      if (i1 != i) _mm_mask_storeu_epi8(out + c1 * plane, store_mask, _mm_unpackhi_epi64(q, q));
    }
  }
}

}  // namespace edgeopt::kernels::gemm_int8::detail
#endif  // __x86_64__

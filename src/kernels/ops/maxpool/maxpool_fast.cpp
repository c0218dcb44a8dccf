#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/maxpool/maxpool_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cstring>
#include <limits>

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::maxpool {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// 2x2 stride-2 unpadded pooling of one [2*oh (+1), 2*ow] plane in two passes over contiguous
// memory, so whole vectors serve any width: (1) the max of each horizontal pair over the whole
// plane (pairs never straddle rows when the width is even), (2) the max of vertically adjacent
// pair results, again over the whole plane (half of them straddle two output rows and are
// dropped when the output rows are copied out). A later tap wins only when strictly greater, as
// in the reference; that equals the reference's sequential order unless the plane holds a NaN,
// in which case this returns false and the caller uses the scalar kernel.
// scratch: 4 * (2*oh*ow) floats (pair max, pair position, pass-2 max, pass-2 position).
bool MaxPool2x2S2Plane(const float* x, int64_t oh, int64_t ow, float* y, int32_t* arg, float* scratch) {
#if HWY_TARGET == HWY_SCALAR
  (void)x, (void)oh, (void)ow, (void)y, (void)arg, (void)scratch;
  return false;  // one lane: the scalar kernel is as good
#else
  using D = hn::ScalableTag<float>;
  using DI = hn::RebindToSigned<D>;
  const D d;
  const DI di;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t n1 = 2 * oh * ow, n2 = n1 - ow;
  float* hv = scratch;
  int32_t* hp = reinterpret_cast<int32_t*>(scratch + n1);
  float* zv = scratch + 2 * n1;
  int32_t* zp = reinterpret_cast<int32_t*>(scratch + 3 * n1);
  auto nan_mask = hn::FirstN(d, 0);
  int64_t k = 0;
  for (; k + L <= n1; k += L) {
    const auto lo = hn::LoadU(d, x + 2 * k), hi = hn::LoadU(d, x + 2 * k + L);
    const auto a = hn::ConcatEven(d, hi, lo), b = hn::ConcatOdd(d, hi, lo);
    nan_mask = hn::Or(nan_mask, hn::Or(hn::IsNaN(a), hn::IsNaN(b)));
    const auto m = hn::Gt(b, a);
    hn::StoreU(hn::IfThenElse(m, b, a), d, hv + k);
    if (arg) {
      const auto pos = hn::ShiftLeft<1>(hn::Iota(di, static_cast<int32_t>(k)));
      hn::StoreU(hn::Add(pos, hn::IfThenElseZero(hn::RebindMask(di, m), hn::Set(di, 1))), di, hp + k);
    }
  }
  bool any_nan = !hn::AllFalse(d, nan_mask);
  for (; k < n1; ++k) {
    const float a = x[2 * k], b = x[2 * k + 1];
    any_nan = any_nan || a != a || b != b;
    hv[k] = b > a ? b : a;
    hp[k] = static_cast<int32_t>(2 * k + (b > a));
  }
  if (any_nan) return false;
  k = 0;
  for (; k + L <= n2; k += L) {
    const auto a = hn::LoadU(d, hv + k), b = hn::LoadU(d, hv + k + ow);
    const auto m = hn::Gt(b, a);
    hn::StoreU(hn::IfThenElse(m, b, a), d, zv + k);
    if (arg)
      hn::StoreU(hn::IfThenElse(hn::RebindMask(di, m), hn::LoadU(di, hp + k + ow), hn::LoadU(di, hp + k)), di, zp + k);
  }
  for (; k < n2; ++k) {
    const bool m = hv[k + ow] > hv[k];
    zv[k] = m ? hv[k + ow] : hv[k];
    zp[k] = m ? hp[k + ow] : hp[k];
  }
  for (int64_t oy = 0; oy < oh; ++oy) {
    const int64_t src = 2 * oy * ow;
    for (int64_t ox = 0; ox < ow; ++ox) y[oy * ow + ox] = zv[src + ox];
    if (arg)
      for (int64_t ox = 0; ox < ow; ++ox) arg[oy * ow + ox] = zp[src + ox];
  }
  return true;
#endif
}

// Values only (inference), dilation 1, any kernel/stride/padding: per output row, the max of the
// window's valid input rows as whole vectors (into vmax: scratch of L + max(iw, (ow + L) * sw + kw
// + 2L) floats), then each output's max over its columns of vmax (whole vectors for strides 1, 2). Without NaNs this is the reference's window max; a NaN
// anywhere in the rows read returns false and the caller redoes the plane with the scalar kernel
// (whose first-tap/strictly-greater rule a separable max cannot reproduce).
bool MaxPoolSeparablePlane(const float* x, int64_t ih, int64_t iw, int64_t oh, int64_t ow, int64_t kh, int64_t kw,
                           int64_t sh, int64_t sw, int64_t ph, int64_t pw, float* y, float* vmax) {
  using D = hn::ScalableTag<float>;
  const D d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  auto nan_mask = hn::FirstN(d, 0);
  bool nan_tail = false;
  // The column maxes sit between a head of L and a tail of the lowest value (taps in the padding
  // then change nothing), filled once: the vertical pass rewrites only the iw maxes.
  const int64_t span = (ow + L) * sw + kw + 2 * L;  // every load of the vector horizontal pass
  std::fill(vmax, vmax + L + std::max(span, iw), std::numeric_limits<float>::lowest());
  vmax += L;
  for (int64_t oy = 0; oy < oh; ++oy) {
    const int64_t hs = oy * sh - ph;
    const int64_t r0 = std::max<int64_t>(hs, 0), r1 = std::min<int64_t>(hs + kh, ih);
    float* yr = y + oy * ow;
    if (r1 <= r0) {  // the window lies in the padding only
      for (int64_t ox = 0; ox < ow; ++ox) yr[ox] = std::numeric_limits<float>::lowest();
      continue;
    }
    int64_t c = 0;
    for (; c + L <= iw; c += L) {
      auto m = hn::LoadU(d, x + r0 * iw + c);
      nan_mask = hn::Or(nan_mask, hn::IsNaN(m));
      for (int64_t r = r0 + 1; r < r1; ++r) {
        const auto v = hn::LoadU(d, x + r * iw + c);
        nan_mask = hn::Or(nan_mask, hn::IsNaN(v));
        m = hn::Max(m, v);
      }
      hn::StoreU(m, d, vmax + c);
    }
    for (; c < iw; ++c) {
      float m = x[r0 * iw + c];
      nan_tail = nan_tail || m != m;
      for (int64_t r = r0 + 1; r < r1; ++r) {
        const float v = x[r * iw + c];
        nan_tail = nan_tail || v != v;
        m = v > m ? v : m;
      }
      vmax[c] = m;
    }
    int64_t ox = 0;
#if HWY_TARGET != HWY_SCALAR
    if ((sw == 1 || sw == 2) && pw <= L) {
      // Whole vectors of outputs, output ox reading vmax[ox * sw - pw + kx].
      const float* base = vmax - pw;
      for (; ox + L <= ow; ox += L) {
        auto m = hn::Set(d, std::numeric_limits<float>::lowest());
        for (int64_t kx = 0; kx < kw; ++kx) {
          if (sw == 1) {
            m = hn::Max(m, hn::LoadU(d, base + ox + kx));
          } else {
            hn::Vec<D> even, odd;
            hn::LoadInterleaved2(d, base + 2 * ox + (kx & ~int64_t{1}), even, odd);
            m = hn::Max(m, (kx & 1) ? odd : even);
          }
        }
        hn::StoreU(m, d, yr + ox);
      }
    }
#endif
    for (; ox < ow; ++ox) {
      const int64_t ws = ox * sw - pw;
      const int64_t c0 = std::max<int64_t>(ws, 0), c1 = std::min<int64_t>(ws + kw, iw);
      float m = std::numeric_limits<float>::lowest();
      if (c1 > c0) {
        m = vmax[c0];
        for (int64_t cc = c0 + 1; cc < c1; ++cc) m = vmax[cc] > m ? vmax[cc] : m;
      }
      yr[ox] = m;
    }
  }
  return !nan_tail && hn::AllFalse(d, nan_mask);
}

// u8/s8 codes, 2x2 stride 2 unpadded with even input height and width, over a stack of `rows`
// input rows of width iw (all planes at once: with an even height, row pairs never straddle two
// planes). Pass 1: the max of horizontal pairs over the whole stack (pairs never straddle rows);
// pass 2: the max of row 2r and row 2r+1 of that, as whole vectors over the stack; then every
// other row of pass 2 is an output row. No NaN in integers, so the order of maxes is free.
// scratch: 2 * rows * iw / 2 bytes. Returns false on the scalar target (the caller's loops).
template <typename T>
bool MaxPool2x2S2CodesImpl(const T* x, int64_t rows, int64_t iw, T* y, T* scratch) {
#if HWY_TARGET == HWY_SCALAR
  (void)x, (void)rows, (void)iw, (void)y, (void)scratch;
  return false;
#else
  const hn::ScalableTag<T> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t ow = iw / 2, n1 = rows * ow, n2 = n1 - ow;
  T* h = scratch;
  T* z = scratch + n1;
  int64_t k = 0;
  for (; k + L <= n1; k += L) {
    const auto lo = hn::LoadU(d, x + 2 * k), hi = hn::LoadU(d, x + 2 * k + L);
    hn::StoreU(hn::Max(hn::ConcatEven(d, hi, lo), hn::ConcatOdd(d, hi, lo)), d, h + k);
  }
  for (; k < n1; ++k) h[k] = std::max(x[2 * k], x[2 * k + 1]);
  for (k = 0; k + L <= n2; k += L) hn::StoreU(hn::Max(hn::LoadU(d, h + k), hn::LoadU(d, h + k + ow)), d, z + k);
  for (; k < n2; ++k) z[k] = std::max(h[k], h[k + ow]);
  const int64_t out_rows = rows / 2;
  if (ow >= 8) {  // each output row as 8-byte moves, the last one overlapping
    for (int64_t r = 0; r < out_rows; ++r) {
      const T* src = z + 2 * r * ow;
      T* dst = y + r * ow;
      for (int64_t c = 0; c + 8 < ow; c += 8) std::memcpy(dst + c, src + c, 8);
      std::memcpy(dst + ow - 8, src + ow - 8, 8);
    }
  } else {
    for (int64_t r = 0; r < out_rows; ++r)
      for (int64_t c = 0; c < ow; ++c) y[r * ow + c] = z[2 * r * ow + c];
  }
  return true;
#endif
}

bool MaxPool2x2S2U8(const uint8_t* x, int64_t rows, int64_t iw, uint8_t* y, uint8_t* scratch) {
  return MaxPool2x2S2CodesImpl(x, rows, iw, y, scratch);
}
bool MaxPool2x2S2I8(const int8_t* x, int64_t rows, int64_t iw, int8_t* y, int8_t* scratch) {
  return MaxPool2x2S2CodesImpl(x, rows, iw, y, scratch);
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::maxpool
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__)
#include <immintrin.h>
#endif

// GCC 12's avx512fintrin.h trips -W(maybe-)uninitialized on its own mask intrinsics (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <type_traits>
#include <limits>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/common.h"
#include "kernels/ops/conv/conv_geometry.h"
#include "kernels/ops/maxpool/maxpool_fast.h"

namespace edgeopt::kernels::ops::maxpool {

HWY_EXPORT(MaxPool2x2S2Plane);
HWY_EXPORT(MaxPoolSeparablePlane);
HWY_EXPORT(MaxPool2x2S2U8);
HWY_EXPORT(MaxPool2x2S2I8);

namespace {

using conv::Window;

// A 1-D/2-D pooling window over one plane, with each output row's/column's valid tap range
// precomputed (taps k in [lo, hi) land inside the input).
struct Plane2d {
  int64_t ih, iw, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
  std::vector<int64_t> ky0, ky1, kx0, kx1;
};

void tap_ranges(int64_t out, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, std::vector<int64_t>& lo,
                std::vector<int64_t>& hi) {
  lo.resize(static_cast<size_t>(out));
  hi.resize(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * s - p;
    int64_t a = 0, b = k;
    while (a < k && start + a * d < 0) ++a;
    while (b > a && start + (b - 1) * d >= in) --b;
    lo[o] = a;
    hi[o] = b;
  }
}

Plane2d plane_geometry(const Window& w) {
  Plane2d g{w.big[1], w.big[2], w.small[1], w.small[2], w.kernel[1], w.kernel[2], w.stride[1], w.stride[2],
            w.pad_begin[1], w.pad_begin[2], w.dilation[1], w.dilation[2], {}, {}, {}, {}};
  tap_ranges(g.oh, g.ih, g.kh, g.sh, g.ph, g.dh, g.ky0, g.ky1);
  tap_ranges(g.ow, g.iw, g.kw, g.sw, g.pw, g.dw, g.kx0, g.kx1);
  return g;
}

// The fast path covers f32 windows with at most 2 spatial dims (the padded leading dim is 1).
bool fast_supported(const Window& w) { return w.big[0] == 1 && w.kernel[0] == 1 && w.small[0] == 1; }

// Per plane: y = window max, arg = its position in the plane (-1 for an all-padding window).
// KH/KW > 0 unroll the full-window case at compile time.
template <int KH, int KW>
void maxpool_plane(const Plane2d& g, const float* x, float* y, int32_t* arg) {
  const int64_t kh = KH > 0 ? KH : g.kh, kw = KW > 0 ? KW : g.kw;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t y0 = g.ky0[oy], y1 = g.ky1[oy], hs = oy * g.sh - g.ph;
    const bool full_rows = y0 == 0 && y1 == kh;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t x0 = g.kx0[ox], x1 = g.kx1[ox], ws = ox * g.sw - g.pw;
      float best = std::numeric_limits<float>::lowest();
      int64_t bi = -1;
      if (KH > 0 && full_rows && x0 == 0 && x1 == kw) {
        // Interior: the first tap seeds the max, later taps win only when strictly greater.
        bi = hs * g.iw + ws;
        best = x[bi];
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = ky == 0 ? 1 : 0; kx < kw; ++kx) {
            const int64_t b = (hs + ky * g.dh) * g.iw + ws + kx * g.dw;
            if (x[b] > best) best = x[b], bi = b;
          }
      } else {
        for (int64_t ky = y0; ky < y1; ++ky) {
          const int64_t row = (hs + ky * g.dh) * g.iw + ws;
          for (int64_t kx = x0; kx < x1; ++kx) {
            const int64_t b = row + kx * g.dw;
            if (bi < 0 || x[b] > best) best = x[b], bi = b;
          }
        }
      }
      y[oy * g.ow + ox] = best;
      if (arg) arg[oy * g.ow + ox] = static_cast<int32_t>(bi);
    }
  }
}

// 2x2/s2 without padding over an even width: the two-pass vector kernel (the scalar one when the
// plane holds a NaN or the hardware has no vectors worth it).
void maxpool_plane_2x2s2(const Plane2d& g, const float* x, float* y, int32_t* arg) {
  thread_local std::vector<float> scratch;
  const size_t need = static_cast<size_t>(8 * g.oh * g.ow);
  if (scratch.size() < need) scratch.resize(need);
  if (!HWY_DYNAMIC_DISPATCH(MaxPool2x2S2Plane)(x, g.oh, g.ow, y, arg, scratch.data())) maxpool_plane<2, 2>(g, x, y, arg);
}

using PlaneFn = void (*)(const Plane2d&, const float*, float*, int32_t*);

PlaneFn select_plane_fn(const Plane2d& g) {
  const bool unpadded = g.ph == 0 && g.pw == 0 && g.dh == 1 && g.dw == 1;
  if (g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && unpadded && g.iw == 2 * g.ow && 2 * g.oh <= g.ih &&
      g.oh > 0)
    return maxpool_plane_2x2s2;
  if (g.kh == 2 && g.kw == 2) return maxpool_plane<2, 2>;
  if (g.kh == 3 && g.kw == 3) return maxpool_plane<3, 3>;
  return maxpool_plane<0, 0>;
}

// Planes per task: enough taps that a task outweighs waking a worker.
int64_t plane_grain(int64_t out_sz, int64_t k) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(1, out_sz * k)); }

// Row-major position in a 2-D plane -> column-major (storage_order=1), as the reference.
int64_t column_major(const Plane2d& g, int64_t b) { return (b / g.iw) + g.ih * (b % g.iw); }

// acc[i] = max(acc[i], row[i]) on u8 (or s8 through the sign-flip: x ^ 0x80 orders s8 as u8).
template <typename T>
void max_rows_q8(T* acc, const T* row, int64_t n) {
  int64_t i = 0;
#if defined(__SSE2__)
  const __m128i flip = _mm_set1_epi8(std::is_signed_v<T> ? static_cast<char>(0x80) : 0);
  for (; i + 16 <= n; i += 16) {
    const __m128i a = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(acc + i)), flip);
    const __m128i b = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i)), flip);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(acc + i), _mm_xor_si128(_mm_max_epu8(a, b), flip));
  }
#endif
  for (; i < n; ++i) acc[i] = std::max(acc[i], row[i]);
}

#if defined(__x86_64__)
// ResNet's 3x3/2 pool, padding 1, on u8/s8 codes (int8 after fuse_qdq) with AVX512-VBMI, for rows
// that fit one 128-byte padded row (iw <= 126, ow <= 63): per output row, the (clipped) input rows
// are loaded as two 64-byte halves of the padded row (masked: padding reads as the lowest code),
// maxed vertically, and vpermt2b picks padded columns 2o, 2o + 1 and 2o + 2 for all outputs at once.
// s8 goes through the sign flip (x ^ 0x80 orders s8 as u8, and the masked-off zeros are then the
// lowest). 56 outputs per row in ~16 instructions (the SSE path above: ~150 with its row copies).
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vbmi"))) void maxpool3x3s2p1_q8_vbmi(
    const uint8_t* x, int64_t ih, int64_t iw, int64_t oh, int64_t ow, bool is_signed, uint8_t* y) {
  alignas(64) uint8_t idx[3][64];
  for (int i = 0; i < 64; ++i)
    for (int t = 0; t < 3; ++t) idx[t][i] = static_cast<uint8_t>(std::min(2 * i + t, 127));
  const __m512i i0 = _mm512_load_si512(idx[0]), i1 = _mm512_load_si512(idx[1]), i2 = _mm512_load_si512(idx[2]);
  const __m512i flip = _mm512_set1_epi8(is_signed ? static_cast<char>(0x80) : 0);
  // Padded column c is input column c - 1: bytes [1, 1 + iw) of the 128, split at 64.
  const int64_t lo_n = std::min<int64_t>(iw, 63), hi_n = iw - lo_n;
  const __mmask64 lo_mask = ((lo_n == 64 ? ~uint64_t{0} : (uint64_t{1} << lo_n) - 1)) << 1;
  const __mmask64 hi_mask = hi_n <= 0 ? 0 : (hi_n >= 64 ? ~uint64_t{0} : (uint64_t{1} << hi_n) - 1);
  const __mmask64 out_mask = ow >= 64 ? ~uint64_t{0} : (uint64_t{1} << ow) - 1;
  for (int64_t oy = 0; oy < oh; ++oy) {
    __m512i lo = _mm512_setzero_si512(), hi = _mm512_setzero_si512();
    for (int64_t r = std::max<int64_t>(0, 2 * oy - 1); r < std::min(ih, 2 * oy + 2); ++r) {
      const uint8_t* row = x + r * iw;
      // Byte 0 of `lo` is padding (column -1): the load starts one byte early with that lane masked.
      lo = _mm512_max_epu8(lo, _mm512_xor_si512(_mm512_maskz_loadu_epi8(lo_mask, row - 1), flip));
      hi = _mm512_max_epu8(hi, _mm512_xor_si512(_mm512_maskz_loadu_epi8(hi_mask, row + 63), flip));
    }
    // The masked-off lanes were zero before the flip: with s8 they must be the lowest (zero after it).
    if (is_signed) {
      lo = _mm512_mask_mov_epi8(lo, ~lo_mask, _mm512_setzero_si512());
      hi = _mm512_mask_mov_epi8(hi, ~hi_mask, _mm512_setzero_si512());
    }
    const __m512i m = _mm512_max_epu8(_mm512_max_epu8(_mm512_permutex2var_epi8(lo, i0, hi),
                                                      _mm512_permutex2var_epi8(lo, i1, hi)),
                                      _mm512_permutex2var_epi8(lo, i2, hi));
    _mm512_mask_storeu_epi8(y + oy * ow, out_mask, _mm512_xor_si512(m, flip));
  }
}

#endif

// u8/i8 codes (QDQ graphs after fuse_qdq): the window max over the clipped window, no argmax.
// Undilated windows are separable: the max over the window's rows first (vectorized, shared by
// every output of the row), then over its columns. An all-padding window gives the type's lowest
// value, as the reference.
template <typename T>
void maxpool_q8_plane(const Plane2d& g, const T* x, T* y) {
#if defined(__x86_64__)
  if (g.kh == 3 && g.kw == 3 && g.sh == 2 && g.sw == 2 && g.ph == 1 && g.pw == 1 && g.dh == 1 && g.dw == 1 &&
      g.iw <= 126 && g.ow <= 63 && 2 * (g.ow - 1) + 2 <= g.iw + 1 && gemm_int8::has_avx512_vbmi())
    return maxpool3x3s2p1_q8_vbmi(reinterpret_cast<const uint8_t*>(x), g.ih, g.iw, g.oh, g.ow, std::is_signed_v<T>,
                                  reinterpret_cast<uint8_t*>(y));
#endif
  thread_local std::vector<T> colmax;
  // 64 slack columns of the lowest value past the row: the 3x3/2 vector steps run up to the row's end.
  if (g.dh == 1 && g.dw == 1) colmax.assign(static_cast<size_t>(g.iw + 64), std::numeric_limits<T>::lowest());
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t hs = oy * g.sh - g.ph, y0 = g.ky0[oy], y1 = g.ky1[oy];
    if (g.dh == 1 && g.dw == 1 && y0 < y1) {
      std::copy(x + (hs + y0) * g.iw, x + (hs + y0 + 1) * g.iw, colmax.begin());
      for (int64_t ky = y0 + 1; ky < y1; ++ky) max_rows_q8(colmax.data(), x + (hs + ky) * g.iw, g.iw);
      int64_t ox = 0;
#if defined(__SSE2__)
      if (g.kw == 2 && g.sw == 2 && g.pw == 0) {  // full pairs: max of even and odd bytes, 8 outputs per step
        const __m128i flip = _mm_set1_epi8(std::is_signed_v<T> ? static_cast<char>(0x80) : 0);
        const __m128i low = _mm_set1_epi16(0x00ff);
        for (; ox + 8 <= g.ow && 2 * ox + 16 <= g.iw; ox += 8) {
          const auto* src = reinterpret_cast<const __m128i*>(colmax.data() + 2 * ox);
          const __m128i v = _mm_xor_si128(_mm_loadu_si128(src), flip);
          const __m128i m = _mm_max_epi16(_mm_and_si128(v, low), _mm_srli_epi16(v, 8));  // u8 values in s16 lanes
          _mm_storel_epi64(reinterpret_cast<__m128i*>(y + oy * g.ow + ox), _mm_xor_si128(_mm_packus_epi16(m, m), flip));
        }
      }
      if (g.kw == 3 && g.sw == 2) {  // ResNet's 3x3/2: max(c[2o-p], c[2o-p+1], c[2o-p+2]), 16 outputs per step
        const __m128i flip = _mm_set1_epi8(std::is_signed_v<T> ? static_cast<char>(0x80) : 0);
        const __m128i low = _mm_set1_epi16(0x00ff);
        auto evens_odds = [&](const T* at, __m128i& even, __m128i& odd) {  // at[2i], at[2i+1], i < 16 (flipped)
          const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at));
          const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(at + 16));
          even = _mm_xor_si128(_mm_packus_epi16(_mm_and_si128(a, low), _mm_and_si128(b, low)), flip);
          odd = _mm_xor_si128(_mm_packus_epi16(_mm_srli_epi16(a, 8), _mm_srli_epi16(b, 8)), flip);
        };
        // Windows from 2o - p >= 0 to the row's end: loads up to 2o - p + 33, inside the slack
        // (taps past the row read the lowest value, as padding does); the left edge below.
        for (ox = (g.pw + 1) / 2; ox < g.ow; ox += 16) {
          const int64_t base = 2 * ox - g.pw;
          if (base + 34 > g.iw + 64) break;
          __m128i e0, o0, e2, o2;
          evens_odds(colmax.data() + base, e0, o0);
          evens_odds(colmax.data() + base + 2, e2, o2);
          const __m128i m = _mm_xor_si128(_mm_max_epu8(_mm_max_epu8(e0, o0), e2), flip);
          if (ox + 16 <= g.ow) {
            _mm_storeu_si128(reinterpret_cast<__m128i*>(y + oy * g.ow + ox), m);
          } else {  // the row's last outputs
            alignas(16) T last[16];
            _mm_store_si128(reinterpret_cast<__m128i*>(last), m);
            std::copy(last, last + (g.ow - ox), y + oy * g.ow + ox);
            ox = g.ow;
            break;
          }
        }
        for (int64_t o = 0; o < std::min<int64_t>((g.pw + 1) / 2, g.ow); ++o) {  // the left edge
          const T* c = colmax.data() + o * g.sw - g.pw;
          T best = std::numeric_limits<T>::lowest();
          for (int64_t kx = g.kx0[o]; kx < g.kx1[o]; ++kx) best = std::max(best, c[kx]);
          y[oy * g.ow + o] = best;
        }
        ox = std::max<int64_t>(ox, (g.pw + 1) / 2);
      }
#endif
      for (; ox < g.ow; ++ox) {
        const T* c = colmax.data() + ox * g.sw - g.pw;
        T best = std::numeric_limits<T>::lowest();
        for (int64_t kx = g.kx0[ox]; kx < g.kx1[ox]; ++kx) best = std::max(best, c[kx]);
        y[oy * g.ow + ox] = best;
      }
      continue;
    }
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t ws = ox * g.sw - g.pw, x0 = g.kx0[ox], x1 = g.kx1[ox];
      T best = std::numeric_limits<T>::lowest();
      for (int64_t ky = y0; ky < y1; ++ky) {
        const T* row = x + (hs + ky * g.dh) * g.iw + ws;
        for (int64_t kx = x0; kx < x1; ++kx) best = std::max(best, row[kx * g.dw]);
      }
      y[oy * g.ow + ox] = best;
    }
  }
}

template <typename T>
void maxpool_q8_fast(ForwardCtx& ctx, const Window& w) {
  const Tensor& x = ctx.in[0];
  const Plane2d g = plane_geometry(w);
  std::vector<int64_t> y_dims{x.shape()[0], x.shape()[1]};
  for (int64_t o : w.real(w.small)) y_dims.push_back(o);
  Tensor& y = alloc_output(ctx, 0, x.dtype(), Shape(y_dims));
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = g.ih * g.iw, out_sz = g.oh * g.ow;
  const T* px = x.data<T>();
  T* py = y.data<T>();
  // The 2x2/2 pool of the small CNNs: one flat pass over all planes (a plane is too small to fill
  // vectors row by row), single-threaded below ~1 MB where waking workers costs more.
  const bool flat_2x2 = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2 && g.ph == 0 && g.pw == 0 && g.dh == 1 &&
                        g.dw == 1 && g.ih % 2 == 0 && g.iw % 2 == 0 && g.oh == g.ih / 2 && g.ow == g.iw / 2;
  if (flat_2x2 && planes * in_sz <= (int64_t{1} << 20)) {
    thread_local std::vector<T> scratch;
    scratch.resize(static_cast<size_t>(planes * in_sz));
    bool done = false;
    if constexpr (std::is_same_v<T, uint8_t>)
      done = HWY_DYNAMIC_DISPATCH(MaxPool2x2S2U8)(px, planes * g.ih, g.iw, py, scratch.data());
    else
      done = HWY_DYNAMIC_DISPATCH(MaxPool2x2S2I8)(px, planes * g.ih, g.iw, py, scratch.data());
    if (done) return;
  }
  parallel_for(
      planes,
      [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) maxpool_q8_plane<T>(g, px + p * in_sz, py + p * out_sz);
      },
      plane_grain(out_sz, g.kh * g.kw));
}

}  // namespace

void maxpool_fast(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const Window w = conv::pool_window(ctx.node, x.shape());
  const int64_t storage_order = ctx.node.attr_int("storage_order", 0);
  const bool codes_only = fast_supported(w) && !ctx.saved && (storage_order == 0 || storage_order == 1) &&
                          (ctx.node.outputs.size() < 2 || ctx.node.outputs[1].empty());
  if (codes_only && x.dtype() == DType::kU8) return maxpool_q8_fast<uint8_t>(ctx, w);
  if (codes_only && x.dtype() == DType::kI8) return maxpool_q8_fast<int8_t>(ctx, w);
  if (x.dtype() != DType::kF32 || !fast_supported(w) || (storage_order != 0 && storage_order != 1))
    return maxpool_ref(ctx);
  const Plane2d g = plane_geometry(w);
  std::vector<int64_t> y_dims{x.shape()[0], x.shape()[1]};
  for (int64_t o : w.real(w.small)) y_dims.push_back(o);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(y_dims));
  const bool want_idx = ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty();
  int64_t* pi = want_idx ? alloc_output(ctx, 1, DType::kI64, Shape(y_dims)).data<int64_t>() : nullptr;
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = g.ih * g.iw, out_sz = g.oh * g.ow;
  EDGEOPT_CHECK(in_sz <= std::numeric_limits<int32_t>::max(), ErrorCode::kUnimplemented,
                "input X has shape " + x.shape().str() + ": planes over 2^31 elements are not supported");
  // The argmax, when the backward (training) or the Indices output needs it.
  Tensor arg;
  if (ctx.saved || pi) arg = Tensor(DType::kI32, Shape({planes * out_sz}));
  int32_t* pa = arg.defined() ? arg.data<int32_t>() : nullptr;
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const PlaneFn fn = select_plane_fn(g);
  // Inference (no argmax wanted), dilation 1, not the 2x2/s2 vector kernel: the separable max.
  const bool separable = !pa && g.dh == 1 && g.dw == 1 && fn != maxpool_plane_2x2s2;
  parallel_for(
      planes,
      [&](int64_t b, int64_t e) {
        if (separable) {
          thread_local std::vector<float> vmax;  // column maxes, then their padded copy (MaxPoolSeparablePlane)
          // [head][column maxes][tail] as MaxPoolSeparablePlane lays them out (L <= 64).
          const auto need = static_cast<size_t>(64 + std::max(g.iw, (g.ow + 64) * g.sw + g.kw + 128));
          if (vmax.size() < need) vmax.resize(need);
          for (int64_t p = b; p < e; ++p)
            if (!HWY_DYNAMIC_DISPATCH(MaxPoolSeparablePlane)(px + p * in_sz, g.ih, g.iw, g.oh, g.ow, g.kh, g.kw, g.sh,
                                                              g.sw, g.ph, g.pw, py + p * out_sz, vmax.data()))
              fn(g, px + p * in_sz, py + p * out_sz, nullptr);
          return;
        }
        for (int64_t p = b; p < e; ++p) {
          int32_t* ap = pa ? pa + p * out_sz : nullptr;
          fn(g, px + p * in_sz, py + p * out_sz, ap);
          if (!pi) continue;
          for (int64_t s = 0; s < out_sz; ++s)
            pi[p * out_sz + s] = ap[s] < 0 ? -1 : p * in_sz + (storage_order ? column_major(g, ap[s]) : ap[s]);
        }
      },
      plane_grain(out_sz, g.kh * g.kw));
  if (ctx.saved) ctx.saved->push_back(arg);
}

void maxpool_f32_grad_fast(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& x = ctx.in[0];
  const Window w = conv::pool_window(ctx.node, x.shape());
  if (x.dtype() != DType::kF32 || !fast_supported(w)) return maxpool_f32_grad(ctx);
  const Plane2d g = plane_geometry(w);
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = g.ih * g.iw, out_sz = g.oh * g.ow;
  const bool have_arg = !ctx.saved.empty() && ctx.saved[0].dtype() == DType::kI32 &&
                        ctx.saved[0].numel() == planes * out_sz;
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  const float* px = x.data<float>();
  const float* pdy = dy.data<float>();
  const int32_t* saved_arg = have_arg ? ctx.saved[0].data<int32_t>() : nullptr;
  float* pdx = dx.data<float>();
  const PlaneFn fn = select_plane_fn(g);
  parallel_for(
      planes,
      [&](int64_t b, int64_t e) {
        std::vector<int32_t> arg_buf;
        std::vector<float> y_buf;
        for (int64_t p = b; p < e; ++p) {
          const int32_t* ap = saved_arg ? saved_arg + p * out_sz : nullptr;
          if (!ap) {  // forward ran without saving (the reference, or inference): recompute
            arg_buf.resize(static_cast<size_t>(out_sz));
            y_buf.resize(static_cast<size_t>(out_sz));
            fn(g, px + p * in_sz, y_buf.data(), arg_buf.data());
            ap = arg_buf.data();
          }
          float* dxp = pdx + p * in_sz;
          const float* dyp = pdy + p * out_sz;
          for (int64_t s = 0; s < out_sz; ++s)
            if (ap[s] >= 0) dxp[ap[s]] += dyp[s];
        }
      },
      plane_grain(out_sz, 1));
  ctx.grad_in[0] = dx;
}

}  // namespace edgeopt::kernels::ops::maxpool
#endif  // HWY_ONCE

// Per-target depthwise kernel: outputs vectorized along the row, taps as broadcast-FMAs over
// contiguous loads from stride-phase planes.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/microkernels/conv/dwconv_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/microkernels/conv/dwconv.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::microkernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<float>;
using V = hn::Vec<D>;
constexpr int64_t kL = static_cast<int64_t>(hn::MaxLanes(D()));

// See gemm_hwy.cpp: only AVX2/AVX-512 masked accesses leave the masked-off lanes untouched.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
constexpr bool kHwMask = true;
#else
constexpr bool kHwMask = false;
#endif

void store_partial(V x, float* p, int64_t n) {
  const D d;
  if constexpr (kHwMask) {
    hn::BlendedStore(x, hn::FirstN(d, static_cast<size_t>(n)), d, p);
  } else {
    HWY_ALIGN float buf[kL];
    hn::Store(x, d, buf);
    for (int64_t i = 0; i < n; ++i) p[i] = buf[i];
  }
}

// One output channel's rows from the phase planes; TAPS > 0 fixes the tap count at compile time so
// the weights stay in registers (3x3: 9 broadcasts per channel instead of 9 per vector).
template <int TAPS>
void dw_rows(const DwConv2dGeometry& g, const float* phases, int64_t wq, const int64_t* tap_off_in, int64_t taps_rt,
             const float* wo, float bias, float* yo, float lo, float hi) {
  const D d;
  const int64_t taps = TAPS > 0 ? TAPS : taps_rt;
  constexpr int kHoist = TAPS > 0 ? TAPS : 1;
  V wv[kHoist];
  int64_t offs[kHoist];  // local copies: the compiler keeps them in registers across the rows
  const int64_t* tap_off = tap_off_in;
  if constexpr (TAPS > 0) {
    for (int t = 0; t < TAPS; ++t) wv[t] = hn::Set(d, wo[t]), offs[t] = tap_off_in[t];
    tap_off = offs;
  }
  auto wt = [&](int64_t t) { return TAPS > 0 ? wv[t] : hn::Set(d, wo[t]); };
  const V vb = hn::Set(d, bias), vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  for (int64_t r = 0; r < g.oh; ++r) {
    const float* base = phases + r * g.sh * wq;
    float* yr = yo + r * g.ow;
    int64_t c = 0;
    // Two vectors per step give the FMA pipes independent chains.
    for (; c + 2 * kL <= g.ow; c += 2 * kL) {
      V acc0 = vb, acc1 = vb;
      for (int64_t t = 0; t < taps; ++t) {
        const float* src = base + tap_off[t] + c;
        acc0 = hn::MulAdd(wt(t), hn::LoadU(d, src), acc0);
        acc1 = hn::MulAdd(wt(t), hn::LoadU(d, src + kL), acc1);
      }
      hn::StoreU(hn::Min(hn::Max(acc0, vlo), vhi), d, yr + c);
      hn::StoreU(hn::Min(hn::Max(acc1, vlo), vhi), d, yr + c + kL);
    }
    for (; c < g.ow; c += kL) {
      V acc = vb;
      for (int64_t t = 0; t < taps; ++t) acc = hn::MulAdd(wt(t), hn::LoadU(d, base + tap_off[t] + c), acc);
      acc = hn::Min(hn::Max(acc, vlo), vhi);
      if (c + kL <= g.ow)
        hn::StoreU(acc, d, yr + c);
      else
        store_partial(acc, yr + c, g.ow - c);
    }
  }
}

void DwConv2dPlane(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                   float* y, float lo, float hi) {
  // Padded rows/cols actually read, and the phase-plane width with room for whole-vector reads.
  const int64_t hp = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const int64_t ow_pad = (g.ow + kL - 1) / kL * kL;
  const int64_t wq = ow_pad + ((g.kw - 1) * g.dw) / g.sw + 1;
  const size_t plane_floats = static_cast<size_t>(hp * wq);
  thread_local std::vector<float> scratch;
  if (scratch.size() < plane_floats * g.sw) scratch.resize(plane_floats * g.sw);
  float* phases = scratch.data();
  // phase p, row r, column j  <-  padded column j*sw + p  <-  input (r - ph, j*sw + p - pw);
  // the in-image columns of a phase are one range [j0, j1), so rows are fill + copy + fill.
  for (int64_t p = 0; p < g.sw; ++p) {
    const int64_t off = p - g.pw;  // input column of j = 0
    const int64_t j0 = std::min(wq, off >= 0 ? 0 : (-off + g.sw - 1) / g.sw);
    const int64_t j1 = std::max(j0, std::min(wq, g.iw - 1 - off < 0 ? 0 : (g.iw - 1 - off) / g.sw + 1));
    for (int64_t r = 0; r < hp; ++r) {
      float* dst = phases + p * plane_floats + r * wq;
      const int64_t xr = r - g.ph;
      if (xr < 0 || xr >= g.ih) {
        std::memset(dst, 0, sizeof(float) * wq);
        continue;
      }
      const float* src = x + xr * g.iw;
      std::fill(dst, dst + j0, 0.f);
      if (g.sw == 1) {
        if (j1 > j0) std::memcpy(dst + j0, src + (j0 + off), sizeof(float) * (j1 - j0));
      } else {
        int64_t j = j0;
#if HWY_TARGET != HWY_SCALAR
        if (g.sw == 2) {  // the even (or odd) input columns: deinterleave whole vectors
          const D d;
          for (; j + kL <= j1 && 2 * (j + kL) + off <= g.iw; j += kL) {
            const V a = hn::LoadU(d, src + 2 * j + off), b = hn::LoadU(d, src + 2 * j + off + kL);
            hn::StoreU(hn::ConcatEven(d, b, a), d, dst + j);
          }
        }
#endif
        for (; j < j1; ++j) dst[j] = src[j * g.sw + off];
      }
      std::fill(dst + j1, dst + wq, 0.f);
    }
  }

  const int64_t taps = g.kh * g.kw;
  // Per tap: phase plane and column offset (row offset added per output row).
  int64_t tap_small[25];
  std::vector<int64_t> tap_big;
  int64_t* tap_off = tap_small;
  if (taps > 25) {
    tap_big.resize(static_cast<size_t>(taps));
    tap_off = tap_big.data();
  }
  for (int64_t a = 0; a < g.kh; ++a)
    for (int64_t b = 0; b < g.kw; ++b) {
      const int64_t col = b * g.dw;
      tap_off[a * g.kw + b] = (col % g.sw) * static_cast<int64_t>(plane_floats) + a * g.dh * wq + col / g.sw;
    }
  for (int64_t o = 0; o < outs; ++o) {
    const float* wo = w + o * taps;
    float* yo = y + o * g.oh * g.ow;
    const float b = bias ? bias[o] : 0.f;
    if (taps == 9)
      dw_rows<9>(g, phases, wq, tap_off, taps, wo, b, yo, lo, hi);
    else if (taps == 25)
      dw_rows<25>(g, phases, wq, tap_off, taps, wo, b, yo, lo, hi);
    else
      dw_rows<0>(g, phases, wq, tap_off, taps, wo, b, yo, lo, hi);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::microkernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace edgeopt::kernels::microkernels {

HWY_EXPORT(DwConv2dPlane);

void dwconv2d_f32_plane(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                        float* y, float clamp_min, float clamp_max) {
  if (outs <= 0 || g.oh <= 0 || g.ow <= 0) return;
  HWY_DYNAMIC_DISPATCH(DwConv2dPlane)(g, x, outs, w, bias, y, clamp_min, clamp_max);
}

}  // namespace edgeopt::kernels::microkernels
#endif  // HWY_ONCE

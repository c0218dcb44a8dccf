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

void DwConv2dPlane(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                   float* y, float lo, float hi) {
  const D d;
  // Padded rows/cols actually read, and the phase-plane width with room for whole-vector reads.
  const int64_t hp = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const int64_t ow_pad = (g.ow + kL - 1) / kL * kL;
  const int64_t wq = ow_pad + ((g.kw - 1) * g.dw) / g.sw + 1;
  const size_t plane_floats = static_cast<size_t>(hp * wq);
  thread_local std::vector<float> scratch;
  if (scratch.size() < plane_floats * g.sw) scratch.resize(plane_floats * g.sw);
  float* phases = scratch.data();
  // phase p, row r, column j  <-  padded column j*sw + p  <-  input (r - ph, j*sw + p - pw)
  for (int64_t p = 0; p < g.sw; ++p)
    for (int64_t r = 0; r < hp; ++r) {
      float* dst = phases + p * plane_floats + r * wq;
      const int64_t xr = r - g.ph;
      if (xr < 0 || xr >= g.ih) {
        std::memset(dst, 0, sizeof(float) * wq);
        continue;
      }
      const float* src = x + xr * g.iw;
      for (int64_t j = 0; j < wq; ++j) {
        const int64_t xc = j * g.sw + p - g.pw;
        dst[j] = (xc >= 0 && xc < g.iw) ? src[xc] : 0.f;
      }
    }

  const int64_t taps = g.kh * g.kw;
  // Per tap: phase plane and column offset (row offset added per output row).
  std::vector<int64_t> tap_off(static_cast<size_t>(taps));
  for (int64_t a = 0; a < g.kh; ++a)
    for (int64_t b = 0; b < g.kw; ++b) {
      const int64_t col = b * g.dw;
      tap_off[a * g.kw + b] = (col % g.sw) * static_cast<int64_t>(plane_floats) + a * g.dh * wq + col / g.sw;
    }
  const V vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  for (int64_t o = 0; o < outs; ++o) {
    const float* wo = w + o * taps;
    const V vb = hn::Set(d, bias ? bias[o] : 0.f);
    float* yo = y + o * g.oh * g.ow;
    for (int64_t r = 0; r < g.oh; ++r) {
      const float* base = phases + r * g.sh * wq;
      float* yr = yo + r * g.ow;
      int64_t c = 0;
      // Two vectors per step give the FMA pipes independent chains.
      for (; c + 2 * kL <= g.ow; c += 2 * kL) {
        V acc0 = vb, acc1 = vb;
        for (int64_t t = 0; t < taps; ++t) {
          const V wt = hn::Set(d, wo[t]);
          const float* src = base + tap_off[t] + c;
          acc0 = hn::MulAdd(wt, hn::LoadU(d, src), acc0);
          acc1 = hn::MulAdd(wt, hn::LoadU(d, src + kL), acc1);
        }
        hn::StoreU(hn::Min(hn::Max(acc0, vlo), vhi), d, yr + c);
        hn::StoreU(hn::Min(hn::Max(acc1, vlo), vhi), d, yr + c + kL);
      }
      for (; c < g.ow; c += kL) {
        V acc = vb;
        for (int64_t t = 0; t < taps; ++t) acc = hn::MulAdd(hn::Set(d, wo[t]), hn::LoadU(d, base + tap_off[t] + c), acc);
        acc = hn::Min(hn::Max(acc, vlo), vhi);
        if (c + kL <= g.ow)
          hn::StoreU(acc, d, yr + c);
        else
          store_partial(acc, yr + c, g.ow - c);
      }
    }
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

// Per-target direct small-K conv: per output row, phase-split copies of the input rows it reads,
// then MR x NV-vector register tiles over (row panel, column block) with K pointer-addressed rows.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/microkernels/conv/conv_small_k_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "core/error.h"
#include "kernels/microkernels/conv/conv_small_k.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::microkernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<float>;
using V = hn::Vec<D>;
constexpr int64_t kL = static_cast<int64_t>(hn::MaxLanes(D()));

// The GEMM's register tiles (gemm_hwy.cpp): 24 of 32 zmm accumulators, 12 of 16 ymm/xmm.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
constexpr size_t kMR = 8, kNV = 3;
#elif HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
constexpr size_t kMR = 6, kNV = 2;
#else
constexpr size_t kMR = 4, kNV = 2;
#endif

// Only AVX2/AVX-512 masked stores leave masked-off lanes untouched (see gemm_hwy.cpp).
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
constexpr bool kHwMask = true;
#else
constexpr bool kHwMask = false;
#endif

namespace {  // internal linkage: dwconv_hwy.cpp has helpers of the same names per target

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

struct Tile {
  const float* panel;        // the row panel's packed weights [K][kMR]
  const float* const* rows;  // K row pointers, each readable for whole vectors past the row end
  int64_t k;
  const float* bias;         // the panel's first row, or null
  float* y;                  // the panel's first output row, at the block's first column
  int64_t ldy;
  float lo, hi;
};

// MR output channels x NV vectors of columns starting at column j; the last vector keeps `last`
// lanes (1..L).
template <size_t MR, size_t NV>
void tile(const Tile& t, int64_t j, int64_t last) {
  const D d;
  V acc[MR][NV];
  for (size_t r = 0; r < MR; ++r) {
    const V b = hn::Set(d, t.bias ? t.bias[r] : 0.f);
    for (size_t v = 0; v < NV; ++v) acc[r][v] = b;
  }
  for (int64_t q = 0; q < t.k; ++q) {
    const float* src = t.rows[q] + j;
    V bv[NV];
    for (size_t v = 0; v < NV; ++v) bv[v] = hn::LoadU(d, src + static_cast<int64_t>(v) * kL);
    const float* ap = t.panel + q * static_cast<int64_t>(kMR);
    for (size_t r = 0; r < MR; ++r) {
      const V av = hn::Set(d, ap[r]);
      for (size_t v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
    }
  }
  const V vlo = hn::Set(d, t.lo), vhi = hn::Set(d, t.hi);
  for (size_t r = 0; r < MR; ++r) {
    float* yr = t.y + static_cast<int64_t>(r) * t.ldy + j;
    for (size_t v = 0; v < NV; ++v) {
      const V x = hn::Min(hn::Max(acc[r][v], vlo), vhi);
      if (v + 1 < NV || last == kL)
        hn::StoreU(x, d, yr + static_cast<int64_t>(v) * kL);
      else
        store_partial(x, yr + static_cast<int64_t>(v) * kL, last);
    }
  }
}

using TileFn = void (*)(const Tile&, int64_t, int64_t);
template <size_t NV, size_t... MRs>
constexpr std::array<TileFn, kMR> tiles_for(std::index_sequence<MRs...>) {
  return {&tile<MRs + 1, NV>...};
}

// One row panel (`rows` <= MR output channels) over the output row's columns [0, ow).
template <size_t... NVs>
void panel_row(const Tile& t, size_t rows, int64_t ow, std::index_sequence<NVs...>) {
  static constexpr std::array<std::array<TileFn, kMR>, kNV> kTiles = {
      tiles_for<NVs + 1>(std::make_index_sequence<kMR>())...};
  constexpr int64_t kBlock = static_cast<int64_t>(kNV) * kL;
  // A 1-vector tile runs at about half the FMA rate (MR broadcasts and a load per MR FMAs), so a
  // row of 3q + 1 vectors ends in two 2-vector tiles instead (ResNet-18's 7x7 stem, 112 = 7 x 16
  // columns: its 1-vector tiles took 17% of the conv's time).
  const int64_t vecs = (ow + kL - 1) / kL;
  const int64_t stop = kNV == 3 && vecs > 3 && vecs % 3 == 1 ? (vecs - 4) * kL : ow;
  int64_t j = 0;
  for (; j + kBlock <= stop; j += kBlock) kTiles[kNV - 1][rows - 1](t, j, kL);
  if (stop != ow) {
    kTiles[1][rows - 1](t, j, kL);
    j += 2 * kL;
  }
  if (j < ow) {
    const int64_t left = (ow - j + kL - 1) / kL;
    kTiles[left - 1][rows - 1](t, j, ow - j - (left - 1) * kL);
  }
}

}  // namespace

void ConvSmallKRows(const ConvSmallKGeometry& g, const float* x, const float* panels, int64_t m, const float* bias,
                    float* y, float lo, float hi, int64_t r0, int64_t r1) {
  const int64_t k = g.c * g.kh * g.kw;
  const int64_t ow_pad = (g.ow + kL - 1) / kL * kL;
  // Phase length: whole-vector reads from every column block plus the largest tap offset.
  const int64_t pl = (ow_pad + ((g.kw - 1) * g.dw) / g.sw + 1 + kL - 1) / kL * kL;
  const int64_t tl = pl * g.sw;  // the zero-padded input row the phases are cut from
  const int64_t slot = g.sw == 1 ? tl : tl + pl * g.sw;  // per (channel, kernel row): [row | phases]
  // Output rows go in bands: each band's input rows are prepared first, then every channel panel
  // sweeps the whole band, so MR output planes are written at a time instead of all m of them per
  // output row (the hardware write-allocates a few streams far better when y is not in cache:
  // MobileNetV2's first conv, 32 planes of 112x112, 0.61 -> 0.41 ms with a cold y, 0.34 either way hot).
  constexpr int64_t kBand = 8;
  // Input rows a band reads: (kBand - 1) * sh + (kh - 1) * dh + 1, each prepared once per channel
  // (stride 2 reads most rows from two output rows; ResNet-18's 7x7 stem 21 rows per band instead of
  // 56 per channel).
  const int64_t span_max = (kBand - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  thread_local std::vector<float> buf;
  thread_local std::vector<const float*> rows;
  thread_local std::vector<const float*> phase_of;  // [ci * span_max + i]: input row xr0 + i's phase 0
  const size_t need = static_cast<size_t>(g.c * span_max * slot + pl);
  if (buf.size() < need) buf.resize(need);
  rows.resize(static_cast<size_t>(kBand * k));
  phase_of.resize(static_cast<size_t>(g.c * span_max));
  float* zeros = buf.data() + g.c * span_max * slot;
  std::fill(zeros, zeros + pl, 0.f);
  for (int64_t rb = r0; rb < r1; rb += kBand) {
    const int64_t re = std::min(r1, rb + kBand);
    const int64_t xr0 = rb * g.sh - g.ph, span = (re - 1 - rb) * g.sh + (g.kh - 1) * g.dh + 1;
    for (int64_t ci = 0; ci < g.c; ++ci)
      for (int64_t i = 0; i < span; ++i) {
        const int64_t xr = xr0 + i;
        const float*& phase0 = phase_of[static_cast<size_t>(ci * span_max + i)];
        phase0 = nullptr;  // outside the image: the zero row, every phase
        if (xr < 0 || xr >= g.ih) continue;
        float* row = buf.data() + (ci * span_max + i) * slot;
        const float* xrow = x + (ci * g.ih + xr) * g.iw;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
        if (g.sw == 2) {
          // The phases straight from the input row: masked loads outside [0, iw) read zeros (the
          // padding) and touch nothing, so no padded copy of the row is written first.
          const D d;
          float* ph = row + tl;
          auto load = [&](int64_t f) {
            const size_t b = static_cast<size_t>(std::clamp<int64_t>(-f, 0, kL));
            const size_t e = static_cast<size_t>(std::clamp<int64_t>(g.iw - f, 0, kL));
            return hn::MaskedLoad(hn::AndNot(hn::FirstN(d, b), hn::FirstN(d, e)), d, xrow + f);
          };
          for (int64_t jj = 0; jj < pl; jj += kL) {
            const int64_t f = 2 * jj - g.pw;
            const V lo2 = load(f), hi2 = load(f + kL);
            hn::StoreU(hn::ConcatEven(d, hi2, lo2), d, ph + jj);
            hn::StoreU(hn::ConcatOdd(d, hi2, lo2), d, ph + pl + jj);
          }
          phase0 = ph;
          continue;
        }
#endif
        // row[t] = x[ci, xr, t - pw], zero outside the image.
        const int64_t lead = std::min(g.pw, tl), n = std::max<int64_t>(0, std::min(g.iw, tl - g.pw));
        std::fill(row, row + lead, 0.f);
        std::memcpy(row + lead, xrow, sizeof(float) * static_cast<size_t>(n));
        std::fill(row + lead + n, row + tl, 0.f);
        if (g.sw == 1) {
          phase0 = row;
          continue;
        }
        float* ph = row + tl;
        int64_t jj = 0;
#if HWY_TARGET != HWY_SCALAR
        if (g.sw == 2) {  // even/odd columns, a vector pair at a time (pl is a multiple of L)
          const D d;
          for (; jj < pl; jj += kL) {
            const V lo2 = hn::LoadU(d, row + 2 * jj), hi2 = hn::LoadU(d, row + 2 * jj + kL);
            hn::StoreU(hn::ConcatEven(d, hi2, lo2), d, ph + jj);
            hn::StoreU(hn::ConcatOdd(d, hi2, lo2), d, ph + pl + jj);
          }
        }
#endif
        for (int64_t p = 0; p < g.sw; ++p)
          for (int64_t q = jj; q < pl; ++q) ph[p * pl + q] = row[q * g.sw + p];
        phase0 = ph;
      }
    for (int64_t r = rb; r < re; ++r) {
      const float** rrows = rows.data() + (r - rb) * k;
      for (int64_t ci = 0; ci < g.c; ++ci)
        for (int64_t a = 0; a < g.kh; ++a) {
          const int64_t i = r * g.sh - g.ph + a * g.dh - xr0;
          const float* phase0 = phase_of[static_cast<size_t>(ci * span_max + i)];
          for (int64_t b = 0; b < g.kw; ++b) {
            const int64_t col = b * g.dw;  // phase p at phase0 + p * pl; the zero row for every phase
            rrows[(ci * g.kh + a) * g.kw + b] = phase0 ? phase0 + (col % g.sw) * pl + col / g.sw : zeros;
          }
        }
    }
    for (int64_t i0 = 0; i0 < m; i0 += kMR) {
      const size_t n_rows = static_cast<size_t>(std::min<int64_t>(kMR, m - i0));
      for (int64_t r = rb; r < re; ++r) {
        const Tile t{panels + i0 * k, rows.data() + (r - rb) * k, k, bias ? bias + i0 : nullptr,
                     y + (i0 * g.oh + r) * g.ow, g.oh * g.ow, lo, hi};
        panel_row(t, n_rows, g.ow, std::make_index_sequence<kNV>());
      }
    }
  }
}

int ConvSmallKMr() { return static_cast<int>(kMR); }

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::microkernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace edgeopt::kernels::microkernels {

HWY_EXPORT(ConvSmallKRows);
HWY_EXPORT(ConvSmallKMr);

bool conv_small_k_f32_supports(const ConvSmallKGeometry& g) {
  return conv_small_k_f32_suits(g.c, g.c * g.kh * g.kw) && g.sw >= 1 && g.sw <= 4 && g.kw <= 16 && g.ow >= 1 &&
         g.oh >= 1;
}

int conv_small_k_panel_rows() { return HWY_DYNAMIC_DISPATCH(ConvSmallKMr)(); }

SmallKWeights conv_small_k_pack_f32(const float* w, int64_t m, int64_t k) {
  SmallKWeights p;
  p.m = m;
  p.k = k;
  p.mr = conv_small_k_panel_rows();
  const int64_t panels = (m + p.mr - 1) / p.mr;
  p.panels.assign(static_cast<size_t>(panels * p.mr * k), 0.f);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t q = 0; q < k; ++q)
      p.panels[static_cast<size_t>(((i / p.mr) * k + q) * p.mr + i % p.mr)] = w[i * k + q];
  return p;
}

void conv_small_k_f32(const ConvSmallKGeometry& g, const float* x, const SmallKWeights& w, const float* bias, float* y,
                      float lo, float hi, int64_t r0, int64_t r1) {
  EDGEOPT_CHECK_ARG(w.mr == conv_small_k_panel_rows(),
                    "conv_small_k_f32: weights were packed for " + std::to_string(w.mr) +
                        "-row panels, but the dispatched target uses " + std::to_string(conv_small_k_panel_rows()));
  EDGEOPT_CHECK_ARG(w.k == g.c * g.kh * g.kw, "conv_small_k_f32: weights have K=" + std::to_string(w.k) +
                                                  " but the geometry needs C*kh*kw=" +
                                                  std::to_string(g.c * g.kh * g.kw));
  EDGEOPT_CHECK_ARG(conv_small_k_f32_supports(g), "conv_small_k_f32: geometry outside the kernel's range (K <= 64, "
                                                    "or <= 160 with <= 4 channels; stride <= 4, kw <= 16)");
  if (w.m == 0 || r1 <= r0) return;
  HWY_DYNAMIC_DISPATCH(ConvSmallKRows)(g, x, w.panels.data(), w.m, bias, y, lo, hi, r0, r1);
}

}  // namespace edgeopt::kernels::microkernels
#endif  // HWY_ONCE

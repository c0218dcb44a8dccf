// Per-target code (Highway foreach_target): plain loops that the compiler auto-vectorizes with
// each target's instruction set (AVX-512, AVX2, ...), dispatched at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/microkernels/conv/winograd.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels/microkernels/conv/winograd.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::microkernels {
namespace HWY_NAMESPACE {

void WinogradF23Input(const float* x, int64_t ic, int64_t ih, int64_t iw, int64_t pad_t, int64_t pad_l, int64_t th,
                        int64_t tw, int64_t c0, int64_t c1, float* v) {
  const int64_t tiles = th * tw;
  const int64_t wp = 2 * tw + 2;  // padded row width the tiles of one tile row read
  thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(4 * wp + 8 * (tw + 1)));
  float* rows = buf.data();            // 4 padded input rows, reused as t0..t3
  float* ev = rows + 4 * wp;           // even/odd columns of one t row
  float* od = ev + 4 * (tw + 1);
  // The valid column range of a padded row: j - pad_l in [0, iw).
  const int64_t j_lo = std::clamp<int64_t>(pad_l, 0, wp), j_hi = std::clamp<int64_t>(iw + pad_l, j_lo, wp);
  for (int64_t c = c0; c < c1; ++c) {
    const float* xc = x + c * ih * iw;
    for (int64_t ty = 0; ty < th; ++ty) {
      for (int k = 0; k < 4; ++k) {
        float* r = rows + k * wp;
        const int64_t y = 2 * ty - pad_t + k;
        if (y < 0 || y >= ih) {
          std::memset(r, 0, sizeof(float) * wp);
          continue;
        }
        std::fill(r, r + j_lo, 0.f);
        if (j_hi > j_lo) std::memcpy(r + j_lo, xc + y * iw + (j_lo - pad_l), sizeof(float) * (j_hi - j_lo));
        std::fill(r + j_hi, r + wp, 0.f);
      }
      // t = B^T d along rows (B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]), in place.
      float* __restrict r0 = rows;
      float* __restrict r1 = rows + wp;
      float* __restrict r2 = rows + 2 * wp;
      float* __restrict r3 = rows + 3 * wp;
      for (int64_t j = 0; j < wp; ++j) {
        const float a = r0[j], b = r1[j], cc = r2[j], d = r3[j];
        r0[j] = a - cc;
        r1[j] = b + cc;
        r2[j] = cc - b;
        r3[j] = b - d;
      }
      // V = t B along columns: tile tx reads columns 2tx..2tx+3 = E[tx], O[tx], E[tx+1], O[tx+1].
      for (int i = 0; i < 4; ++i) {
        const float* t = rows + i * wp;
        for (int64_t j = 0; j <= tw; ++j) {
          ev[j] = t[2 * j];
          od[j] = t[2 * j + 1];
        }
        float* __restrict v0 = v + ((i * 4 + 0) * ic + c) * tiles + ty * tw;
        float* __restrict v1 = v + ((i * 4 + 1) * ic + c) * tiles + ty * tw;
        float* __restrict v2 = v + ((i * 4 + 2) * ic + c) * tiles + ty * tw;
        float* __restrict v3 = v + ((i * 4 + 3) * ic + c) * tiles + ty * tw;
        for (int64_t tx = 0; tx < tw; ++tx) {
          v0[tx] = ev[tx] - ev[tx + 1];
          v1[tx] = od[tx] + ev[tx + 1];
          v2[tx] = ev[tx + 1] - od[tx];
          v3[tx] = od[tx] - od[tx + 1];
        }
      }
    }
  }
}

void WinogradF23Output(const float* m, int64_t oc, int64_t th, int64_t tw, int64_t oh, int64_t ow,
                       const float* bias, const float* residual, float lo, float hi, int64_t o0, int64_t o1,
                       float* y) {
  const int64_t tiles = th * tw;
  thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(4 * tiles));
  float* __restrict e00 = buf.data();  // the tile's 2x2 outputs, each over all tiles
  float* __restrict e01 = e00 + tiles;
  float* __restrict e10 = e01 + tiles;
  float* __restrict e11 = e10 + tiles;
  for (int64_t o = o0; o < o1; ++o) {
    const float b = bias ? bias[o] : 0.f;
    const float* mo[16];
    for (int e = 0; e < 16; ++e) mo[e] = m + (e * oc + o) * tiles;
    // Y = A^T M A (A^T = [1 1 1 0; 0 1 -1 -1]) over all tiles at once: contiguous, vectorizes.
    for (int64_t t = 0; t < tiles; ++t) {
      float s0[4], s1[4];
      for (int nu = 0; nu < 4; ++nu) {
        const float a0 = mo[nu][t], a1 = mo[4 + nu][t], a2 = mo[8 + nu][t], a3 = mo[12 + nu][t];
        s0[nu] = a0 + a1 + a2;
        s1[nu] = a1 - a2 - a3;
      }
      e00[t] = s0[0] + s0[1] + s0[2] + b;
      e01[t] = s0[1] - s0[2] - s0[3] + b;
      e10[t] = s1[0] + s1[1] + s1[2] + b;
      e11[t] = s1[1] - s1[2] - s1[3] + b;
    }
    // Interleave into the output rows (a ragged last row/column drops what lies outside), then
    // add the residual and clamp in one contiguous pass.
    float* yo = y + o * oh * ow;
    const int64_t full = std::min(ow / 2, tw);
    for (int64_t ty = 0; ty < th; ++ty) {
      const int64_t t0 = ty * tw;
      float* yr = yo + 2 * ty * ow;
      for (int64_t tx = 0; tx < full; ++tx) yr[2 * tx] = e00[t0 + tx], yr[2 * tx + 1] = e01[t0 + tx];
      if (full < tw) yr[2 * full] = e00[t0 + full];
      if (2 * ty + 1 >= oh) continue;
      yr += ow;
      for (int64_t tx = 0; tx < full; ++tx) yr[2 * tx] = e10[t0 + tx], yr[2 * tx + 1] = e11[t0 + tx];
      if (full < tw) yr[2 * full] = e10[t0 + full];
    }
    if (residual) {
      const float* ro = residual + o * oh * ow;
      for (int64_t i = 0; i < oh * ow; ++i) yo[i] = std::min(std::max(yo[i] + ro[i], lo), hi);
    } else {
      for (int64_t i = 0; i < oh * ow; ++i) yo[i] = std::min(std::max(yo[i], lo), hi);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::microkernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace edgeopt::kernels::microkernels {

HWY_EXPORT(WinogradF23Input);
HWY_EXPORT(WinogradF23Output);

void winograd_f23_weights(const float* w, int64_t oc, int64_t ic, float* u) {
  const int64_t plane = oc * ic;
  for (int64_t o = 0; o < oc; ++o)
    for (int64_t c = 0; c < ic; ++c) {
      const float* g = w + (o * ic + c) * 9;
      // t = G g: 4x3 (G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]).
      float t[4][3];
      for (int j = 0; j < 3; ++j) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
      }
      // U = t G^T: 4x4.
      for (int i = 0; i < 4; ++i) {
        const float r[4] = {t[i][0], 0.5f * (t[i][0] + t[i][1] + t[i][2]), 0.5f * (t[i][0] - t[i][1] + t[i][2]),
                            t[i][2]};
        for (int j = 0; j < 4; ++j) u[(i * 4 + j) * plane + o * ic + c] = r[j];
      }
    }
}

void winograd_f23_input(const float* x, int64_t ic, int64_t ih, int64_t iw, int64_t pad_t, int64_t pad_l, int64_t th,
                        int64_t tw, int64_t c0, int64_t c1, float* v) {
  HWY_DYNAMIC_DISPATCH(WinogradF23Input)(x, ic, ih, iw, pad_t, pad_l, th, tw, c0, c1, v);
}

void winograd_f23_output(const float* m, int64_t oc, int64_t th, int64_t tw, int64_t oh, int64_t ow,
                         const float* bias, const float* residual, float lo, float hi, int64_t o0, int64_t o1,
                         float* y) {
  HWY_DYNAMIC_DISPATCH(WinogradF23Output)(m, oc, th, tw, oh, ow, bias, residual, lo, hi, o0, o1, y);
}

}  // namespace edgeopt::kernels::microkernels
#endif  // HWY_ONCE

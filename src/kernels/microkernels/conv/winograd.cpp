#include "kernels/microkernels/conv/winograd.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace edgeopt::kernels::microkernels {

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

void winograd_f23_output(const float* m, int64_t oc, int64_t th, int64_t tw, int64_t oh, int64_t ow,
                         const float* bias, float lo, float hi, int64_t o0, int64_t o1, float* y) {
  const int64_t tiles = th * tw;
  thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(8 * tw));
  float* s0 = buf.data();  // s0[nu][tx] and s1[nu][tx], nu = 0..3: the two rows of A^T M
  float* s1 = s0 + 4 * tw;
  for (int64_t o = o0; o < o1; ++o) {
    const float b = bias ? bias[o] : 0.f;
    float* yo = y + o * oh * ow;
    for (int64_t ty = 0; ty < th; ++ty) {
      // s = A^T M along rows (A^T = [1 1 1 0; 0 1 -1 -1]).
      for (int nu = 0; nu < 4; ++nu) {
        const float* __restrict m0 = m + ((0 * 4 + nu) * oc + o) * tiles + ty * tw;
        const float* __restrict m1 = m + ((1 * 4 + nu) * oc + o) * tiles + ty * tw;
        const float* __restrict m2 = m + ((2 * 4 + nu) * oc + o) * tiles + ty * tw;
        const float* __restrict m3 = m + ((3 * 4 + nu) * oc + o) * tiles + ty * tw;
        float* __restrict a = s0 + nu * tw;
        float* __restrict c = s1 + nu * tw;
        for (int64_t tx = 0; tx < tw; ++tx) {
          a[tx] = m0[tx] + m1[tx] + m2[tx];
          c[tx] = m1[tx] - m2[tx] - m3[tx];
        }
      }
      // Y = s A, then bias and clamp; rows 2ty and 2ty+1 of the output.
      for (int i = 0; i < 2; ++i) {
        const int64_t row = 2 * ty + i;
        if (row >= oh) break;
        const float* s = i == 0 ? s0 : s1;
        float* yr = yo + row * ow;
        const int64_t full = ow / 2;  // tiles whose two columns are both inside
        for (int64_t tx = 0; tx < std::min(full, tw); ++tx) {
          const float e0 = s[tx] + s[tw + tx] + s[2 * tw + tx] + b;
          const float e1 = s[tw + tx] - s[2 * tw + tx] - s[3 * tw + tx] + b;
          yr[2 * tx] = std::min(std::max(e0, lo), hi);
          yr[2 * tx + 1] = std::min(std::max(e1, lo), hi);
        }
        if (full < tw) {  // odd width: the last tile's left column only
          const int64_t tx = full;
          const float e0 = s[tx] + s[tw + tx] + s[2 * tw + tx] + b;
          yr[2 * tx] = std::min(std::max(e0, lo), hi);
        }
      }
    }
  }
}

}  // namespace edgeopt::kernels::microkernels

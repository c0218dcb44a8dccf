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

#include "core/thread_pool.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::microkernels {
namespace HWY_NAMESPACE {

void WinogradF23InputBlock(const WinogradF23Shape& s, const float* x, int64_t c0, int64_t c1, int64_t t0, int64_t t1,
                           float* v, int64_t plane, int64_t ldv) {
  if (t1 <= t0 || c1 <= c0) return;
  const int64_t tw = s.tiles_w(), ih = s.ih, iw = s.iw;
  const int64_t wp = 2 * tw + 2;  // padded row width the tiles of one tile row read
  thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(4 * wp + 8 * (tw + 1)));
  float* rows = buf.data();            // 4 padded input rows, reused as t0..t3
  float* ev = rows + 4 * wp;           // even/odd columns of one t row
  float* od = ev + 4 * (tw + 1);
  // The valid column range of a padded row: j - pad_l in [0, iw).
  const int64_t j_lo = std::clamp<int64_t>(s.pad_l, 0, wp), j_hi = std::clamp<int64_t>(iw + s.pad_l, j_lo, wp);
  const int64_t ty0 = t0 / tw, ty1 = (t1 - 1) / tw + 1;
  for (int64_t c = c0; c < c1; ++c) {
    const float* xc = x + c * ih * iw;
    for (int64_t ty = ty0; ty < ty1; ++ty) {
      // The tiles [a, b) of this tile row inside [t0, t1) read padded columns [2a, 2b + 2).
      const int64_t a = std::max<int64_t>(t0 - ty * tw, 0), b = std::min<int64_t>(t1 - ty * tw, tw);
      const int64_t jb = 2 * a, je = 2 * b + 2;
      const int64_t lo = std::clamp(j_lo, jb, je), hi = std::clamp(j_hi, lo, je);
      for (int k = 0; k < 4; ++k) {
        float* r = rows + k * wp;
        const int64_t y = 2 * ty - s.pad_t + k;
        if (y < 0 || y >= ih) {
          std::fill(r + jb, r + je, 0.f);
          continue;
        }
        std::fill(r + jb, r + lo, 0.f);
        if (hi > lo) std::memcpy(r + lo, xc + y * iw + (lo - s.pad_l), sizeof(float) * (hi - lo));
        std::fill(r + hi, r + je, 0.f);
      }
      // t = B^T d along rows (B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]), in place.
      float* __restrict r0 = rows;
      float* __restrict r1 = rows + wp;
      float* __restrict r2 = rows + 2 * wp;
      float* __restrict r3 = rows + 3 * wp;
      for (int64_t j = jb; j < je; ++j) {
        const float p = r0[j], q = r1[j], cc = r2[j], d = r3[j];
        r0[j] = p - cc;
        r1[j] = q + cc;
        r2[j] = cc - q;
        r3[j] = q - d;
      }
      // V = t B along columns: tile tx reads columns 2tx..2tx+3 = E[tx], O[tx], E[tx+1], O[tx+1].
      for (int i = 0; i < 4; ++i) {
        const float* t = rows + i * wp;
        for (int64_t j = a; j <= b; ++j) {
          ev[j] = t[2 * j];
          od[j] = t[2 * j + 1];
        }
        const int64_t col = (c - c0) * ldv + ty * tw - t0;  // + tx: the tile's column in v
        float* __restrict v0 = v + (i * 4 + 0) * plane + col;
        float* __restrict v1 = v + (i * 4 + 1) * plane + col;
        float* __restrict v2 = v + (i * 4 + 2) * plane + col;
        float* __restrict v3 = v + (i * 4 + 3) * plane + col;
        for (int64_t tx = a; tx < b; ++tx) {
          v0[tx] = ev[tx] - ev[tx + 1];
          v1[tx] = od[tx] + ev[tx + 1];
          v2[tx] = ev[tx + 1] - od[tx];
          v3[tx] = od[tx] - od[tx + 1];
        }
      }
    }
  }
}

void WinogradF23OutputBlock(const WinogradF23Shape& s, const float* m, int64_t plane, int64_t ldm, int64_t o0,
                            int64_t o1, int64_t t0, int64_t t1, const float* bias, const float* residual, float lo,
                            float hi, float* y) {
  if (t1 <= t0 || o1 <= o0) return;
  const int64_t nt = t1 - t0, tw = s.tiles_w(), oh = s.oh, ow = s.ow;
  thread_local std::vector<float> buf;
  buf.resize(static_cast<size_t>(4 * nt));
  float* __restrict e00 = buf.data();  // the tile's 2x2 outputs, each over the block's tiles
  float* __restrict e01 = e00 + nt;
  float* __restrict e10 = e01 + nt;
  float* __restrict e11 = e10 + nt;
  const int64_t ty0 = t0 / tw, ty1 = (t1 - 1) / tw + 1;
  for (int64_t o = o0; o < o1; ++o) {
    const float b = bias ? bias[o] : 0.f;
    const float* mo[16];
    for (int e = 0; e < 16; ++e) mo[e] = m + e * plane + (o - o0) * ldm;
    // Y = A^T M A (A^T = [1 1 1 0; 0 1 -1 -1]) over the block's tiles at once: contiguous, vectorizes.
    for (int64_t t = 0; t < nt; ++t) {
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
    // Interleave into the output rows (a ragged last row/column drops what lies outside), then add
    // the residual and clamp over the pixels just written: whole rows in one contiguous pass (short
    // per-row loops cost as much as the transform on 14x14 maps), partial tile rows per segment.
    float* yo = y + o * oh * ow;
    const float* ro = residual ? residual + o * oh * ow : nullptr;
    auto finish = [&](int64_t i0, int64_t i1) {
      if (ro) {
        for (int64_t i = i0; i < i1; ++i) yo[i] = std::min(std::max(yo[i] + ro[i], lo), hi);
      } else {
        for (int64_t i = i0; i < i1; ++i) yo[i] = std::min(std::max(yo[i], lo), hi);
      }
    };
    int64_t run0 = -1;  // first pixel of a pending run of whole rows
    for (int64_t ty = ty0; ty < ty1; ++ty) {
      const int64_t a = std::max<int64_t>(t0 - ty * tw, 0), bnd = std::min<int64_t>(t1 - ty * tw, tw);
      const int64_t base = ty * tw - t0;  // + tx: the tile's index in the e arrays
      const int64_t full = std::min(bnd, ow / 2);  // tiles [a, full) have both columns inside
      const int64_t x0 = 2 * a, x1 = std::min(2 * bnd, ow);
      const int64_t r_end = std::min<int64_t>(2 * ty + 2, oh);
      for (int64_t r = 2 * ty; r < r_end; ++r) {
        const float* ea = (r == 2 * ty ? e00 : e10) + base;
        const float* eb = (r == 2 * ty ? e01 : e11) + base;
        float* yr = yo + r * ow;
        for (int64_t tx = a; tx < full; ++tx) yr[2 * tx] = ea[tx], yr[2 * tx + 1] = eb[tx];
        if (full < bnd) yr[2 * full] = ea[full];
      }
      if (x0 == 0 && x1 == ow) {
        if (run0 < 0) run0 = 2 * ty * ow;
        continue;
      }
      if (run0 >= 0) finish(run0, 2 * ty * ow), run0 = -1;
      for (int64_t r = 2 * ty; r < r_end; ++r) finish(r * ow + x0, r * ow + x1);
    }
    if (run0 >= 0) finish(run0, std::min<int64_t>(2 * ty1, oh) * ow);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::microkernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace edgeopt::kernels::microkernels {

HWY_EXPORT(WinogradF23InputBlock);
HWY_EXPORT(WinogradF23OutputBlock);

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

void winograd_f23_input_block(const WinogradF23Shape& s, const float* x, int64_t c0, int64_t c1, int64_t t0,
                              int64_t t1, float* v, int64_t plane, int64_t ldv) {
  HWY_DYNAMIC_DISPATCH(WinogradF23InputBlock)(s, x, c0, c1, t0, t1, v, plane, ldv);
}

void winograd_f23_output_block(const WinogradF23Shape& s, const float* m, int64_t plane, int64_t ldm, int64_t o0,
                               int64_t o1, int64_t t0, int64_t t1, const float* bias, const float* residual, float lo,
                               float hi, float* y) {
  HWY_DYNAMIC_DISPATCH(WinogradF23OutputBlock)(s, m, plane, ldm, o0, o1, t0, t1, bias, residual, lo, hi, y);
}

namespace {

constexpr int64_t kE = kWinogradF23Elems;
// kTiles: a thread's V and M blocks together, about a third of a 1-2 MB L2 (room for U and Y).
constexpr int64_t kTileBlockBytes = 384 * 1024;
// kOutChannels: the M rows of one GEMM block. Smaller blocks re-read all of V once more each, so
// this is larger: ResNet-18's layer2-4 run a thread's rows in one block.
constexpr int64_t kRowBlockBytes = 2048 * 1024;
// Up to this size U (all 16 matrices) is read once per tile block, and stays in L2 beside the
// blocks. ResNet-18 at 1 thread in the whole model (ms per conv, Zen 4, 1 MB L2): layer1 (U 256 KB)
// 2.24-2.35 by tiles vs 2.27-2.56 before; layer2 (U 1 MB, re-read from L3 by each of 12 blocks)
// 2.44-2.57 by tiles vs 1.56-1.75 by output channels.
constexpr int64_t kTileSplitMaxUBytes = 512 * 1024;
// Up to this size of M (all 16 products), several threads split the 16 GEMMs rather than the rows.
constexpr int64_t kByElementMaxMBytes = 8 * 1024 * 1024;

// Per-thread scratch (slot 0: V, 1: M), grown on first use and kept.
float* scratch(int slot, int64_t floats) {
  thread_local std::vector<float> bufs[2];
  if (bufs[slot].size() < static_cast<size_t>(floats)) bufs[slot].resize(static_cast<size_t>(floats));
  return bufs[slot].data();
}

}  // namespace

void winograd_f23_conv_f32(const gemm::PackedMatrix* u, const WinogradF23Shape& s, const float* x, const float* bias,
                           const float* residual, float lo, float hi, float* y, ThreadPool& pool,
                           WinogradF23Split split) {
  const int64_t tiles = s.tiles(), ic = s.ic, oc = s.oc;
  if (tiles == 0 || oc == 0) return;
  const int64_t threads = pool.num_threads();
  // Blocks of about `width` tiles (a multiple of 16) whose V and M fit kTileBlockBytes, rounded
  // down to whole blocks (a block may grow up to 2x rather than leave a sliver: vision_cnn's 49
  // tiles run as one block, not 48 + 1), as many per thread (the last may be shorter).
  int64_t width =
      std::max<int64_t>(16, kTileBlockBytes / (kE * static_cast<int64_t>(sizeof(float)) * (ic + oc)) / 16 * 16);
  int64_t blocks = std::max<int64_t>(1, tiles / width);
  if (threads > 1 && blocks > 1) blocks = (blocks + threads - 1) / threads * threads;
  width = (tiles + blocks - 1) / blocks;
  blocks = (tiles + width - 1) / width;
  if (split == WinogradF23Split::kAuto)
    split = kE * oc * ic * static_cast<int64_t>(sizeof(float)) <= kTileSplitMaxUBytes && blocks >= threads
                ? WinogradF23Split::kTiles
                : WinogradF23Split::kOutChannels;
  if (split == WinogradF23Split::kTiles) {
    pool.parallel_for(blocks, [&](int64_t b0, int64_t b1) {
      float* v = scratch(0, kE * ic * width);
      float* m = scratch(1, kE * oc * width);
      for (int64_t blk = b0; blk < b1; ++blk) {
        const int64_t t0 = blk * width, t1 = std::min(tiles, t0 + width), nt = t1 - t0;
        winograd_f23_input_block(s, x, 0, ic, t0, t1, v, ic * nt, nt);
        for (int64_t e = 0; e < kE; ++e)
          gemm::gemm_f32_packed_a_rows(u[e], 0, oc, false, nt, 1.f, v + e * ic * nt, nt, 0.f, m + e * oc * nt, nt);
        winograd_f23_output_block(s, m, oc * nt, nt, 0, oc, t0, t1, bias, residual, lo, hi, y);
      }
    });
    return;
  }
  // kOutChannels: V of the whole image, shared; each thread then owns a range of output channels
  // (panel-aligned) and runs them in row blocks whose M fits kRowBlockBytes.
  float* v = scratch(0, kE * ic * tiles);
  pool.parallel_for(ic, [&](int64_t c0, int64_t c1) {
    winograd_f23_input_block(s, x, c0, c1, 0, tiles, v + c0 * tiles, ic * tiles, tiles);
  });
  const int64_t mr = u[0].tile();
  if (threads > 1 && kE * oc * tiles * static_cast<int64_t>(sizeof(float)) <= kByElementMaxMBytes) {
    // Threads split the 16 GEMMs (whole matrices, so V and U are each read once in all), then
    // the output transform by output channels: splitting the rows instead streams all of V through
    // every thread (ResNet-18's layer2 at 2 threads: 0.55-0.64 -> 0.47-0.54 ms per conv).
    float* m = scratch(1, kE * oc * tiles);
    pool.parallel_for(kE, [&](int64_t e0, int64_t e1) {
      for (int64_t e = e0; e < e1; ++e) {
        const bool pf = e + 1 < e1;  // the thread's next U, as below
        gemm::gemm_f32_packed_a_rows(u[e], 0, oc, false, tiles, 1.f, v + e * ic * tiles, tiles, 0.f,
                                     m + e * oc * tiles, tiles, {}, pf ? u[e + 1].data() : nullptr,
                                     pf ? u[e + 1].bytes() : 0);
      }
    });
    pool.parallel_for((oc + mr - 1) / mr, [&](int64_t p0, int64_t p1) {
      const int64_t o0 = p0 * mr, o1 = std::min(oc, p1 * mr);
      winograd_f23_output_block(s, m + o0 * tiles, oc * tiles, tiles, o0, o1, 0, tiles, bias, residual, lo, hi, y);
    });
    return;
  }
  const int64_t rows_per_block =
      std::max<int64_t>(mr, kRowBlockBytes / (kE * static_cast<int64_t>(sizeof(float)) * tiles) / mr * mr);
  pool.parallel_for((oc + mr - 1) / mr, [&](int64_t p0, int64_t p1) {
    const int64_t o_end = std::min(oc, p1 * mr);
    float* m = scratch(1, kE * rows_per_block * tiles);
    for (int64_t r0 = p0 * mr; r0 < o_end; r0 += rows_per_block) {
      const int64_t r1 = std::min(o_end, r0 + rows_per_block), rows = r1 - r0;
      for (int64_t e = 0; e < kE; ++e) {
        // U[e + 1] streams in while U[e]'s product runs (large U comes from memory: ResNet-18's
        // 256-channel U is 4 MB per conv), when this block is all of its rows (one thread's whole
        // matrix; a row range of a packed matrix is not one contiguous span).
        const bool pf = e + 1 < kE && r0 == 0 && r1 == oc;
        gemm::gemm_f32_packed_a_rows(u[e], r0, r1, false, tiles, 1.f, v + e * ic * tiles, tiles, 0.f,
                                     m + e * rows * tiles, tiles, {}, pf ? u[e + 1].data() : nullptr,
                                     pf ? u[e + 1].bytes() : 0);
      }
      winograd_f23_output_block(s, m, rows * tiles, tiles, r0, r1, 0, tiles, bias, residual, lo, hi, y);
    }
  });
}

}  // namespace edgeopt::kernels::microkernels
#endif  // HWY_ONCE

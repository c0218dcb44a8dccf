// Per-target code (Highway foreach_target) for the fused Conv + bias + activation + MaxPool 2x2/2
// kernels declared in conv_pool_fp32.h.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/conv/conv_pool_fp32.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/microkernels/conv/winograd.h"
#include "kernels/ops/conv/conv_pool_fp32.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::conv {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::CappedTag<float, kConvPoolOcBlock>;
using V = hn::Vec<D>;
constexpr size_t kL = hn::MaxLanes(D());
constexpr size_t kBlk = static_cast<size_t>(kConvPoolOcBlock);
constexpr size_t kVpb = kBlk / kL;                      // vectors per 16-channel block
constexpr size_t kChunkBlocks = kL == kBlk ? 2 : 1;     // blocks per register tile: >= 2 vectors wide
constexpr size_t kChunk = kChunkBlocks * kBlk;          // output channels per register tile

float* scratch(int slot, size_t floats) {
  thread_local std::vector<float> bufs[4];
  if (bufs[slot].size() < floats) bufs[slot].resize(floats);
  return bufs[slot].data();
}

// Runs fn(begin, end) over [0, n) on the pool, or inline without one.
template <typename F>
void run_items(ThreadPool* pool, int64_t n, F&& fn) {
  if (pool && n > 1) {
    pool->parallel_for(n, [&](int64_t b, int64_t e) { fn(b, e); });
  } else {
    fn(0, n);
  }
}

// Vector v of a register tile lives in 16-channel block v / kVpb (w0 or w1).
template <size_t NV>
HWY_INLINE void load_weights(const float* w0, const float* w1, V (&wv)[NV]) {
  const D d;
  for (size_t v = 0; v < NV; ++v) wv[v] = hn::LoadU(d, (v < kVpb ? w0 : w1) + (v % kVpb) * kL);
}

// Bias, clamp and the transpose of a row of pooled results ([cols][kChunk], channel-minor) into
// the NCHW planes of channels [oc0, oc0 + nc).
void store_pooled_nchw(const float* res, int64_t cols, int64_t oc0, int64_t nc, int64_t plane, float* y) {
  for (int64_t o = 0; o < nc; ++o) {
    float* yo = y + (oc0 + o) * plane;
    for (int64_t j = 0; j < cols; ++j) yo[j] = res[j * static_cast<int64_t>(kChunk) + o];
  }
}

HWY_INLINE V bias_clamp(V acc, const float* bias_padded, float lo, float hi) {
  const D d;
  return hn::Min(hn::Max(hn::Add(acc, hn::LoadU(d, bias_padded)), hn::Set(d, lo)), hn::Set(d, hi));
}

// ---- direct ----

// Conv outputs of PX pool windows side by side (2 rows x 2*PX columns) for NV vectors of output
// channels, pooled: res[q * kChunk + v * kL + lane]. xt points at the padded input of (row 2py,
// column 2px0) in channel 0.
template <size_t NV, size_t PX>
void DirectPoolTile(const float* HWY_RESTRICT xt, int64_t plane, int64_t wp, int64_t c, int64_t kh, int64_t kw,
                    const float* w0, const float* w1, const float* bias_padded, float lo, float hi,
                    float* HWY_RESTRICT res) {
  const D d;
  constexpr size_t kCols = 2 * PX;
  V acc[2 * kCols][NV];
  for (size_t p = 0; p < 2 * kCols; ++p)
    for (size_t v = 0; v < NV; ++v) acc[p][v] = hn::Zero(d);
  int64_t k = 0;
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t ky = 0; ky < kh; ++ky) {
      const float* r0 = xt + ci * plane + ky * wp;
      const float* r1 = r0 + wp;
      for (int64_t kx = 0; kx < kw; ++kx, ++k) {
        V wv[NV];
        load_weights<NV>(w0 + k * kBlk, w1 + k * kBlk, wv);
        for (size_t p = 0; p < kCols; ++p) {
          const V b0 = hn::Set(d, r0[kx + static_cast<int64_t>(p)]);
          const V b1 = hn::Set(d, r1[kx + static_cast<int64_t>(p)]);
          for (size_t v = 0; v < NV; ++v) {
            acc[p][v] = hn::MulAdd(b0, wv[v], acc[p][v]);
            acc[kCols + p][v] = hn::MulAdd(b1, wv[v], acc[kCols + p][v]);
          }
        }
      }
    }
  for (size_t q = 0; q < PX; ++q)
    for (size_t v = 0; v < NV; ++v) {
      const V top = hn::Max(acc[2 * q][v], acc[2 * q + 1][v]);
      const V bot = hn::Max(acc[kCols + 2 * q][v], acc[kCols + 2 * q + 1][v]);
      hn::StoreU(bias_clamp(hn::Max(top, bot), bias_padded + v * kL, lo, hi), d, res + q * kChunk + v * kL);
    }
}

using DirectTileFn = void (*)(const float*, int64_t, int64_t, int64_t, int64_t, int64_t, const float*, const float*,
                              const float*, float, float, float*);

void ConvPoolDirect(const ConvPoolGeometry& g, const float* packed_w, const float* x, const float* bias, float lo,
                    float hi, float* y, ThreadPool* pool) {
  const int64_t hp = 2 * g.ph + g.kh - 1, wp = 2 * g.pw + g.kw - 1, plane = hp * wp;
  const int64_t blocks = (g.m + kConvPoolOcBlock - 1) / kConvPoolOcBlock;
  const int64_t ksz = g.c * g.kh * g.kw;
  const int64_t chunks = (blocks + static_cast<int64_t>(kChunkBlocks) - 1) / static_cast<int64_t>(kChunkBlocks);
  // Zero-extended input (the caller's scratch, read by every thread) and the bias padded to blocks.
  float* xp = scratch(0, static_cast<size_t>(g.c * plane));
  for (int64_t ci = 0; ci < g.c; ++ci)
    for (int64_t r = 0; r < hp; ++r) {
      float* row = xp + ci * plane + r * wp;
      const int64_t yi = r - g.pad_t;
      std::fill(row, row + wp, 0.f);
      if (yi < 0 || yi >= g.ih) continue;
      const int64_t j0 = std::max<int64_t>(0, g.pad_l), j1 = std::min<int64_t>(wp, g.iw + g.pad_l);
      if (j1 > j0) std::memcpy(row + j0, x + (ci * g.ih + yi) * g.iw + (j0 - g.pad_l), sizeof(float) * (j1 - j0));
    }
  float* bp = scratch(1, static_cast<size_t>(chunks * static_cast<int64_t>(kChunk)));
  for (int64_t o = 0; o < chunks * static_cast<int64_t>(kChunk); ++o) bp[o] = bias && o < g.m ? bias[o] : 0.f;

  static constexpr DirectTileFn kTiles[2][2] = {{DirectPoolTile<kVpb, 1>, DirectPoolTile<kVpb, 2>},
                                                {DirectPoolTile<kVpb * kChunkBlocks, 1>,
                                                 DirectPoolTile<kVpb * kChunkBlocks, 2>}};
  run_items(pool, chunks * g.ph, [&](int64_t b, int64_t e) {
    float* res = scratch(2, static_cast<size_t>(g.pw * static_cast<int64_t>(kChunk)));
    for (int64_t item = b; item < e; ++item) {
      const int64_t ch = item / g.ph, py = item % g.ph;
      const int64_t ob0 = ch * static_cast<int64_t>(kChunkBlocks);
      const int64_t nb = std::min<int64_t>(static_cast<int64_t>(kChunkBlocks), blocks - ob0);
      const float* w0 = packed_w + ob0 * ksz * kConvPoolOcBlock;
      const float* w1 = nb > 1 ? w0 + ksz * kConvPoolOcBlock : w0;
      for (int64_t px0 = 0; px0 < g.pw; px0 += 2) {
        const int64_t npx = std::min<int64_t>(2, g.pw - px0);
        kTiles[nb - 1][npx - 1](xp + 2 * py * wp + 2 * px0, plane, wp, g.c, g.kh, g.kw, w0, w1,
                                bp + ob0 * kConvPoolOcBlock, lo, hi, res + px0 * static_cast<int64_t>(kChunk));
      }
      const int64_t oc0 = ob0 * kConvPoolOcBlock;
      store_pooled_nchw(res, g.pw, oc0, std::min<int64_t>(nb * kConvPoolOcBlock, g.m - oc0), g.ph * g.pw,
                        y + py * g.pw);
    }
  });
}

// ---- Winograd F(2x2, 3x3) ----

// One M[e] block: res[t][v*kL + lane] = sum_ci V[e][t0 + t][ci] * U[e][ci][oc], TB tiles x NV vectors.
template <size_t NV, size_t TB>
void WinogradGemmTile(const float* HWY_RESTRICT vt, int64_t cp, int64_t c, const float* u0, const float* u1,
                      float* HWY_RESTRICT res) {
  const D d;
  V acc[TB][NV];
  for (size_t t = 0; t < TB; ++t)
    for (size_t v = 0; v < NV; ++v) acc[t][v] = hn::Zero(d);
  for (int64_t ci = 0; ci < c; ++ci) {
    V wv[NV];
    load_weights<NV>(u0 + ci * kConvPoolOcBlock, u1 + ci * kConvPoolOcBlock, wv);
    for (size_t t = 0; t < TB; ++t) {
      const V b = hn::Set(d, vt[static_cast<int64_t>(t) * cp + ci]);
      for (size_t v = 0; v < NV; ++v) acc[t][v] = hn::MulAdd(b, wv[v], acc[t][v]);
    }
  }
  for (size_t t = 0; t < TB; ++t)
    for (size_t v = 0; v < NV; ++v) hn::StoreU(acc[t][v], d, res + t * kChunk + v * kL);
}

using WinogradTileFn = void (*)(const float*, int64_t, int64_t, const float*, const float*, float*);
constexpr size_t kMaxTb = 8;

template <size_t NV, size_t... TB>
constexpr std::array<WinogradTileFn, kMaxTb> winograd_tiles(std::index_sequence<TB...>) {
  return {WinogradGemmTile<NV, TB + 1>...};
}

// Tiles per register tile: about 16 accumulators, and among the sizes down to half that the one
// that wastes the fewest padded tiles (49 tiles of a 14x14 output: 7, not 8).
int64_t winograd_tb(size_t nv, int64_t tiles) {
  const int64_t tb_max = std::clamp<int64_t>(static_cast<int64_t>(16 / nv), 1, kMaxTb);
  int64_t best = tb_max;
  for (int64_t tb = tb_max; tb >= std::max<int64_t>(1, tb_max / 2); --tb)
    if ((tiles + tb - 1) / tb * tb < (tiles + best - 1) / best * best) best = tb;
  return best;
}

void ConvPoolWinograd(const ConvPoolGeometry& g, const float* packed_u, const float* x, const float* bias, float lo,
                      float hi, float* y, ThreadPool* pool) {
  const D d;
  constexpr int kE = microkernels::kWinogradF23Elems;
  const int64_t plane = g.ph * g.pw, wp = 2 * g.pw + 2;
  const int64_t cp = (g.c + static_cast<int64_t>(kL) - 1) / static_cast<int64_t>(kL) * static_cast<int64_t>(kL);
  const int64_t blocks = (g.m + kConvPoolOcBlock - 1) / kConvPoolOcBlock;
  const int64_t chunks = (blocks + static_cast<int64_t>(kChunkBlocks) - 1) / static_cast<int64_t>(kChunkBlocks);
  float* bp = scratch(1, static_cast<size_t>(chunks * static_cast<int64_t>(kChunk)));
  for (int64_t o = 0; o < chunks * static_cast<int64_t>(kChunk); ++o) bp[o] = bias && o < g.m ? bias[o] : 0.f;
  // Bands of tile rows whose transformed input V stays within ~512 KB (L2), so a large image
  // neither needs a huge scratch nor evicts V before the GEMMs read it.
  const int64_t band_rows = std::max<int64_t>(1, (int64_t{512} << 10) / (kE * g.pw * cp * 4));
  static constexpr auto kTiles1 = winograd_tiles<kVpb>(std::make_index_sequence<kMaxTb>());
  static constexpr auto kTiles2 = winograd_tiles<kVpb * kChunkBlocks>(std::make_index_sequence<kMaxTb>());
  for (int64_t ty0 = 0; ty0 < g.ph; ty0 += band_rows) {
    const int64_t rows_here = std::min(band_rows, g.ph - ty0);
    const int64_t tiles = rows_here * g.pw;
    const int64_t tb = winograd_tb(kVpb * kChunkBlocks, tiles);
    const int64_t tpad = (tiles + tb - 1) / tb * tb;
    // V[e][tile][channel] for the band's tiles (padded tiles zero), shared by the threads.
    float* vbuf = scratch(0, static_cast<size_t>(kE * tpad * cp));
    for (int e = 0; e < kE; ++e)
      std::fill(vbuf + (e * tpad + tiles) * cp, vbuf + (e + 1) * tpad * cp, 0.f);

    // Input transform, one tile row at a time: the 4 input rows it reads, zero-padded and
    // channels-last ([4][wp][cp]), then V = B^T d B with channels in lanes.
    run_items(pool, rows_here, [&](int64_t b, int64_t e) {
      float* rows = scratch(2, static_cast<size_t>(4 * wp * cp));
      for (int64_t ty = ty0 + b; ty < ty0 + e; ++ty) {
        for (int64_t i = 0; i < 4; ++i) {
          float* r = rows + i * wp * cp;
          std::fill(r, r + wp * cp, 0.f);
          const int64_t yi = 2 * ty + i - g.pad_t;
          if (yi < 0 || yi >= g.ih) continue;
          const int64_t j0 = std::max<int64_t>(0, g.pad_l), j1 = std::min<int64_t>(wp, g.iw + g.pad_l);
          for (int64_t ci = 0; ci < g.c; ++ci) {
            const float* src = x + (ci * g.ih + yi) * g.iw - g.pad_l;
            for (int64_t j = j0; j < j1; ++j) r[j * cp + ci] = src[j];
          }
        }
        for (int64_t tx = 0; tx < g.pw; ++tx) {
          const int64_t t = (ty - ty0) * g.pw + tx;
          for (int64_t cv = 0; cv < cp; cv += static_cast<int64_t>(kL)) {
            V tr[4][4];
            for (int64_t j = 0; j < 4; ++j) {
              const float* col = rows + (2 * tx + j) * cp + cv;
              const V d0 = hn::LoadU(d, col), d1 = hn::LoadU(d, col + wp * cp);
              const V d2 = hn::LoadU(d, col + 2 * wp * cp), d3 = hn::LoadU(d, col + 3 * wp * cp);
              tr[0][j] = hn::Sub(d0, d2);
              tr[1][j] = hn::Add(d1, d2);
              tr[2][j] = hn::Sub(d2, d1);
              tr[3][j] = hn::Sub(d1, d3);
            }
            for (int i = 0; i < 4; ++i) {
              float* v0 = vbuf + ((i * 4) * tpad + t) * cp + cv;
              const int64_t es = tpad * cp;  // stride between consecutive elements e
              hn::StoreU(hn::Sub(tr[i][0], tr[i][2]), d, v0);
              hn::StoreU(hn::Add(tr[i][1], tr[i][2]), d, v0 + es);
              hn::StoreU(hn::Sub(tr[i][2], tr[i][1]), d, v0 + 2 * es);
              hn::StoreU(hn::Sub(tr[i][1], tr[i][3]), d, v0 + 3 * es);
            }
          }
        }
      }
    });

    const int64_t tblocks = tpad / tb;
    // Per (output-channel chunk, tile block): the 16 GEMM tiles, then the output transform, which
    // pools each 2x2 tile, adds the bias and clamps.
    run_items(pool, chunks * tblocks, [&](int64_t b, int64_t e) {
      float* mbuf = scratch(2, static_cast<size_t>(kE * tb * static_cast<int64_t>(kChunk)));
      float* res = scratch(3, static_cast<size_t>(tb * static_cast<int64_t>(kChunk)));
      for (int64_t item = b; item < e; ++item) {
        const int64_t ch = item / tblocks, t0 = (item % tblocks) * tb;
        const int64_t ob0 = ch * static_cast<int64_t>(kChunkBlocks);
        const int64_t nb = std::min<int64_t>(static_cast<int64_t>(kChunkBlocks), blocks - ob0);
        const WinogradTileFn tile = (nb > 1 ? kTiles2 : kTiles1)[static_cast<size_t>(tb - 1)];
        for (int el = 0; el < kE; ++el) {
          const float* u0 = packed_u + ((el * blocks + ob0) * g.c) * kConvPoolOcBlock;
          const float* u1 = nb > 1 ? u0 + g.c * kConvPoolOcBlock : u0;
          tile(vbuf + (el * tpad + t0) * cp, cp, g.c, u0, u1, mbuf + el * tb * static_cast<int64_t>(kChunk));
        }
        const int64_t nt = std::min(tb, tiles - t0);
        const size_t nv = kVpb * static_cast<size_t>(nb);
        for (int64_t t = 0; t < nt; ++t)
          for (size_t v = 0; v < nv; ++v) {
            const float* mt = mbuf + t * static_cast<int64_t>(kChunk) + v * kL;
            const int64_t es = tb * static_cast<int64_t>(kChunk);
            V s0[4], s1[4];
            for (int nu = 0; nu < 4; ++nu) {
              const V a0 = hn::LoadU(d, mt + nu * es), a1 = hn::LoadU(d, mt + (4 + nu) * es);
              const V a2 = hn::LoadU(d, mt + (8 + nu) * es), a3 = hn::LoadU(d, mt + (12 + nu) * es);
              s0[nu] = hn::Add(hn::Add(a0, a1), a2);
              s1[nu] = hn::Sub(hn::Sub(a1, a2), a3);
            }
            const V y00 = hn::Add(hn::Add(s0[0], s0[1]), s0[2]);
            const V y01 = hn::Sub(hn::Sub(s0[1], s0[2]), s0[3]);
            const V y10 = hn::Add(hn::Add(s1[0], s1[1]), s1[2]);
            const V y11 = hn::Sub(hn::Sub(s1[1], s1[2]), s1[3]);
            const V mx = hn::Max(hn::Max(y00, y01), hn::Max(y10, y11));
            hn::StoreU(bias_clamp(mx, bp + ob0 * kConvPoolOcBlock + v * kL, lo, hi), d, res + t * kChunk + v * kL);
          }
        const int64_t oc0 = ob0 * kConvPoolOcBlock;
        store_pooled_nchw(res, nt, oc0, std::min<int64_t>(nb * kConvPoolOcBlock, g.m - oc0), plane,
                          y + ty0 * g.pw + t0);
      }
    });
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::conv
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace edgeopt::kernels::ops::conv {

HWY_EXPORT(ConvPoolDirect);
HWY_EXPORT(ConvPoolWinograd);

std::vector<float> conv_pool_f32_pack_direct(const float* w, int64_t m, int64_t c, int64_t kh, int64_t kw) {
  const int64_t blocks = (m + kConvPoolOcBlock - 1) / kConvPoolOcBlock, ksz = c * kh * kw;
  std::vector<float> p(static_cast<size_t>(blocks * ksz * kConvPoolOcBlock), 0.f);
  for (int64_t o = 0; o < m; ++o)
    for (int64_t k = 0; k < ksz; ++k)
      p[((o / kConvPoolOcBlock) * ksz + k) * kConvPoolOcBlock + o % kConvPoolOcBlock] = w[o * ksz + k];
  return p;
}

std::vector<float> conv3x3_pool_f32_pack_winograd(const float* w, int64_t m, int64_t c) {
  constexpr int kE = microkernels::kWinogradF23Elems;
  std::vector<float> u(static_cast<size_t>(kE * m * c));
  microkernels::winograd_f23_weights(w, m, c, u.data());  // [16][m][c]
  const int64_t blocks = (m + kConvPoolOcBlock - 1) / kConvPoolOcBlock;
  std::vector<float> p(static_cast<size_t>(kE * blocks * c * kConvPoolOcBlock), 0.f);
  for (int e = 0; e < kE; ++e)
    for (int64_t o = 0; o < m; ++o)
      for (int64_t ci = 0; ci < c; ++ci)
        p[((e * blocks + o / kConvPoolOcBlock) * c + ci) * kConvPoolOcBlock + o % kConvPoolOcBlock] =
            u[(e * m + o) * c + ci];
  return p;
}

void conv_f32_bias_act_maxpool2_direct(const ConvPoolGeometry& g, const float* packed_w, const float* x,
                                       const float* bias, float lo, float hi, float* y, ThreadPool* pool) {
  HWY_DYNAMIC_DISPATCH(ConvPoolDirect)(g, packed_w, x, bias, lo, hi, y, pool);
}

void conv3x3_f32_bias_act_maxpool2_winograd(const ConvPoolGeometry& g, const float* packed_u, const float* x,
                                            const float* bias, float lo, float hi, float* y, ThreadPool* pool) {
  HWY_DYNAMIC_DISPATCH(ConvPoolWinograd)(g, packed_u, x, bias, lo, hi, y, pool);
}

}  // namespace edgeopt::kernels::ops::conv
#endif  // HWY_ONCE

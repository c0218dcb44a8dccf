// Per-target GEMM: BLIS-style blocking (NC -> KC -> MC -> NR -> MR) around an MR x (NV vectors)
// register tile. A panels are broadcast one scalar at a time, B panels are loaded as vectors, so
// the tile holds MR*NV accumulators: 8x3 zmm (24 of 32 registers) on AVX-512, 6x2 ymm on AVX2.
// The loop order reuses one KC x NR B micro-panel across the MC rows of the A block, which stays in
// L2. KC = 512 (not 256): C tiles of a large product miss in L2, so fewer K blocks = fewer C
// round trips; at 1024^3 this moved 1 thread from ~80% to ~90% of the FMA peak on Zen 4.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/microkernels/gemm/gemm_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/cache_control.h"
#include "hwy/highway.h"

#include <time.h>

#include <algorithm>
#include <array>
#include <utility>
#include <vector>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "core/error.h"
#include "core/tensor.h"
#include "core/thread_pool.h"
#include "kernels/microkernels/gemm/gemm_internal.h"
#include "kernels/microkernels/transpose16_hwy-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::gemm::detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<float>;
using V = hn::Vec<D>;
constexpr size_t kL = hn::MaxLanes(D());

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
#ifndef EDGEOPT_GEMM_AVX3_MR
#define EDGEOPT_GEMM_AVX3_MR 8
#define EDGEOPT_GEMM_AVX3_NV 3
#endif
constexpr size_t kMR = EDGEOPT_GEMM_AVX3_MR, kNV = EDGEOPT_GEMM_AVX3_NV;
#elif HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_SSE4 || HWY_TARGET == HWY_SSSE3
constexpr size_t kMR = 6, kNV = 2;  // 12 accumulators + 2 B vectors + 1 broadcast of 16 registers
#else
constexpr size_t kMR = 4, kNV = 2;
#endif
constexpr size_t kNR = kNV * kL;
constexpr int64_t kKC = 512;
constexpr int64_t kMC = kMR * 24;
constexpr int64_t kNC = kNR * 64;
// Up to this K the tiles of a block run strip by strip (rows outer; see run_range).
constexpr int64_t kRowsOuterMaxK = 64;

int64_t round_up(int64_t x, int64_t r) { return (x + r - 1) / r * r; }

// K blocks of equal depth, at most kKC: K = 576 (a 3x3 conv over 64 channels) runs as 2 x 288, not
// 512 + 64, whose short second block reloads and stores every C tile for a ninth of the work.
// Packing and every product over K use the same blocks.
int64_t k_block(int64_t k) {
  const int64_t blocks = (k + kKC - 1) / kKC;
  return blocks <= 1 ? std::max<int64_t>(k, 1) : (k + blocks - 1) / blocks;
}

struct TileEpi {
  float alpha, beta;
  bool last;  // apply biases and clamp (after the final K block)
  bool clamp;
  float lo, hi;
  // Prefetch A ahead of the K loop: set for the first tile of a pre-packed A panel, whose weights
  // are usually cold (a model's weights do not stay cached between runs; see micro_kernel).
  bool prefetch_a = false;
  // Prefetch an indirect B's rows one panel ahead (see micro_kernel): set for the first tile over
  // each B panel.
  bool prefetch_b = false;
};

float apply_scalar(float acc, float* c, const TileEpi& e, const float* rb, const float* cb) {
  float x = e.alpha * acc;
  if (e.beta != 0.f) x += e.beta * *c;
  if (e.last) {
    if (rb) x += *rb;
    if (cb) x += *cb;
    if (e.clamp) x = std::min(std::max(x, e.lo), e.hi);
  }
  return x;
}

// Partial vectors at the N edge: AVX2/AVX-512 masked loads/stores never touch masked-off lanes;
// elsewhere Highway emulates them with full-width accesses (a race with the thread writing the
// next row), so those targets go through a small buffer instead.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
constexpr bool kHwMask = true;
#else
constexpr bool kHwMask = false;
#endif

template <class M>
V load_tail(const float* p, size_t tail, M mask) {
  const D d;
  if constexpr (kHwMask) {
    return hn::MaskedLoad(mask, d, p);
  } else {
    HWY_ALIGN float buf[kL] = {};
    for (size_t i = 0; i < tail; ++i) buf[i] = p[i];
    return hn::Load(d, buf);
  }
}

template <class M>
void store_tail(V x, float* p, size_t tail, M mask) {
  const D d;
  if constexpr (kHwMask) {
    hn::BlendedStore(x, mask, d, p);
  } else {
    HWY_ALIGN float buf[kL];
    hn::Store(x, d, buf);
    for (size_t i = 0; i < tail; ++i) p[i] = buf[i];
  }
}

// C tile [MR rows x nr columns] = epilogue(A panel * B panel) with nr in ((NV-1)*L, NV*L]: edge
// tiles compute only the rows and vectors they need. Panels keep their full kMR/kNR strides.
// row_bias/col_bias point at the tile's first row/column entry, or are null.
// boff (indirect B, GemmProblem::b_row_offsets): null, or B row k of the tile is read at bp + boff[k]
// instead of the packed panel's bp + k * kNR.
template <size_t MR, size_t NV, bool kIndirect = false>
HWY_NOINLINE void micro_kernel(size_t kc, const float* HWY_RESTRICT ap, const float* HWY_RESTRICT bp,
                               float* HWY_RESTRICT c, int64_t ldc, size_t nr, const TileEpi& e,
                               const float* row_bias, const float* col_bias,
                               [[maybe_unused]] const int64_t* HWY_RESTRICT boff = nullptr) {
  const D d;
  // The C tile is read (beta or a later K block) and written after the K loop; large C rows are
  // far apart and miss in L2, so ask for them now and let the loads overlap the FMAs.
  for (size_t r = 0; r < MR; ++r)
    for (size_t v = 0; v < NV; ++v) hwy::Prefetch(c + static_cast<int64_t>(r) * ldc + v * kL);
  V acc[MR][NV];
  for (size_t r = 0; r < MR; ++r)
    for (size_t v = 0; v < NV; ++v) acc[r][v] = hn::Zero(d);
  const size_t tail = nr - (NV - 1) * kL;  // valid lanes of the last vector, 1..L
  const auto tail_mask = hn::FirstN(d, tail);
  const bool full = tail == kL;
  // One K loop per way of loading B: a load chosen per iteration (masked or not) made GCC 12 keep
  // the accumulators on the stack, storing all 24 of them every iteration (ResNet-18's layer1
  // convs on the virtual grid 1.05 -> 2.7 ms).
  //
  // The first pass over a pre-packed (weight) panel prefetches A 2 KB ahead, into the next panels:
  // weights come from memory each run (MobileNetV2's 14 MB do not stay cached), and the panel's
  // 32 bytes per K step, interleaved with B's rows, were not prefetched by the hardware in time.
  // MobileNetV2's 576 -> 96 projections in a 30-block chain 0.116 -> 0.102 ms each, ResNet-18
  // 16.4 -> 15.75 ms. Later passes find A in L2; prefetching there cost 1024^3 about 2% of peak.
  auto k_loop = [&](auto load_row, auto prefetch) {
    for (size_t k = 0; k < kc; ++k) {
      V bv[NV];
      load_row(k, bv);
      if constexpr (decltype(prefetch)::value) hwy::Prefetch(ap + 512);
      for (size_t r = 0; r < MR; ++r) {
        const V av = hn::Set(d, ap[r]);
        for (size_t v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
      }
      ap += kMR;
    }
  };
  auto run_k = [&](auto load_row) {
    if (e.prefetch_a)
      k_loop(load_row, std::true_type());
    else
      k_loop(load_row, std::false_type());
  };
  if constexpr (kIndirect) {
    // B's rows are the caller's memory: an edge tile reads only its nr columns.
    if (full && e.prefetch_b) {
      // The rows are K input planes (a pointwise conv's X read in place): as many streams as
      // channels, which the hardware prefetcher does not follow (NCHWc has a handful). The first
      // tile over a panel fetches the same rows of the next panel, a panel's tiles ahead of their
      // use: MobileNetV2's 144 -> 24 projection at 56x56 0.116 -> 0.104 ms, the model 4.02 -> 3.92
      // ms at 1 thread, 2.24 -> 2.17 ms at 2.
      run_k([&](size_t k, V* bv) HWY_ATTR {
        const float* row = bp + boff[k];
        for (size_t v = 0; v < NV; ++v) bv[v] = hn::LoadU(d, row + v * kL);
        for (size_t v = 0; v < NV; ++v) hwy::Prefetch(row + kNR + v * kL);
      });
    } else if (full) {
      run_k([&](size_t k, V* bv) HWY_ATTR {
        for (size_t v = 0; v < NV; ++v) bv[v] = hn::LoadU(d, bp + boff[k] + v * kL);
      });
    } else {
      run_k([&](size_t k, V* bv) HWY_ATTR {
        for (size_t v = 0; v + 1 < NV; ++v) bv[v] = hn::LoadU(d, bp + boff[k] + v * kL);
        bv[NV - 1] = load_tail(bp + boff[k] + (NV - 1) * kL, tail, tail_mask);
      });
    }
  } else {
    run_k([&](size_t k, V* bv) HWY_ATTR {
      for (size_t v = 0; v < NV; ++v) bv[v] = hn::Load(d, bp + k * kNR + v * kL);
    });
  }

  const V valpha = hn::Set(d, e.alpha), vbeta = hn::Set(d, e.beta);
  const V vlo = hn::Set(d, e.lo), vhi = hn::Set(d, e.hi);
  V cbias[NV];
  for (size_t v = 0; v < NV; ++v) {
    cbias[v] = hn::Zero(d);
    if (e.last && col_bias)
      cbias[v] = (v + 1 < NV || full) ? hn::LoadU(d, col_bias + v * kL) : load_tail(col_bias + v * kL, tail, tail_mask);
  }
  for (size_t r = 0; r < MR; ++r) {
    float* cr = c + static_cast<int64_t>(r) * ldc;
    const V rbias = hn::Set(d, e.last && row_bias ? row_bias[r] : 0.f);
    for (size_t v = 0; v < NV; ++v) {
      const bool whole = v + 1 < NV || full;
      V x = hn::Mul(acc[r][v], valpha);
      if (e.beta != 0.f) {
        const V cv = whole ? hn::LoadU(d, cr + v * kL) : load_tail(cr + v * kL, tail, tail_mask);
        x = hn::MulAdd(vbeta, cv, x);
      }
      if (e.last) {
        x = hn::Add(hn::Add(x, rbias), cbias[v]);
        if (e.clamp) x = hn::Min(hn::Max(x, vlo), vhi);
      }
      if (whole)
        hn::StoreU(x, d, cr + v * kL);
      else
        store_tail(x, cr + v * kL, tail, tail_mask);
    }
  }
}

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// C tiles of at most 4 columns (the N edge of a product whose N is 48q + 1..4: Winograd's 49 and
// 196 tiles of 14x14 and 28x28 planes, 14x14 pointwise convs). The 1-vector micro kernel would
// broadcast 8 A values and load a 16-column B vector per K step for 1-4 useful columns, at a third
// of the 3-vector tile's FMA rate: a 49-column GEMM spent a quarter of its time on its last column.
// Here a panel's 8 rows are the lanes of a 256-bit vector (one load of A's packed panel column)
// and each column is one broadcast B value, over P panels at once (P x NR FMA chains). Every
// element sees the micro kernel's operations in its order (FMAs from zero in K order, then the
// same epilogue), so the bits do not depend on where a split puts the N edge.
template <size_t NR, size_t P, bool kIndirect>
HWY_NOINLINE void narrow_kernel(size_t kc, const float* HWY_RESTRICT ap, const float* HWY_RESTRICT bp,
                                float* HWY_RESTRICT c, int64_t ldc, size_t rows, const TileEpi& e,
                                const float* row_bias, const float* col_bias, const int64_t* HWY_RESTRICT boff) {
  static_assert(kMR == 8, "a panel's rows are the 8 lanes of a 256-bit vector");
  const hn::FixedTag<float, 8> d8;
  using V8 = hn::Vec<decltype(d8)>;
  V8 acc[P][NR];
  for (size_t q = 0; q < P; ++q)
    for (size_t j = 0; j < NR; ++j) acc[q][j] = hn::Zero(d8);
  const size_t panel = kc * kMR;
  for (size_t k = 0; k < kc; ++k) {
    const float* b = kIndirect ? bp + boff[k] : bp + k * kNR;
    V8 bv[NR];
    for (size_t j = 0; j < NR; ++j) bv[j] = hn::Set(d8, b[j]);
    for (size_t q = 0; q < P; ++q) {
      const V8 av = hn::Load(d8, ap + q * panel + k * kMR);
      for (size_t j = 0; j < NR; ++j) acc[q][j] = hn::MulAdd(av, bv[j], acc[q][j]);
    }
  }
  const V8 valpha = hn::Set(d8, e.alpha), vbeta = hn::Set(d8, e.beta);
  const V8 vlo = hn::Set(d8, e.lo), vhi = hn::Set(d8, e.hi);
  for (size_t q = 0; q < P; ++q) {
    const size_t mr = std::min<size_t>(kMR, rows - std::min(rows, q * kMR));
    if (mr == 0) break;
    float* cq = c + static_cast<int64_t>(q * kMR) * ldc;
    HWY_ALIGN float rb[8] = {}, cv[8] = {}, out[8];
    if (e.last && row_bias)
      for (size_t r = 0; r < mr; ++r) rb[r] = row_bias[q * kMR + r];
    const V8 rbias = hn::Load(d8, rb);
    for (size_t j = 0; j < NR; ++j) {
      V8 x = hn::Mul(acc[q][j], valpha);
      if (e.beta != 0.f) {
        for (size_t r = 0; r < mr; ++r) cv[r] = cq[static_cast<int64_t>(r) * ldc + j];
        x = hn::MulAdd(vbeta, hn::Load(d8, cv), x);
      }
      if (e.last) {
        x = hn::Add(hn::Add(x, rbias), hn::Set(d8, col_bias ? col_bias[j] : 0.f));
        if (e.clamp) x = hn::Min(hn::Max(x, vlo), vhi);
      }
      hn::Store(x, d8, out);
      for (size_t r = 0; r < mr; ++r) cq[static_cast<int64_t>(r) * ldc + j] = out[r];
    }
  }
}

using NarrowFn = void (*)(size_t, const float*, const float*, float*, int64_t, size_t, const TileEpi&, const float*,
                          const float*, const int64_t*);
constexpr size_t kNarrowMaxCols = 4, kNarrowPanels = 4;
template <bool kIndirect, size_t P, size_t... NRs>
constexpr std::array<NarrowFn, kNarrowMaxCols> narrow_row(std::index_sequence<NRs...>) {
  return {&narrow_kernel<NRs + 1, P, kIndirect>...};
}
template <bool kIndirect, size_t... Ps>
constexpr std::array<std::array<NarrowFn, kNarrowMaxCols>, kNarrowPanels> narrow_table(std::index_sequence<Ps...>) {
  return {narrow_row<kIndirect, Ps + 1>(std::make_index_sequence<kNarrowMaxCols>())...};
}
// kNarrow[panels-1][cols-1]
constexpr auto kNarrow = narrow_table<false>(std::make_index_sequence<kNarrowPanels>());
constexpr auto kNarrowIndirect = narrow_table<true>(std::make_index_sequence<kNarrowPanels>());
#else
constexpr size_t kNarrowMaxCols = 0, kNarrowPanels = 1;
#endif

using MicroFn = void (*)(size_t, const float*, const float*, float*, int64_t, size_t, const TileEpi&, const float*,
                         const float*, const int64_t*);

template <bool kIndirect, size_t MR, size_t... NVs>
constexpr std::array<MicroFn, kNV> row_of_kernels(std::index_sequence<NVs...>) {
  return {&micro_kernel<MR, NVs + 1, kIndirect>...};
}
template <bool kIndirect, size_t... MRs>
constexpr std::array<std::array<MicroFn, kNV>, kMR> table_of_kernels(std::index_sequence<MRs...>) {
  return {row_of_kernels<kIndirect, MRs + 1>(std::make_index_sequence<kNV>())...};
}
// kMicro[mr-1][nv-1]: the kernel for an mr-row, nv-vector tile; kMicroIndirect for an indirect B.
constexpr auto kMicro = table_of_kernels<false>(std::make_index_sequence<kMR>());
constexpr auto kMicroIndirect = table_of_kernels<true>(std::make_index_sequence<kMR>());

// One whole MR-row panel of row-major A: out[k*MR + r] = src[r*lda + k]. A transpose of MR x L
// tiles through the stack: L loads per row, then MR-float rows out, so neither side is scalar
// stride-MR traffic (the scalar loop cost ~6% of a 1024^3 GEMM).
void pack_a_full_panel(const float* src, int64_t lda, int64_t kc, float* out) {
  const D d;
  int64_t k = 0;
  HWY_ALIGN float tile[kMR * kL];
  for (; k + static_cast<int64_t>(kL) <= kc; k += kL) {
    for (size_t r = 0; r < kMR; ++r) hn::Store(hn::LoadU(d, src + static_cast<int64_t>(r) * lda + k), d, tile + r * kL);
    float* o = out + k * kMR;
    for (size_t l = 0; l < kL; ++l)
      for (size_t r = 0; r < kMR; ++r) o[l * kMR + r] = tile[r * kL + l];
  }
  for (; k < kc; ++k)
    for (size_t r = 0; r < kMR; ++r) out[k * kMR + r] = src[static_cast<int64_t>(r) * lda + k];
}

// Rows [i0, i0+mc) x depth [p0, p0+kc) of op(A) into MR-row panels: panel q holds
// dst[q*MR*kc + k*MR + r] = op(A)[i0 + q*MR + r, p0 + k], zero past mc.
void pack_a(bool trans, const float* a, int64_t lda, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t q = 0; q * static_cast<int64_t>(kMR) < mc; ++q) {
    const int64_t row0 = i0 + q * kMR;
    const int64_t rows = std::min<int64_t>(kMR, mc - q * kMR);
    float* out = dst + q * kMR * kc;
    if (trans) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = a + (p0 + k) * lda + row0;
        float* o = out + k * kMR;
        for (int64_t r = 0; r < rows; ++r) o[r] = src[r];
        for (int64_t r = rows; r < static_cast<int64_t>(kMR); ++r) o[r] = 0.f;
      }
    } else {
      if (rows < static_cast<int64_t>(kMR)) {
        std::memset(out, 0, sizeof(float) * kMR * kc);
        for (int64_t r = 0; r < rows; ++r) {
          const float* src = a + (row0 + r) * lda + p0;
          for (int64_t k = 0; k < kc; ++k) out[k * kMR + r] = src[k];
        }
      } else {
        pack_a_full_panel(a + row0 * lda + p0, lda, kc, out);
      }
    }
  }
}

// Depth [p0, p0+kc) x columns [j0, j0+nc) of op(B) into NR-column panels: panel q holds
// dst[q*NR*kc + k*NR + j] = op(B)[p0 + k, j0 + q*NR + j], zero past nc.
void pack_b(bool trans, const float* b, int64_t ldb, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* dst) {
  for (int64_t q = 0; q * static_cast<int64_t>(kNR) < nc; ++q) {
    const int64_t col0 = j0 + q * kNR;
    const int64_t cols = std::min<int64_t>(kNR, nc - q * kNR);
    float* out = dst + q * kNR * kc;
    if (!trans && cols == static_cast<int64_t>(kNR)) {
      // Whole vectors: a memcpy call per 192-byte row cost MobileNetV2 6% of its time.
      const D d;
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = b + (p0 + k) * ldb + col0;
        float* o = out + k * kNR;
        for (size_t v = 0; v < kNV; ++v) hn::Store(hn::LoadU(d, src + v * kL), d, o + v * kL);
      }
    } else if (!trans) {
      for (int64_t k = 0; k < kc; ++k) {
        const float* src = b + (p0 + k) * ldb + col0;
        float* o = out + k * kNR;
        std::memcpy(o, src, sizeof(float) * cols);
        for (int64_t j = cols; j < static_cast<int64_t>(kNR); ++j) o[j] = 0.f;
      }
    } else {
      if (cols < static_cast<int64_t>(kNR)) std::memset(out, 0, sizeof(float) * kNR * kc);
      for (int64_t j = 0; j < cols; ++j) {
        const float* src = b + (col0 + j) * ldb + p0;
        for (int64_t k = 0; k < kc; ++k) out[k * kNR + j] = src[k];
      }
    }
  }
}

// The blocked product restricted to C rows [m0, m1) and columns [n0, n1). With a pre-packed
// operand, m0 (n0) must be a multiple of MR (NR) so block offsets land on panel boundaries.
void run_range(const GemmProblem& p, int64_t m0, int64_t m1, int64_t n0, int64_t n1) {
  const int64_t m_pad = round_up(p.m, kMR), n_pad = round_up(p.n, kNR);
  const bool indirect = p.b_row_offsets != nullptr;
  float* bbuf = p.packed_b || indirect ? nullptr : thread_scratch(1, kKC * std::min<int64_t>(kNC, round_up(n1 - n0, kNR)));
  float* abuf = p.packed_a ? nullptr : thread_scratch(0, kKC * std::min<int64_t>(kMC, round_up(m1 - m0, kMR)));
  const bool clamp = p.ep.clamp_min > -std::numeric_limits<float>::infinity() ||
                     p.ep.clamp_max < std::numeric_limits<float>::infinity();
  const int64_t c_row0 = p.rows_end >= 0 ? p.rows_begin : 0;  // the row `p.c` points at
  const int64_t kb = k_block(p.k);
  // The caller's prefetch range, spread evenly over every tile this call runs.
  const char* pf = p.prefetch;
  int64_t pf_left = p.prefetch ? (p.prefetch_bytes + 63) / 64 : 0, pf_per_tile = 0;
  if (pf_left > 0) {
    const int64_t tiles = ((n1 - n0 + kNR - 1) / kNR) * ((m1 - m0 + kMR - 1) / kMR) * ((p.k + kb - 1) / kb);
    pf_per_tile = (pf_left + tiles - 1) / std::max<int64_t>(tiles, 1);
  }
  for (int64_t jc = n0; jc < n1; jc += kNC) {
    const int64_t nc = std::min(kNC, n1 - jc);
    for (int64_t pc = 0; pc < p.k; pc += kb) {
      const int64_t kc = std::min(kb, p.k - pc);
      const float* bblk;
      if (indirect) {
        bblk = nullptr;  // the tiles read B's rows in place
      } else if (p.packed_b) {
        bblk = p.packed_b + pc * n_pad + jc * kc;
      } else if (p.b_packer.fn) {
        p.b_packer.fn(p.b_packer.ctx, pc, kc, jc, nc, static_cast<int64_t>(kNR), bbuf);
        bblk = bbuf;
      } else {
        pack_b(p.trans_b, p.b, p.ldb, pc, kc, jc, nc, bbuf);
        bblk = bbuf;
      }
      const TileEpi e{p.alpha, pc == 0 ? p.beta : 1.f, pc + kc >= p.k, clamp, p.ep.clamp_min, p.ep.clamp_max};
      // The first tile over a pre-packed A panel (jr == 0) and over an indirect B panel (ir == 0)
      // prefetch ahead (see micro_kernel); e_ab[a][b].
      TileEpi e_ab[2][2] = {{e, e}, {e, e}};
      for (int a = 0; a < 2; ++a)
        for (int b = 0; b < 2; ++b) {
          e_ab[a][b].prefetch_a = a && p.packed_a != nullptr;
          e_ab[a][b].prefetch_b = b && indirect;
        }
      for (int64_t ic = m0; ic < m1; ic += kMC) {
        const int64_t mc = std::min(kMC, m1 - ic);
        const float* ablk;
        if (p.packed_a) {
          ablk = p.packed_a + pc * m_pad + ic * kc;
        } else {
          pack_a(p.trans_a, p.a, p.lda, ic, mc, pc, kc, abuf);
          ablk = abuf;
        }
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
        // The N edge's nr <= kNarrowMaxCols columns of rows [ir, ir + rows), rows <= kNarrowPanels * kMR.
        auto narrow_edge = [&](int64_t ir, int64_t jr, size_t nr, int64_t rows) {
          const auto& fns = indirect ? kNarrowIndirect : kNarrow;
          const size_t np = static_cast<size_t>((rows + kMR - 1) / kMR);
          fns[np - 1][nr - 1](static_cast<size_t>(kc), ablk + ir * kc, indirect ? p.b + jc + jr : bblk + jr * kc,
                              p.c + (ic + ir - c_row0) * p.ldc + jc + jr, p.ldc, static_cast<size_t>(rows), e,
                              p.ep.row_bias ? p.ep.row_bias + ic + ir : nullptr,
                              p.ep.col_bias ? p.ep.col_bias + jc + jr : nullptr, indirect ? p.b_row_offsets + pc : nullptr);
        };
#endif
        auto tile = [&](int64_t ir, int64_t jr) {
          if (pf_left > 0) {
            const int64_t lines = std::min(pf_left, pf_per_tile);
            for (int64_t l = 0; l < lines; ++l) __builtin_prefetch(pf + l * 64, 0, 2);
            pf += lines * 64;
            pf_left -= lines;
          }
          const size_t nr = static_cast<size_t>(std::min<int64_t>(kNR, nc - jr));
          const size_t mr = static_cast<size_t>(std::min<int64_t>(kMR, mc - ir));
          const float* cb = p.ep.col_bias ? p.ep.col_bias + jc + jr : nullptr;
          const float* rb = p.ep.row_bias ? p.ep.row_bias + ic + ir : nullptr;
          float* ct = p.c + (ic + ir - c_row0) * p.ldc + jc + jr;
          const size_t nv = (nr + kL - 1) / kL - 1;
          const TileEpi& te = e_ab[jr == 0][ir == 0];
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
          if (nr <= kNarrowMaxCols) return narrow_edge(ir, jr, nr, static_cast<int64_t>(mr));  // one panel
#endif
          if (indirect)
            kMicroIndirect[mr - 1][nv](static_cast<size_t>(kc), ablk + ir * kc, p.b + jc + jr, ct, p.ldc, nr, te, rb, cb,
                                       p.b_row_offsets + pc);
          else
            kMicro[mr - 1][nv](static_cast<size_t>(kc), ablk + ir * kc, bblk + jr * kc, ct, p.ldc, nr, te, rb, cb,
                               nullptr);
        };
        if (kc <= kRowsOuterMaxK) {
          // Short K (pointwise convs of few channels): the tiles are cheap and C's stores dominate.
          // One MR-row strip at a time across the whole block keeps MR output rows streaming
          // instead of all mc of them (96 for MobileNetV2's 16->96 expansion), which the hardware
          // write-allocates far better when C is not in cache (that layer: 0.89 -> 0.56 ms with a
          // cold C, 0.85 -> 0.57 ms in the model); the B block is re-read from L2. Longer K gains
          // nothing (measured up to K = 960) and its B block outgrows L1: panels outer, as before.
          for (int64_t ir = 0; ir < mc; ir += kMR)
            for (int64_t jr = 0; jr < nc; jr += kNR) tile(ir, jr);
        } else {
          for (int64_t jr = 0; jr < nc; jr += kNR) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
            const size_t nr = static_cast<size_t>(std::min<int64_t>(kNR, nc - jr));
            if (nr <= kNarrowMaxCols) {  // the N edge: up to kNarrowPanels panels per call
              constexpr int64_t kRows = static_cast<int64_t>(kNarrowPanels * kMR);
              for (int64_t ir = 0; ir < mc; ir += kRows) narrow_edge(ir, jr, nr, std::min(kRows, mc - ir));
              continue;
            }
#endif
            for (int64_t ir = 0; ir < mc; ir += kMR) tile(ir, jr);
          }
        }
      }
    }
  }
}

// GEMV-like path for a few rows of A and an unpacked B: packing B (K x N) would cost as much as
// the product itself, so B is streamed once in its stored layout. `a` is op(A) as m contiguous
// rows of K; columns [j0, j1) of C.
template <size_t M>
void small_m_range(const GemmProblem& p, const float* a, int64_t j0, int64_t j1, const TileEpi& e) {
  const D d;
  const int64_t k = p.k;
  auto finish = [&](size_t i, int64_t j, float acc) {
    float* c = p.c + static_cast<int64_t>(i) * p.ldc + j;
    *c = apply_scalar(acc, c, e, p.ep.row_bias ? p.ep.row_bias + i : nullptr, p.ep.col_bias ? p.ep.col_bias + j : nullptr);
  };
  if (p.trans_b) {
    // B stored [N, K]: dot products along K, four columns at a time for independent chains.
    constexpr int64_t kCols = 4;
    int64_t j = j0;
    for (; j < j1; j += kCols) {
      const int64_t cols = std::min(kCols, j1 - j);
      V acc[kCols][M];
      for (int64_t c = 0; c < kCols; ++c)
        for (size_t i = 0; i < M; ++i) acc[c][i] = hn::Zero(d);
      int64_t q = 0;
      for (; q + static_cast<int64_t>(kL) <= k; q += kL) {
        V av[M];
        for (size_t i = 0; i < M; ++i) av[i] = hn::LoadU(d, a + i * k + q);
        for (int64_t c = 0; c < cols; ++c) {
          const V bv = hn::LoadU(d, p.b + (j + c) * p.ldb + q);
          for (size_t i = 0; i < M; ++i) acc[c][i] = hn::MulAdd(av[i], bv, acc[c][i]);
        }
      }
      for (int64_t c = 0; c < cols; ++c)
        for (size_t i = 0; i < M; ++i) {
          float sum = hn::GetLane(hn::SumOfLanes(d, acc[c][i]));
          const float* brow = p.b + (j + c) * p.ldb;
          for (int64_t r = q; r < k; ++r) sum += a[i * k + r] * brow[r];
          finish(i, j + c, sum);
        }
    }
    return;
  }
  // B stored [K, N]: rows of B scaled by A's scalars, vectors along N.
  int64_t j = j0;
  for (; j + static_cast<int64_t>(kL) <= j1; j += kL) {
    V acc[M];
    for (size_t i = 0; i < M; ++i) acc[i] = hn::Zero(d);
    for (int64_t q = 0; q < k; ++q) {
      const V bv = hn::LoadU(d, p.b + q * p.ldb + j);
      for (size_t i = 0; i < M; ++i) acc[i] = hn::MulAdd(hn::Set(d, a[i * k + q]), bv, acc[i]);
    }
    HWY_ALIGN float lanes[kL];
    for (size_t i = 0; i < M; ++i) {
      hn::Store(acc[i], d, lanes);
      for (size_t l = 0; l < kL; ++l) finish(i, j + static_cast<int64_t>(l), lanes[l]);
    }
  }
  for (; j < j1; ++j)
    for (size_t i = 0; i < M; ++i) {
      float sum = 0.f;
      for (int64_t q = 0; q < k; ++q) sum += a[i * k + q] * p.b[q * p.ldb + j];
      finish(i, j, sum);
    }
}

void small_m(const GemmProblem& p, ThreadPool& pool) {
  // op(A) as contiguous rows (a copy only when transposed or strided).
  const float* a = p.a;
  std::vector<float> a_rows;
  if (p.trans_a || p.lda != p.k) {
    a_rows.resize(static_cast<size_t>(p.m * p.k));
    for (int64_t i = 0; i < p.m; ++i)
      for (int64_t q = 0; q < p.k; ++q) a_rows[i * p.k + q] = p.trans_a ? p.a[q * p.lda + i] : p.a[i * p.lda + q];
    a = a_rows.data();
  }
  const bool clamp = p.ep.clamp_min > -std::numeric_limits<float>::infinity() ||
                     p.ep.clamp_max < std::numeric_limits<float>::infinity();
  const TileEpi e{p.alpha, p.beta, true, clamp, p.ep.clamp_min, p.ep.clamp_max};
  auto run = [&](int64_t j0, int64_t j1) {
    switch (p.m) {
      case 1: return small_m_range<1>(p, a, j0, j1, e);
      case 2: return small_m_range<2>(p, a, j0, j1, e);
      case 3: return small_m_range<3>(p, a, j0, j1, e);
      default: return small_m_range<4>(p, a, j0, j1, e);
    }
  };
  // Column chunks are multiples of 4*L so each output is reduced the same way whatever the split.
  const int64_t grain = 4 * static_cast<int64_t>(kL);
  if (pool.num_threads() > 1 && p.m * p.n * p.k >= 200000)
    pool.parallel_for(p.n, run, grain);
  else
    run(0, p.n);
}

// The critical path of splitting M (rows) or N (columns) over the pool, in multiply-add units: the
// largest chunk's products plus the operand elements it packs (weighted: a packed element costs
// about as much as several vector multiply-adds).
int64_t split_cost(const GemmProblem& p, const ThreadPool& pool, int64_t tiles, int64_t tile, bool rows) {
  constexpr int64_t kPackWeight = 8;
  const int64_t chunks = pool.num_chunks(tiles);
  const int64_t extent = rows ? p.m : p.n;
  int64_t widest = 0;
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t b, e;
    ThreadPool::chunk_bounds(tiles, 1, chunks, c, &b, &e);
    widest = std::max(widest, std::min(e * tile, extent) - b * tile);
  }
  const int64_t other = rows ? p.n : p.m;
  const bool a_ready = p.packed_a != nullptr;
  const bool b_ready = p.packed_b != nullptr || p.b_row_offsets != nullptr;  // B needs no packing
  const bool own_packed = rows ? a_ready : b_ready;            // packs only its own slice
  const bool shared_packed = rows ? b_ready : a_ready;         // packs the whole other operand
  return widest * other * p.k + kPackWeight * p.k * ((own_packed ? 0 : widest) + (shared_packed ? 0 : other));
}

void GemmRun(const GemmProblem& p) {
  if (p.m == 0 || p.n == 0) return;
  if (p.k == 0) {
    const bool clamp = p.ep.clamp_min > -std::numeric_limits<float>::infinity() ||
                       p.ep.clamp_max < std::numeric_limits<float>::infinity();
    const TileEpi e{p.alpha, p.beta, true, clamp, p.ep.clamp_min, p.ep.clamp_max};
    const int64_t i0 = p.rows_end >= 0 ? p.rows_begin : 0, i1 = p.rows_end >= 0 ? p.rows_end : p.m;
    for (int64_t i = i0; i < i1; ++i)
      for (int64_t j = 0; j < p.n; ++j) {
        float* c = p.c + (i - i0) * p.ldc + j;
        *c = apply_scalar(0.f, c, e, p.ep.row_bias ? p.ep.row_bias + i : nullptr,
                          p.ep.col_bias ? p.ep.col_bias + j : nullptr);
      }
    return;
  }
  if (p.rows_end >= 0) {
    run_range(p, p.rows_begin, p.rows_end, 0, p.n);
    return;
  }
  ThreadPool& pool = p.pool ? *p.pool : default_pool();
  if (p.m <= 4 && !p.packed_a && !p.packed_b && !p.b_packer.fn) {
    small_m(p, pool);
    return;
  }
  const int64_t threads = pool.num_threads();
  const int64_t tiles_m = (p.m + kMR - 1) / kMR, tiles_n = (p.n + kNR - 1) / kNR;
  // Below ~0.2 MFLOP the fork/join costs more than it saves.
  if (threads <= 1 || p.m * p.n * p.k < 100000 || (tiles_m < 2 && tiles_n < 2)) {
    run_range(p, 0, p.m, 0, p.n);
    return;
  }
  // Pick the split with the shorter critical path: the largest chunk's multiply-adds plus what it
  // packs (splitting M repeats the B packing in every thread, splitting N the A packing). Counting
  // whole chunks matters when one side has few tiles: N = 49 split over N gives one thread 48
  // columns and the other 1 (ResNet-18's layer4 stride-2 conv), split over M it halves.
  // An indirect B is read from memory in place (a pointwise conv's input planes): splitting M would
  // stream all of it through every thread, so such a B splits N when N has 4 tiles per thread
  // (MobileNetV2's 16 -> 96 expansion at 112x112, 2 threads: 0.19 -> 0.14 ms); with fewer the N
  // chunks are uneven (196 columns: 144 + 52) and the cost model decides.
  const bool split_m = (p.b_row_offsets && tiles_n >= 4 * threads)
                           ? false
                           : split_cost(p, pool, tiles_m, kMR, true) <= split_cost(p, pool, tiles_n, kNR, false);
  if (split_m) {
    pool.parallel_for(tiles_m, [&](int64_t b, int64_t e) {
      run_range(p, b * kMR, std::min(e * static_cast<int64_t>(kMR), p.m), 0, p.n);
    });
  } else {
    pool.parallel_for(tiles_n, [&](int64_t b, int64_t e) {
      run_range(p, 0, p.m, b * kNR, std::min(e * static_cast<int64_t>(kNR), p.n));
    });
  }
}

// One pixel-rows tile (conv_f32_pixel_rows) over K block pc (kc rows): rows = MR output pixels,
// A[r][k] = px[r][koff[k]] (broadcast), columns = up to kNR output channels from the packed W^T
// panel (block pc at w + pc * n_pad + j0 * kc, kc rows of kNR: pack_b_f32's layout). The
// accumulators start at zero (first block) or from `carry`, and go back to `carry` until the last
// block, which writes the tile transposed, y[(j0 + j) * ldy + n0 + r] for r < mr, j < nr, with
// bias, residual and clamp. Meanwhile `pf_lines` cache lines from `pf` on are prefetched into L2
// (the weights' next block, see PixelRowsRun), spread over the K loop.
// NV (<= kNV) vectors of columns: a panel's last channels (ResNet's 256 = 5 x 48 + 16) compute only
// the vectors they fill instead of a whole 48-column tile.
template <size_t MR, size_t NV = kNV>
void PixelRowsTile(const PixelRowsConv& p, int64_t n_pad, const float* const* px, int64_t j0, size_t nr, int64_t n0,
                   size_t mr, int64_t pc, int64_t kc, float* HWY_RESTRICT carry, const char* pf, int64_t pf_lines) {
  const D d;
  const int64_t k = p.w->rows();
  V acc[MR][NV];
  for (size_t r = 0; r < MR; ++r)
    for (size_t v = 0; v < NV; ++v) acc[r][v] = pc == 0 ? hn::Zero(d) : hn::Load(d, carry + r * kNR + v * kL);
  const float* bp = p.w->data() + pc * n_pad + j0 * kc;
  const int64_t* koff = p.k_offsets + pc;
  const int64_t pf_step = (pf_lines + kc - 1) / std::max<int64_t>(kc, 1);  // lines per K step
  for (int64_t kk = 0; kk < kc; ++kk, bp += kNR) {
    if (pf_lines > 0) {
      for (int64_t i = 0; i < pf_step; ++i) __builtin_prefetch(pf + i * 64, 0, 2);
      pf += pf_step * 64;
      pf_lines -= pf_step;
    }
    V bv[NV];
    for (size_t v = 0; v < NV; ++v) bv[v] = hn::Load(d, bp + v * kL);
    const int64_t o = koff[kk];
    for (size_t r = 0; r < MR; ++r) {
      const V av = hn::Set(d, px[r][o]);
      for (size_t v = 0; v < NV; ++v) acc[r][v] = hn::MulAdd(av, bv[v], acc[r][v]);
    }
  }
  for (size_t r = 0; r < MR; ++r)
    for (size_t v = 0; v < NV; ++v) hn::Store(acc[r][v], d, carry + r * kNR + v * kL);
  if (pc + kc < k) return;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  if constexpr (kL == 16 && MR <= 16) {
    // The tile transposed in registers, 16 channels at a time: one masked store of the mr pixels
    // per channel instead of mr scalar ones (MobileNetV2's 7x7 pointwise convs of K = 160 spent a
    // third of their time in the scalar stores).
    const __mmask16 mm = static_cast<__mmask16>((1u << mr) - 1);
    const __m512 vlo = _mm512_set1_ps(p.lo), vhi = _mm512_set1_ps(p.hi);
    for (size_t v = 0; v < NV && v * kL < nr; ++v) {
      __m512 t[16];
      for (size_t r = 0; r < 16; ++r) t[r] = r < MR ? _mm512_load_ps(carry + r * kNR + v * kL) : _mm512_setzero_ps();
      microkernels::HWY_NAMESPACE::Transpose16x16F32(t);
      const size_t jn = std::min(kL, nr - v * kL);
      for (size_t j = 0; j < jn; ++j) {
        const int64_t ch = j0 + static_cast<int64_t>(v * kL + j);
        __m512 x = _mm512_add_ps(t[j], _mm512_set1_ps(p.bias ? p.bias[ch] : 0.f));
        if (p.residual) x = _mm512_add_ps(x, _mm512_maskz_loadu_ps(mm, p.residual + ch * p.ldy + n0));
        _mm512_mask_storeu_ps(p.y + ch * p.ldy + n0, mm, _mm512_min_ps(_mm512_max_ps(x, vlo), vhi));
      }
    }
    return;
  }
#endif
  for (size_t j = 0; j < nr; ++j) {
    const int64_t ch = j0 + static_cast<int64_t>(j);
    const float b = p.bias ? p.bias[ch] : 0.f;
    float* y = p.y + ch * p.ldy + n0;
    const float* res = p.residual ? p.residual + ch * p.ldy + n0 : nullptr;
    for (size_t r = 0; r < mr; ++r) {
      float x = carry[r * kNR + j] + b;
      if (res) x += res[r];
      y[r] = std::min(std::max(x, p.lo), p.hi);
    }
  }
}

// PixelRowsTile with as many column vectors as the panel's nr channels fill.
template <size_t MR>
void PixelRowsTileFor(const PixelRowsConv& p, int64_t n_pad, const float* const* px, int64_t j0, size_t nr, int64_t n0,
                      size_t mr, int64_t pc, int64_t kc, float* HWY_RESTRICT carry, const char* pf, int64_t pf_lines) {
  if (nr <= kL)
    PixelRowsTile<MR, 1>(p, n_pad, px, j0, nr, n0, mr, pc, kc, carry, pf, pf_lines);
  else if (kNV > 2 && nr <= 2 * kL)
    PixelRowsTile<MR, (kNV > 2 ? 2 : kNV)>(p, n_pad, px, j0, nr, n0, mr, pc, kc, carry, pf, pf_lines);
  else
    PixelRowsTile<MR>(p, n_pad, px, j0, nr, n0, mr, pc, kc, carry, pf, pf_lines);
}

// Items are (channel panel, group of up to kPixelRowsGroup pixel blocks); an item runs K block by
// K block over its pixel blocks, so the panel's block of W (kKC x kNR floats, 96 KB on AVX-512)
// stays in L2 for all of them instead of the whole panel (up to 9.4 MB x 48 / 512 channels for
// ResNet's 512-channel convs) streaming once per pixel block. Every output sums K in the same order.
// Such weights come from memory (ResNet-18's 45 MB do not stay in L3 between runs), and a block
// would be fetched only by its first tile, at the FMA rate: the tiles of one block prefetch the
// next one (the next K block, or the next item's first), so loads overlap the compute.
// Pixel blocks are 8 rows, or 7 where that tiles the plane and 8 does not (49 = 7 x 7: no 8-row
// tile for one pixel).
constexpr int64_t kPixelRowsGroup = 8;

void PixelRowsRun(const PixelRowsConv& p, ThreadPool* pool) {
  const int64_t m = p.w->cols(), n_pad = round_up(m, kNR), k = p.w->rows(), kb = k_block(k);
  const bool seven = kMR >= 8 && p.npx % 8 != 0 && p.npx % 7 == 0;
  const int64_t rb = seven ? 7 : static_cast<int64_t>(kMR);
  const int64_t pblocks = (p.npx + rb - 1) / rb, cpanels = (m + kNR - 1) / kNR;
  // Pixel blocks in groups of up to kPixelRowsGroup; with threads and few items, more groups so the
  // items split evenly (ResNet-18's layer4: 11 channel panels x 1 group ran 6 + 5 on 2 threads).
  const int64_t threads = pool ? pool->num_threads() : 1;
  int64_t groups = (pblocks + kPixelRowsGroup - 1) / kPixelRowsGroup;
  if (threads > 1 && (groups * cpanels) % threads != 0 && groups * cpanels < 8 * threads)
    groups = std::min(pblocks, groups * threads);
  const int64_t gsz = (pblocks + groups - 1) / groups;
  groups = (pblocks + gsz - 1) / gsz;
  auto block_at = [&](int64_t pc, int64_t j0) {  // K block pc of the panel at column j0, and its lines
    const int64_t kc = std::min(kb, k - pc);
    return std::pair<const char*, int64_t>(reinterpret_cast<const char*>(p.w->data() + pc * n_pad + j0 * kc),
                                           kc * static_cast<int64_t>(kNR) * 4 / 64);
  };
  auto run = [&](int64_t b, int64_t e) {
    float* carry = thread_scratch(1, static_cast<size_t>(kPixelRowsGroup * kMR * kNR));
    for (int64_t item = b; item < e; ++item) {
      // Channel panels outer: consecutive items share the panel's weights.
      const int64_t cp = item / groups, g0 = item % groups * gsz;
      const int64_t g1 = std::min(pblocks, g0 + gsz), j0 = cp * kNR;
      const size_t nr = static_cast<size_t>(std::min<int64_t>(kNR, m - j0));
      for (int64_t pc = 0; pc < k; pc += kb) {
        const int64_t kc = std::min(kb, k - pc);
        // The block after this one: the panel's next K block, or (last block) the next panel's first.
        std::pair<const char*, int64_t> next{nullptr, 0};
        if (pc + kb < k)
          next = block_at(pc + kb, j0);
        else if (j0 + static_cast<int64_t>(kNR) < m && item + 1 < e)
          next = block_at(0, j0 + static_cast<int64_t>(kNR));
        const int64_t tiles = g1 - g0, per_tile = (next.second + tiles - 1) / tiles;
        for (int64_t pb = g0; pb < g1; ++pb) {
          const int64_t n0 = pb * rb;
          const size_t mr = static_cast<size_t>(std::min<int64_t>(rb, p.npx - n0));
          const float* px[kMR];
          for (size_t r = 0; r < kMR; ++r) px[r] = p.planes + p.pixel_offsets[n0 + (r < mr ? r : 0)];
          const int64_t t = pb - g0, first = std::min(next.second, t * per_tile);
          const int64_t lines = std::min(next.second, first + per_tile) - first;
          const char* pf = next.first ? next.first + first * 64 : nullptr;
          float* ct = carry + t * kMR * kNR;
          if constexpr (kMR >= 7) {
            if (seven) {
              PixelRowsTileFor<7>(p, n_pad, px, j0, nr, n0, mr, pc, kc, ct, pf, lines);
              continue;
            }
          }
          PixelRowsTileFor<kMR>(p, n_pad, px, j0, nr, n0, mr, pc, kc, ct, pf, lines);
        }
      }
    }
  };
  const int64_t items = groups * cpanels;
  if (!pool || threads <= 1 || items <= 1) return run(0, items);
  // Contiguous item ranges of equal cost (vectors x pixel blocks): a narrower last panel costs less.
  auto cost = [&](int64_t item) {
    const int64_t cp = item / groups, g0 = item % groups * gsz;
    const int64_t nv = (std::min<int64_t>(kNR, m - cp * kNR) + kL - 1) / kL;
    return nv * (std::min(pblocks, g0 + gsz) - g0);
  };
  int64_t total = 0;
  for (int64_t i = 0; i < items; ++i) total += cost(i);
  auto bound = [&](int64_t t) {  // thread t's first item: where the cost so far reaches t / threads
    if (t == 0 || t == threads) return t == 0 ? int64_t{0} : items;
    int64_t acc = 0, i = 0;
    while (i < items && acc * threads < total * t) acc += cost(i++);
    return i;
  };
  pool->parallel_for(threads, [&](int64_t b, int64_t e) {
    for (int64_t t = b; t < e; ++t) run(bound(t), bound(t + 1));
  });
}

size_t PackedFloats(bool is_a, int64_t rows, int64_t cols) {
  return is_a ? static_cast<size_t>(round_up(rows, kMR) * cols) : static_cast<size_t>(rows * round_up(cols, kNR));
}

// The whole op(A) [rows=M, cols=K] or op(B) [rows=K, cols=N], in the layout run_range reads.
void PackFull(bool is_a, bool trans, int64_t rows, int64_t cols, const float* src, int64_t ld, float* dst) {
  const int64_t depth = is_a ? cols : rows;
  const int64_t width = is_a ? rows : cols;
  const int64_t pad = round_up(width, is_a ? kMR : kNR);
  const int64_t kb = k_block(depth);
  for (int64_t pc = 0; pc < depth; pc += kb) {
    const int64_t kc = std::min(kb, depth - pc);
    if (is_a)
      pack_a(trans, src, ld, 0, width, pc, kc, dst + pc * pad);
    else
      pack_b(trans, src, ld, pc, kc, 0, width, dst + pc * pad);
  }
}

// The core's fp32 FMA throughput: 16 independent multiply-add chains of whole vectors (enough to
// cover the FMA latency on every x86 target), timed on this thread's CPU clock.
double FmaPeakGflops(int64_t iters) {
  const D d;
  V acc[16];
  for (int i = 0; i < 16; ++i) acc[i] = hn::Set(d, 1.f + 1e-3f * static_cast<float>(i));
  const V mul = hn::Set(d, 0.99999994f), add = hn::Set(d, 1e-7f);
  timespec t0{}, t1{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < 16; ++i) acc[i] = hn::MulAdd(acc[i], mul, add);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  V sum = acc[0];
  for (int i = 1; i < 16; ++i) sum = hn::Add(sum, acc[i]);
  volatile float sink = hn::GetLane(sum);  // keeps the chains alive
  (void)sink;
  const double secs = static_cast<double>(t1.tv_sec - t0.tv_sec) + 1e-9 * static_cast<double>(t1.tv_nsec - t0.tv_nsec);
  return secs > 0 ? 2.0 * 16.0 * static_cast<double>(kL) * static_cast<double>(iters) / secs / 1e9 : 0.0;
}

int Tile(bool is_a) { return static_cast<int>(is_a ? kMR : kNR); }

const char* KernelName() {
  static const std::string name = std::string(hwy::TargetName(HWY_TARGET)) + " " + std::to_string(kMR) + "x" +
                                  std::to_string(kNR);
  return name.c_str();
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::gemm::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace edgeopt::kernels::gemm {
namespace detail {

HWY_EXPORT(GemmRun);
HWY_EXPORT(PixelRowsRun);
HWY_EXPORT(PackedFloats);
HWY_EXPORT(PackFull);
HWY_EXPORT(Tile);
HWY_EXPORT(FmaPeakGflops);
HWY_EXPORT(KernelName);

float* thread_scratch(int slot, size_t floats) {
  struct Buf {
    float* p = nullptr;
    size_t n = 0;
    ~Buf() { std::free(p); }
  };
  thread_local Buf bufs[2];
  Buf& b = bufs[slot];
  if (b.n < floats) {
    std::free(b.p);
    size_t bytes = (floats * sizeof(float) + 63) / 64 * 64;
    b.p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (!b.p) throw_error(ErrorCode::kResourceExhausted, "gemm: cannot allocate " + std::to_string(bytes) + " bytes");
    b.n = floats;
  }
  return b.p;
}

namespace {

void check_dims(const char* what, int64_t m, int64_t n, int64_t k) {
  EDGEOPT_CHECK_ARG(m >= 0 && n >= 0 && k >= 0, std::string(what) + ": negative dimension M=" + std::to_string(m) +
                                                    " N=" + std::to_string(n) + " K=" + std::to_string(k));
}

void check_ld(const char* what, const char* name, int64_t ld, int64_t width, int64_t rows) {
  EDGEOPT_CHECK_ARG(rows == 0 || ld >= width,
                    std::string(what) + ": " + name + "=" + std::to_string(ld) + " is smaller than the row width " +
                        std::to_string(width));
}

void make_packed(bool is_a, bool trans, int64_t rows, int64_t cols, const float* src, int64_t ld,
                         std::shared_ptr<float>* data, size_t* floats, int* tile) {
  *floats = HWY_DYNAMIC_DISPATCH(PackedFloats)(is_a, rows, cols);
  size_t bytes = *floats * sizeof(float);
  float* p = static_cast<float*>(alloc_buffer(&bytes));  // huge pages from 2 MiB: weights stream
  if (!p) throw_error(ErrorCode::kResourceExhausted, "gemm pack: cannot allocate " + std::to_string(bytes) + " bytes");
  data->reset(p, [](float* q) { std::free(q); });
  if (rows > 0 && cols > 0) HWY_DYNAMIC_DISPATCH(PackFull)(is_a, trans, rows, cols, src, ld, p);
  *tile = HWY_DYNAMIC_DISPATCH(Tile)(is_a);
}

}  // namespace
}  // namespace detail

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
              const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const GemmEpilogue& ep, ThreadPool* pool) {
  detail::check_dims("gemm_f32", m, n, k);
  detail::check_ld("gemm_f32", "lda", lda, trans_a ? m : k, trans_a ? k : m);
  detail::check_ld("gemm_f32", "ldb", ldb, trans_b ? k : n, trans_b ? n : k);
  detail::check_ld("gemm_f32", "ldc", ldc, n, m);
  detail::GemmProblem p{trans_a, trans_b, m, n, k, alpha, beta, a, lda, b, ldb, c, ldc, ep, nullptr, nullptr, pool};
  HWY_DYNAMIC_DISPATCH(detail::GemmRun)(p);
}

PackedMatrix pack_b_f32(bool trans_b, int64_t k, int64_t n, const float* b, int64_t ldb) {
  detail::check_dims("pack_b_f32", 0, n, k);
  detail::check_ld("pack_b_f32", "ldb", ldb, trans_b ? k : n, trans_b ? n : k);
  PackedMatrix pm;
  detail::make_packed(false, trans_b, k, n, b, ldb, &pm.data_, &pm.floats_, &pm.tile_);
  pm.rows_ = k;
  pm.cols_ = n;
  pm.is_a_ = false;
  return pm;
}

PackedMatrix pack_a_f32(bool trans_a, int64_t m, int64_t k, const float* a, int64_t lda) {
  detail::check_dims("pack_a_f32", m, 0, k);
  detail::check_ld("pack_a_f32", "lda", lda, trans_a ? m : k, trans_a ? k : m);
  PackedMatrix pm;
  detail::make_packed(true, trans_a, m, k, a, lda, &pm.data_, &pm.floats_, &pm.tile_);
  pm.rows_ = m;
  pm.cols_ = k;
  pm.is_a_ = true;
  return pm;
}

void gemm_f32_packed_b(bool trans_a, int64_t m, float alpha, const float* a, int64_t lda, const PackedMatrix& b,
                       float beta, float* c, int64_t ldc, const GemmEpilogue& ep, ThreadPool* pool) {
  EDGEOPT_CHECK_ARG(!b.empty() && !b.is_a() && b.tile() == HWY_DYNAMIC_DISPATCH(detail::Tile)(false),
                    "gemm_f32_packed_b: the packed operand was not made by pack_b_f32 in this process");
  const int64_t k = b.rows(), n = b.cols();
  detail::check_dims("gemm_f32_packed_b", m, n, k);
  detail::check_ld("gemm_f32_packed_b", "lda", lda, trans_a ? m : k, trans_a ? k : m);
  detail::check_ld("gemm_f32_packed_b", "ldc", ldc, n, m);
  detail::GemmProblem p{trans_a, false, m, n, k, alpha, beta, a, lda, nullptr, 0, c, ldc, ep, nullptr, b.data(), pool};
  HWY_DYNAMIC_DISPATCH(detail::GemmRun)(p);
}

void gemm_f32_packed_a(const PackedMatrix& a, bool trans_b, int64_t n, float alpha, const float* b, int64_t ldb,
                       float beta, float* c, int64_t ldc, const GemmEpilogue& ep, ThreadPool* pool) {
  EDGEOPT_CHECK_ARG(!a.empty() && a.is_a() && a.tile() == HWY_DYNAMIC_DISPATCH(detail::Tile)(true),
                    "gemm_f32_packed_a: the packed operand was not made by pack_a_f32 in this process");
  const int64_t m = a.rows(), k = a.cols();
  detail::check_dims("gemm_f32_packed_a", m, n, k);
  detail::check_ld("gemm_f32_packed_a", "ldb", ldb, trans_b ? k : n, trans_b ? n : k);
  detail::check_ld("gemm_f32_packed_a", "ldc", ldc, n, m);
  detail::GemmProblem p{false, trans_b, m, n, k, alpha, beta, nullptr, 0, b, ldb, c, ldc, ep, a.data(), nullptr, pool};
  HWY_DYNAMIC_DISPATCH(detail::GemmRun)(p);
}

void gemm_f32_packed_a_rows(const PackedMatrix& a, int64_t m0, int64_t m1, bool trans_b, int64_t n, float alpha,
                            const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const GemmEpilogue& ep,
                            const void* prefetch, size_t prefetch_bytes) {
  EDGEOPT_CHECK_ARG(!a.empty() && a.is_a() && a.tile() == HWY_DYNAMIC_DISPATCH(detail::Tile)(true),
                    "gemm_f32_packed_a_rows: the packed operand was not made by pack_a_f32 in this process");
  const int64_t m = a.rows(), k = a.cols();
  EDGEOPT_CHECK_ARG(m0 >= 0 && m0 <= m1 && m1 <= m && m0 % a.tile() == 0,
                    "gemm_f32_packed_a_rows: rows [" + std::to_string(m0) + ", " + std::to_string(m1) +
                        ") must lie in [0, " + std::to_string(m) + ") and start at a multiple of the panel height " +
                        std::to_string(a.tile()));
  detail::check_dims("gemm_f32_packed_a_rows", m, n, k);
  detail::check_ld("gemm_f32_packed_a_rows", "ldb", ldb, trans_b ? k : n, trans_b ? n : k);
  detail::check_ld("gemm_f32_packed_a_rows", "ldc", ldc, n, m1 - m0);
  if (m0 == m1 || n == 0) return;
  detail::GemmProblem p{false, trans_b, m, n, k, alpha, beta, nullptr, 0, b, ldb, c, ldc, ep, a.data(), nullptr, nullptr};
  p.rows_begin = m0;
  p.rows_end = m1;
  p.prefetch = static_cast<const char*>(prefetch);
  p.prefetch_bytes = static_cast<int64_t>(prefetch_bytes);
  HWY_DYNAMIC_DISPATCH(detail::GemmRun)(p);
}

void gemm_f32_packed_a_indirect_b(const PackedMatrix& a, int64_t n, const float* b, const int64_t* b_row_offsets,
                                  float beta, float* c, int64_t ldc, const GemmEpilogue& ep, ThreadPool* pool) {
  EDGEOPT_CHECK_ARG(!a.empty() && a.is_a() && a.tile() == HWY_DYNAMIC_DISPATCH(detail::Tile)(true),
                    "gemm_f32_packed_a_indirect_b: the packed operand was not made by pack_a_f32 in this process");
  EDGEOPT_CHECK_ARG(b != nullptr && b_row_offsets != nullptr, "gemm_f32_packed_a_indirect_b: no B or no row offsets");
  const int64_t m = a.rows(), k = a.cols();
  detail::check_dims("gemm_f32_packed_a_indirect_b", m, n, k);
  detail::check_ld("gemm_f32_packed_a_indirect_b", "ldc", ldc, n, m);
  detail::GemmProblem p{false, false, m, n, k, 1.f, beta, nullptr, 0, b, 0, c, ldc, ep, a.data(), nullptr, pool, {}};
  p.b_row_offsets = b_row_offsets;
  HWY_DYNAMIC_DISPATCH(detail::GemmRun)(p);
}

int64_t gemm_f32_b_tile() { return HWY_DYNAMIC_DISPATCH(detail::Tile)(false); }

void conv_f32_pixel_rows(const PixelRowsConv& p, ThreadPool* pool) {
  EDGEOPT_CHECK_ARG(p.w && !p.w->empty() && !p.w->is_a() && p.w->tile() == HWY_DYNAMIC_DISPATCH(detail::Tile)(false),
                    "conv_f32_pixel_rows: the weights were not packed by pack_b_f32 in this process");
  EDGEOPT_CHECK_ARG(p.planes && p.pixel_offsets && p.k_offsets && p.y && p.ldy >= p.npx,
                    "conv_f32_pixel_rows: missing planes, offsets or output");
  if (p.npx <= 0 || p.w->cols() == 0) return;
  HWY_DYNAMIC_DISPATCH(detail::PixelRowsRun)(p, pool);
}

void gemm_f32_packed_a_packer(const PackedMatrix& a, int64_t n, const BPanelPacker& b, float beta, float* c,
                              int64_t ldc, const GemmEpilogue& ep, ThreadPool* pool) {
  EDGEOPT_CHECK_ARG(!a.empty() && a.is_a() && a.tile() == HWY_DYNAMIC_DISPATCH(detail::Tile)(true),
                    "gemm_f32_packed_a_packer: the packed operand was not made by pack_a_f32 in this process");
  EDGEOPT_CHECK_ARG(b.fn != nullptr, "gemm_f32_packed_a_packer: no B packing function");
  const int64_t m = a.rows(), k = a.cols();
  detail::check_dims("gemm_f32_packed_a_packer", m, n, k);
  detail::check_ld("gemm_f32_packed_a_packer", "ldc", ldc, n, m);
  detail::GemmProblem p{false, false, m, n, k, 1.f, beta, nullptr, 0, nullptr, 0, c, ldc, ep, a.data(), nullptr, pool, b};
  HWY_DYNAMIC_DISPATCH(detail::GemmRun)(p);
}

double measure_fma_peak_gflops(int repeats) {
  double best = 0;
  for (int r = 0; r < std::max(1, repeats); ++r)
    best = std::max(best, HWY_DYNAMIC_DISPATCH(detail::FmaPeakGflops)(int64_t{20} * 1000 * 1000 / 16 * 4));
  return best;
}

const char* gemm_f32_kernel_name() { return HWY_DYNAMIC_DISPATCH(detail::KernelName)(); }

}  // namespace edgeopt::kernels::gemm
#endif  // HWY_ONCE

// Packed, register-blocked fp32 GEMM (Highway, dynamic dispatch: AVX-512 / AVX2 / SSE4 / scalar).
//
//   C[M,N] = clamp(alpha * op(A)[M,K] * op(B)[K,N] + beta * C + row_bias[i] + col_bias[j], lo, hi)
//
//   gemm::gemm_f32(false, true, m, n, k, 1.f, x, k, w, k, 0.f, y, n,
//                  gemm::GemmEpilogue{.col_bias = b}.with_relu());       // y = relu(x w^T + b)
//   gemm::PackedMatrix pw = gemm::pack_b_f32(true, k, n, w, k);          // once: static weights
//   gemm::gemm_f32_packed_b(false, m, 1.f, x, k, pw, 0.f, y, n);        // per call
//
// Layout: row-major with leading dimensions (lda/ldb/ldc in elements, >= the row width).
// op(A) = A ([M,K], lda >= K) or A^T (A stored [K,M], lda >= M); likewise op(B) with ldb.
// beta == 0 means C is write-only (never read, so it may hold NaN/garbage).
// The epilogue (biases, clamp) is applied once, after the full K reduction, while the tile is in
// registers. ReLU = clamp(0, +inf), ReLU6 = clamp(0, 6).
//
// Threads: the work is split over M or N blocks of the pool (nullptr: default_pool()); the split
// depends only on the shape and the thread count, and every output element is reduced over K in
// the same order whatever the split, so results do not depend on the thread count.
// Called from inside a parallel_for chunk, it runs on the calling thread. Functions are thread-safe
// (scratch is per thread). Dimension/leading-dimension errors throw InvalidArgument.
#pragma once
#include <cstdint>
#include <limits>
#include <memory>

namespace edgeopt {
class ThreadPool;
}

namespace edgeopt::kernels::gemm {

struct GemmEpilogue {
  const float* row_bias = nullptr;  // [M]: added to every element of row i (conv: per channel)
  const float* col_bias = nullptr;  // [N]: added to every element of column j (FC layers)
  float clamp_min = -std::numeric_limits<float>::infinity();
  float clamp_max = std::numeric_limits<float>::infinity();

  GemmEpilogue with_relu() const { return with_clamp(0.f, std::numeric_limits<float>::infinity()); }
  GemmEpilogue with_relu6() const { return with_clamp(0.f, 6.f); }
  GemmEpilogue with_clamp(float lo, float hi) const {
    GemmEpilogue e = *this;
    e.clamp_min = lo;
    e.clamp_max = hi;
    return e;
  }
};

// op(A) or op(B) packed into the register tiles of the dispatched microkernel. Immutable after
// packing; share it freely between threads. Only valid in the process that packed it.
class PackedMatrix {
 public:
  PackedMatrix() = default;
  bool empty() const { return !data_; }
  int64_t rows() const { return rows_; }  // M for packed A, K for packed B
  int64_t cols() const { return cols_; }  // K for packed A, N for packed B
  bool is_a() const { return is_a_; }
  const float* data() const { return data_.get(); }
  int tile() const { return tile_; }      // MR (A) or NR (B) the panels were packed for
  size_t bytes() const { return floats_ * sizeof(float); }

 private:
  friend PackedMatrix pack_a_f32(bool, int64_t, int64_t, const float*, int64_t);
  friend PackedMatrix pack_b_f32(bool, int64_t, int64_t, const float*, int64_t);
  std::shared_ptr<float> data_;
  int64_t rows_ = 0, cols_ = 0;
  size_t floats_ = 0;
  int tile_ = 0;
  bool is_a_ = false;
};

void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
              int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc,
              const GemmEpilogue& ep = {}, ThreadPool* pool = nullptr);

// Packs op(B) ([K,N]) once, e.g. the weights of a Gemm/MatMul; reuse with gemm_f32_packed_b.
PackedMatrix pack_b_f32(bool trans_b, int64_t k, int64_t n, const float* b, int64_t ldb);
// Packs op(A) ([M,K]) once, e.g. the [OC, IC*KH*KW] weights of an NCHW convolution.
PackedMatrix pack_a_f32(bool trans_a, int64_t m, int64_t k, const float* a, int64_t lda);

// N and K come from the packed B.
void gemm_f32_packed_b(bool trans_a, int64_t m, float alpha, const float* a, int64_t lda, const PackedMatrix& b,
                       float beta, float* c, int64_t ldc, const GemmEpilogue& ep = {}, ThreadPool* pool = nullptr);
// M and K come from the packed A.
void gemm_f32_packed_a(const PackedMatrix& a, bool trans_b, int64_t n, float alpha, const float* b, int64_t ldb,
                       float beta, float* c, int64_t ldc, const GemmEpilogue& ep = {}, ThreadPool* pool = nullptr);

// Rows [m0, m1) of C = alpha A op(B) + beta C (+ epilogue, row_bias indexed by the absolute row), on
// the calling thread only: for callers that split the rows over their own threads. m0 must be a
// multiple of a.tile() (the panel height); `c` points at C's row m0. Each element is reduced
// exactly as gemm_f32_packed_a reduces it, so results do not depend on how the rows are split.
// `prefetch`/`prefetch_bytes`: optional, memory the caller reads next (the next product's weights),
// prefetched into L2 a few lines per tile while this product runs.
void gemm_f32_packed_a_rows(const PackedMatrix& a, int64_t m0, int64_t m1, bool trans_b, int64_t n, float alpha,
                            const float* b, int64_t ldb, float beta, float* c, int64_t ldc, const GemmEpilogue& ep = {},
                            const void* prefetch = nullptr, size_t prefetch_bytes = 0);

// B supplied by a packing callback instead of a stored matrix, so a B that is only a view of other
// data (an image's im2col) is never materialized: fn(ctx, p0, kc, j0, nc, nr, dst) writes
// op(B)[p0:p0+kc, j0:j0+nc] as NR-column panels, dst[q*nr*kc + k*nr + j] = op(B)[p0+k, j0+q*nr+j],
// zero past nc. It is called from the GEMM's threads concurrently with disjoint dst.
struct BPanelPacker {
  void (*fn)(const void* ctx, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int64_t nr, float* dst) = nullptr;
  const void* ctx = nullptr;
};
// M and K come from the packed A; op(B) is [K, n], produced by `b`. C = A op(B) + beta C (+ epilogue).
void gemm_f32_packed_a_packer(const PackedMatrix& a, int64_t n, const BPanelPacker& b, float beta, float* c,
                              int64_t ldc, const GemmEpilogue& ep = {}, ThreadPool* pool = nullptr);

// B read in place through row offsets ("indirect B"): op(B)[k, j] = b[b_row_offsets[k] + j] for
// k < K (a's columns), j < n. A conv over padded input planes passes one offset per (channel, tap),
// so the taps are read where they lie: no im2col. Only columns j < n of each row are read. With
// threads, N is split (each thread reads only its columns of B) whenever N has a tile per thread.
// Pointwise convs on planes of >= 28x28 pixels read X's channel planes this way; smaller ones pack
// (their short rows are reused from L1 by more output channels when packed).
// M and K come from the packed A; C = A op(B) + beta C (+ epilogue).
void gemm_f32_packed_a_indirect_b(const PackedMatrix& a, int64_t n, const float* b, const int64_t* b_row_offsets,
                                  float beta, float* c, int64_t ldc, const GemmEpilogue& ep = {},
                                  ThreadPool* pool = nullptr);
// The dispatched microkernel's column tile (NR: 48 on AVX-512).
int64_t gemm_f32_b_tile();
// A conv with the output pixels as the tile's rows and the channels as its columns (the "pixel-rows"
// form): no junk columns on small planes (7x7, 14x14) and any stride, since each pixel is read
// through its own offset. With K = C * taps and M output channels:
//   y[ch * ldy + n] = clamp(sum_k planes[pixel_offsets[n] + k_offsets[k]] * W[ch, k] + bias[ch]
//                           + residual[ch * ldy + n], lo, hi)           for n < npx, ch < M
// W comes packed once as pack_b_f32(true, K, M, W, K) (W^T in column panels). Reads whole vectors
// of W only; planes are read at exactly the given offsets.
struct PixelRowsConv {
  const PackedMatrix* w = nullptr;
  const float* planes = nullptr;
  const int64_t* pixel_offsets = nullptr;  // [npx]
  const int64_t* k_offsets = nullptr;      // [K]
  int64_t npx = 0;
  const float* bias = nullptr;      // [M] or null
  const float* residual = nullptr;  // laid out as y, or null
  float lo = -std::numeric_limits<float>::infinity(), hi = std::numeric_limits<float>::infinity();
  float* y = nullptr;
  int64_t ldy = 0;  // >= npx
};
void conv_f32_pixel_rows(const PixelRowsConv& p, ThreadPool* pool = nullptr);
// This core's measured fp32 FMA throughput in GFLOP/s (best of `repeats` runs of ~10 ms of
// independent vector FMAs on the dispatched target, timed on the thread's CPU clock): the
// denominator of "% of peak" in benchmarks and the host profile.
double measure_fma_peak_gflops(int repeats = 5);

// The dispatched microkernel's tile and target ("AVX3 8x48"), for benchmarks and logs.
const char* gemm_f32_kernel_name();

}  // namespace edgeopt::kernels::gemm

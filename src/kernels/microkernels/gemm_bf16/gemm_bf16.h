// Packed bf16 GEMM with f32 accumulation, dispatched at run time to AVX512-BF16 (vdpbf16ps) or
// portable scalar code (same packed bf16 inputs, f32 accumulation).
//
//   C[M,N] = clamp(A[M,K] B[K,N] (+ C when accumulate) + row_bias[i] + col_bias[j], lo, hi)
//
//   PackedBf16 w = pack_a_bf16(m, k, weights, k);                 // once: conv weights [M, K]
//   PackedBf16 x = pack_b_bf16(k, n, im2col, n, false);           // per call
//   gemm_bf16_packed(w, x, y, n, gemm::GemmEpilogue{.row_bias = b}.with_relu());
//
// A and B are rounded to bf16 (round to nearest even, core/dtype.h f32_to_bf16) when packed; the
// products of two bf16 are exact in f32 and are summed in f32 (vdpbf16ps: lane i += a[2i] b[2i] +
// a[2i+1] b[2i+1], flushing denormals), so the result differs from an f32 GEMM by the input
// rounding (~2^-9 relative per operand) and from the scalar path by the f32 summation order only.
//
// Packing: A in blocks of kMr rows, B in panels of kNr columns, both with K padded to even with a
// zero; a K-pair (k, k+1) of one row (A) or column (B) is one 32-bit word, so the kernel broadcasts
// one word per A row and loads three zmm of B per pair. One format for both paths.
//
// Threads: the (row block, column panel) tiles are split over the pool (nullptr: the calling thread);
// each output element is reduced over K in the same order whatever the split, so results do not
// depend on the thread count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "kernels/microkernels/gemm/gemm.h"  // GemmEpilogue

namespace edgeopt {
class ThreadPool;
}

namespace edgeopt::kernels::gemm_bf16 {

inline constexpr int64_t kMr = 8;   // rows of a register tile (one broadcast each per K-pair)
inline constexpr int64_t kNr = 48;  // columns of a register tile (three zmm of f32)

enum class Isa { kScalar, kAvx512Bf16 };
const char* isa_name(Isa isa);  // "scalar", "avx512bf16"
// True when this CPU has AVX512-BF16 (with AVX512 F/BW/VL): the fast path, and the condition under
// which the runtime turns bf16 compute on by itself (runtime/passes use_bf16_compute).
bool bf16_compute_supported();
// kAvx512Bf16 where supported, unless EDGEOPT_BF16_ISA=scalar.
Isa default_isa();

inline int64_t padded_k(int64_t k) { return (k + 1) / 2 * 2; }

// A ([M, K], row blocks) or B ([K, N], column panels) in the kernel's layout. Immutable once packed
// except through the pack_*_into functions, which reuse its storage (per-run packing without an
// allocation per call).
class PackedBf16 {
 public:
  PackedBf16() = default;
  bool empty() const { return !data_; }
  int64_t rows() const { return rows_; }  // M for A, K for B
  int64_t cols() const { return cols_; }  // K for A, N for B
  bool is_a() const { return is_a_; }
  const uint16_t* data() const { return data_.get(); }
  uint16_t* mutable_data() { return data_.get(); }
  size_t bytes() const { return elems_ * sizeof(uint16_t); }
  // Sets the shape and grows the storage to hold it (contents unspecified).
  void reshape(bool is_a, int64_t rows, int64_t cols);

 private:
  std::shared_ptr<uint16_t> data_;
  size_t elems_ = 0, capacity_ = 0;
  int64_t rows_ = 0, cols_ = 0;
  bool is_a_ = false;
};

// A [m, k] row-major (lda >= k), f32 rounded to bf16 or raw bf16 bits.
PackedBf16 pack_a_bf16(int64_t m, int64_t k, const float* a, int64_t lda);
PackedBf16 pack_a_bf16(int64_t m, int64_t k, const uint16_t* a, int64_t lda);
void pack_a_bf16_into(PackedBf16& dst, int64_t m, int64_t k, const float* a, int64_t lda);
// The transposed producer: after dst.reshape(true, m, k), writes K-pair q of every row block from
// columns 2q (c0) and 2q + 1 (c1; null when 2q + 1 == k) of A, m floats each (A^T's rows: a conv's
// im2col rows when the output pixels are the GEMM's rows). Same bits as pack_a_bf16_into.
void pack_a_bf16_pair(PackedBf16& dst, int64_t q, const float* c0, const float* c1);
// B [k, n] row-major (ldb >= n), or with trans_b B stored as [n, k] (ldb >= k), f32 rounded to bf16.
PackedBf16 pack_b_bf16(int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b);
void pack_b_bf16_into(PackedBf16& dst, int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b);
// For producers that make B two rows at a time (a conv's im2col, kept in L1 instead of a whole
// col matrix): after dst.reshape(false, k, n), writes K-pair q of every panel from B's rows 2q (r0)
// and 2q + 1 (r1; null when 2q + 1 == k), n floats each. Same bits as pack_b_bf16_into.
void pack_b_bf16_pair(PackedBf16& dst, int64_t q, const float* r0, const float* r1);

// C (row-major, ldc >= N) from a packed A [M, K] and packed B [K, N]; accumulate: C holds an addend
// (e.g. a residual) that the sum starts from, else C is write-only. Throws InvalidArgument when
// the operands do not fit (a is not an A, K differs).
void gemm_bf16_packed(const PackedBf16& a, const PackedBf16& b, float* c, int64_t ldc,
                      const gemm::GemmEpilogue& ep = {}, ThreadPool* pool = nullptr, bool accumulate = false,
                      Isa isa = default_isa());

}  // namespace edgeopt::kernels::gemm_bf16

// Internal to the GEMM: the problem description passed to the per-target implementation.
#pragma once
#include <cstddef>
#include <cstdint>

#include "kernels/microkernels/gemm/gemm.h"

namespace edgeopt::kernels::gemm::detail {

struct GemmProblem {
  bool trans_a = false, trans_b = false;
  int64_t m = 0, n = 0, k = 0;
  float alpha = 1.f, beta = 0.f;
  const float* a = nullptr;
  int64_t lda = 0;
  const float* b = nullptr;
  int64_t ldb = 0;
  float* c = nullptr;
  int64_t ldc = 0;
  GemmEpilogue ep;
  const float* packed_a = nullptr;  // whole op(A) in pack_a_f32 layout, or null
  const float* packed_b = nullptr;  // whole op(B) in pack_b_f32 layout, or null
  ThreadPool* pool = nullptr;
  BPanelPacker b_packer;            // when set: B blocks come from this callback (b is unused)
  const int64_t* b_row_offsets = nullptr;  // when set: op(B)[k, j] = b[b_row_offsets[k] + j], read in place
  // rows_end >= 0: compute only C rows [rows_begin, rows_end) on the calling thread, with `c`
  // pointing at row rows_begin (gemm_f32_packed_a_rows).
  int64_t rows_begin = 0, rows_end = -1;
  // Optional: bytes the caller reads next (the next product's packed A), prefetched into L2 a few
  // lines per tile while this product runs, so memory loads overlap its FMAs.
  const char* prefetch = nullptr;
  int64_t prefetch_bytes = 0;
};

// Per-thread scratch: slot 0 for A panels, 1 for B panels; grows, never shrinks; 64-byte aligned.
float* thread_scratch(int slot, size_t floats);

}  // namespace edgeopt::kernels::gemm::detail

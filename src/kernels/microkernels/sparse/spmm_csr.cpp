#include "kernels/microkernels/sparse/spmm_csr.h"

#include <algorithm>

#include "core/thread_pool.h"

namespace edgeopt::kernels::microkernels {

CsrMatrixF32 csr_from_dense_f32(const float* dense, int64_t rows, int64_t cols) {
  CsrMatrixF32 m;
  m.rows = rows;
  m.cols = cols;
  m.row_ptr.reserve(static_cast<size_t>(rows) + 1);
  m.row_ptr.push_back(0);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) {
      const float v = dense[r * cols + k];
      if (v != 0.f) {
        m.values.push_back(v);
        m.col_idx.push_back(static_cast<int32_t>(k));
      }
    }
    m.row_ptr.push_back(static_cast<int32_t>(m.values.size()));
  }
  return m;
}

namespace {

void axpy_f32(float a, const float* __restrict x, float* __restrict y, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] += a * x[j];
}

void spmm_rows(const CsrViewF32& w, const float* b, int64_t n, const float* bias, float lo, float hi, float* c,
               int64_t r0, int64_t r1) {
  for (int64_t r = r0; r < r1; ++r) {
    float* cr = c + r * n;
    std::fill(cr, cr + n, bias ? bias[r] : 0.f);
    for (int32_t p = w.row_ptr[r]; p < w.row_ptr[r + 1]; ++p) axpy_f32(w.values[p], b + int64_t{w.col_idx[p]} * n, cr, n);
    for (int64_t j = 0; j < n; ++j) cr[j] = std::min(std::max(cr[j], lo), hi);
  }
}

}  // namespace

void spmm_csr_f32(const CsrViewF32& w, const float* b, int64_t n, const float* bias, float lo, float hi, float* c) {
  // Parallel only when each thread gets real work; below that the hand-off costs more than it saves.
  const int64_t work = (w.rows > 0 ? w.row_ptr[w.rows] : 0) * n;
  if (work < (int64_t{1} << 15) || num_threads() <= 1) {
    spmm_rows(w, b, n, bias, lo, hi, c, 0, w.rows);
    return;
  }
  parallel_for(w.rows, [&](int64_t r0, int64_t r1) { spmm_rows(w, b, n, bias, lo, hi, c, r0, r1); });
}

void spmv_csr_f32(const CsrViewF32& w, const float* x, const float* bias, float lo, float hi, float* y) {
  for (int64_t r = 0; r < w.rows; ++r) {
    // Four partial sums break the dependency chain of one running sum.
    float s0 = 0.f, s1 = 0.f, s2 = 0.f, s3 = 0.f;
    int32_t p = w.row_ptr[r];
    const int32_t e = w.row_ptr[r + 1];
    for (; p + 4 <= e; p += 4) {
      s0 += w.values[p] * x[w.col_idx[p]];
      s1 += w.values[p + 1] * x[w.col_idx[p + 1]];
      s2 += w.values[p + 2] * x[w.col_idx[p + 2]];
      s3 += w.values[p + 3] * x[w.col_idx[p + 3]];
    }
    for (; p < e; ++p) s0 += w.values[p] * x[w.col_idx[p]];
    const float v = (s0 + s1) + (s2 + s3) + (bias ? bias[r] : 0.f);
    y[r] = std::min(std::max(v, lo), hi);
  }
}

}  // namespace edgeopt::kernels::microkernels

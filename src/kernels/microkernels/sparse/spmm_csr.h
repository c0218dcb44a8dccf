// Sparse (CSR) x dense matrix products for pruned weights: only the non-zeros are stored and
// multiplied, so at high sparsity the work shrinks with the density.
//
//   CsrMatrixF32 w = csr_from_dense_f32(dense, rows, cols);     // drop exact zeros
//   spmm_csr_f32(w.view(), b, n, bias, lo, hi, c);              // C[rows, n] = W @ B + bias, clamped
//
// Layout: values[nnz] (f32), col_idx[nnz] and row_ptr[rows + 1] (int32, row_ptr[0] = 0, increasing).
// The inner loop is an axpy over a dense row of B (C[r, :] += v * B[col, :]), which the compiler
// vectorizes; rows are split across the default thread pool. spmv_csr_f32 is the n == 1 case
// written as gathered dot products (one output per row).
#pragma once
#include <cstdint>
#include <vector>

namespace edgeopt::kernels::microkernels {

struct CsrViewF32 {
  int64_t rows = 0, cols = 0;
  const float* values = nullptr;
  const int32_t* col_idx = nullptr;
  const int32_t* row_ptr = nullptr;
};

struct CsrMatrixF32 {
  int64_t rows = 0, cols = 0;
  std::vector<float> values;
  std::vector<int32_t> col_idx, row_ptr;
  CsrViewF32 view() const { return {rows, cols, values.data(), col_idx.data(), row_ptr.data()}; }
};

// Keeps the entries of a row-major dense [rows, cols] matrix that are not exactly zero.
CsrMatrixF32 csr_from_dense_f32(const float* dense, int64_t rows, int64_t cols);

// C[rows, n] (row stride n) = W[rows, cols] @ B[cols, n] (row stride n) + bias[r] (bias may be
// null), then clamped to [lo, hi]. C must not alias B.
void spmm_csr_f32(const CsrViewF32& w, const float* b, int64_t n, const float* bias, float lo, float hi, float* c);

// y[rows] = W @ x[cols] + bias, clamped.
void spmv_csr_f32(const CsrViewF32& w, const float* x, const float* bias, float lo, float hi, float* y);

}  // namespace edgeopt::kernels::microkernels

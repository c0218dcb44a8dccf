// The integer matrix product shared by QLinearMatMul and MatMulInteger: validation, the s32
// reference (the oracle) and the fast path (B packed once, gemm_int8).
//
//   acc[..., i, j] = bias[j] + sum_k (a[..., i, k] - za) * (b[..., k, j] - zb[j])     (s32, wrapping)
//
// Shapes: a [..., M, K] (rank >= 2); b [K, N], or [..., K, N] with a's batch dims. zb is a scalar
// or [N] (per output column); za a scalar.
#pragma once
#include <memory>
#include <vector>

#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::qlinear_matmul {

struct MatMulInt8Inputs {
  const Tensor* a = nullptr;
  int32_t a_zp = 0;
  const Tensor* b = nullptr;
  std::vector<int32_t> b_zp;     // 1 or N values
  const Tensor* bias = nullptr;  // i32 [N] or null
  int64_t batch = 1, m = 0, k = 0, n = 0;
  bool b_batched = false;
  std::vector<int64_t> y_dims;
  int32_t b_zp_of(int64_t j) const { return b_zp.size() == 1 ? b_zp[0] : b_zp[static_cast<size_t>(j)]; }
};

MatMulInt8Inputs read_matmul_int8_inputs(const Tensor& a, const Tensor& a_zp, const Tensor& b, const Tensor& b_zp,
                                         const Tensor* bias, const char* a_zp_name, const char* b_zp_name);

Tensor matmul_int8_acc_ref(const MatMulInt8Inputs& in);

// Packs a constant 2-D B once (null when the fast path cannot use it).
std::shared_ptr<const OpState> matmul_int8_prepare(const Tensor& b, const Tensor& b_zp);

// The fast product into y (ep.out; multiplier/shift per column, bias set here). False, writing
// nothing, when it does not apply: B must be 2-D with a zero point of 0 (i8) or 128 (u8).
bool matmul_int8_fast(const MatMulInt8Inputs& in, const OpState* state, gemm_int8::Epilogue ep, void* y);

}  // namespace edgeopt::kernels::ops::qlinear_matmul

// SparseConv and SparseGemm: Conv (group 1) and Gemm whose constant weight is stored in CSR form
// (kernels/microkernels/sparse/spmm_csr.h). They are edgeopt-internal ops that only the runtime's
// use_sparse_weights pass creates (on the Session's private graph, where pruning made the weight
// sparse enough to beat the dense kernel); they are never exported to ONNX.
//
//   SparseConv(X, values, col_idx, row_ptr[, B]) -> Y
//     = Conv(X, W, B) with W[M, C*prod(kernel)] given in CSR; attributes as Conv (kernel_shape,
//       strides, pads, dilations, auto_pad; group must be 1) plus weight_shape = W's dense shape.
//   SparseGemm(A, values, col_idx, row_ptr[, bias]) -> Y[M, N]
//     = A[M, K] @ W^T + bias, W[N, K] in CSR (the rows of op(B)^T), bias [N] or absent;
//       attribute weight_shape = [N, K].
// Both apply a fused activation (activation/activation_min/activation_max) like Conv and Gemm.
// The dense Conv/Gemm reference is their oracle (sparse_test.cpp).
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::sparse {

void sparse_conv_f32(ForwardCtx& ctx);
void sparse_gemm_f32(ForwardCtx& ctx);
int64_t sparse_conv_macs(const Node& node, std::span<const Shape> in, std::span<const Shape> out);
int64_t sparse_gemm_macs(const Node& node, std::span<const Shape> in, std::span<const Shape> out);

}  // namespace edgeopt::kernels::ops::sparse

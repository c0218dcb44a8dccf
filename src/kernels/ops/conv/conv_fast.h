// Fast NCHW f32 Conv (forward and backward) through the packed GEMM and the direct depthwise
// kernel; the reference in conv.cpp stays the oracle (conv_fast_test.cpp compares them).
//
//   forward:  Y_ng = W_g [M/g, C/g*k] @ im2col(X_ng)  (+ B as a per-row GEMM epilogue)
//             1x1/stride-1/no-pad kernels skip im2col (X_ng is already the [C/g, HW] matrix);
//             depthwise 2-D (C/group == 1) uses dwconv2d_f32_plane instead of a K=9 GEMM.
//   backward: dW_g += dY_ng @ im2col(X_ng)^T,  dX_ng = col2im(W_g^T @ dY_ng),  dB = sum dY.
// Images are split over the thread pool; dW/dB partial sums per chunk are added in chunk order,
// so gradients are deterministic for a given thread count.
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::conv {

void conv_f32_nchw_fast(ForwardCtx& ctx);
// Packs constant weights once (null for depthwise or non-constant weights).
std::shared_ptr<const OpState> conv_f32_nchw_prepare(const PrepareCtx& ctx);
void conv_f32_nchw_grad_fast(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::conv

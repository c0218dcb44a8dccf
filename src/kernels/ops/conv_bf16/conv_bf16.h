// ConvBf16: Conv computed in bf16 with f32 accumulation (the AVX512-BF16 GEMM,
// kernels/microkernels/gemm_bf16). An edgeopt-internal op that only the runtime's use_bf16_compute
// pass creates, on the Session's private graph; never exported to ONNX.
//
//   ConvBf16(X, W[, B[, R]]) -> Y = act(Conv(bf16(X), bf16(W)) + B + R)
//
// Inputs and attributes as Conv after the session's fusions (kernel_shape, strides, pads,
// dilations, auto_pad; the fused activation/activation_min/activation_max; the residual R that
// fuse_conv_residual_add appends as a 4th input), all f32; group must be 1 (depthwise convs stay
// fp32: a K of 9 has nothing to gain from pairs). X and W are rounded to bf16 (round to nearest
// even); B, R and the sums stay f32. The reference rounds its inputs and runs the fp32 Conv
// reference; the fast kernel packs W once (prepare) and im2col(X) (X itself for 1x1 stride-1
// pad-0) per image.
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::conv_bf16 {

void conv_bf16_fast(ForwardCtx& ctx);
std::shared_ptr<const OpState> conv_bf16_prepare(const PrepareCtx& ctx);

}  // namespace edgeopt::kernels::ops::conv_bf16

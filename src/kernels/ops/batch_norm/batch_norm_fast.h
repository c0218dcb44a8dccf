// Fast BatchNormalization (NCHW f32, spatial): inference folds each channel into one scale/shift
// (y = (x - mu_c) * a_c + b_c, vectorized); training takes the batch mean and variance in one
// pass over X (per plane: the sum, then the squared deviations from the plane mean while the
// plane is in cache; planes combined per channel in double with Chan's formula, so the variance
// is never a difference of large sums), then the same affine pass.
// Running-stat and saved-stat outputs and ctx.saved (mu, istd) are as the reference. The backward
// takes per-plane sums of dY and dY*(X - mu), then dX = a*dY + b + k*(X - mu) per channel.
// Planes (n, c) are split over the thread pool. opset < 9 spatial=0 runs the reference.
#pragma once
#include <span>

#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::batch_norm {

void batch_norm_f32_nchw_fast(ForwardCtx& ctx);
void batch_norm_f32_grad_fast(BackwardCtx& ctx);

// Shared with the reference (batch_norm.cpp), which stays the oracle and the fallback.
struct BnDims {
  int64_t n = 0, c = 0, inner = 0;  // X viewed as [n, c, inner]
  Shape param;
  bool spatial = true;
};
// Validates X and the four [C] parameters; throws InvalidArgument.
BnDims bn_dims(const Node& node, const Shape& x, std::span<const Tensor> in, int64_t opset);
// Whether the forward normalizes with batch statistics (training) or the running ones.
bool uses_batch_stats(const ForwardCtx& ctx);
void batch_norm_f32_nchw_ref(ForwardCtx& ctx);
void batch_norm_f32_grad(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::batch_norm

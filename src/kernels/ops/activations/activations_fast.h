// Fast pointwise activations (forward and backward): Highway-vectorized with dynamic dispatch and
// split over the thread pool; activations.cpp's reference kernels stay the oracle
// (activations_fast_test.cpp). Same formulas as the reference; Sigmoid uses the sign-split form
// exp(-|x|) so it never overflows, Tanh is Highway's expm1-based tanh (a few ulp).
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops {
namespace leaky_relu {
void leaky_relu_f32_fast(ForwardCtx& ctx);
void leaky_relu_f32_grad_fast(BackwardCtx& ctx);
}  // namespace leaky_relu
namespace sigmoid {
void sigmoid_f32_fast(ForwardCtx& ctx);
void sigmoid_f32_grad_fast(BackwardCtx& ctx);
}  // namespace sigmoid
namespace tanh {
void tanh_f32_fast(ForwardCtx& ctx);
void tanh_f32_grad_fast(BackwardCtx& ctx);
}  // namespace tanh
namespace hard_sigmoid {
void hard_sigmoid_f32_fast(ForwardCtx& ctx);
void hard_sigmoid_f32_grad_fast(BackwardCtx& ctx);
}  // namespace hard_sigmoid
namespace hard_swish {
void hard_swish_f32_fast(ForwardCtx& ctx);
void hard_swish_f32_grad_fast(BackwardCtx& ctx);
}  // namespace hard_swish
}  // namespace edgeopt::kernels::ops

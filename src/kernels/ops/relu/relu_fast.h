// Fast Relu forward/backward: Highway-vectorized (dynamic dispatch), split over the thread pool in
// large contiguous chunks; relu.cpp's reference stays the oracle (relu_fast_test.cpp).
//   y = max(x, 0);   dx = x > 0 ? dy : 0
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::relu {

void relu_f32_fast(ForwardCtx& ctx);
void relu_f32_grad_fast(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::relu

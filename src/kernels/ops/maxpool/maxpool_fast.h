// Fast MaxPool (NCHW f32, 1-D and 2-D windows; other cases run the reference): direct loops over
// each output's clipped window, planes split over the thread pool, the full-window 2x2 and 3x3
// cases unrolled. Same tie/NaN rule as the reference (a later tap wins only when strictly greater).
// In training the forward saves each output's argmax (i32, position within its plane) so the
// backward routes dY without recomputing it: dX[argmax] += dY.
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::maxpool {

void maxpool_fast(ForwardCtx& ctx);
void maxpool_f32_grad_fast(BackwardCtx& ctx);

// The reference kernels (maxpool.cpp): the oracle and the fallback.
void maxpool_ref(ForwardCtx& ctx);
void maxpool_f32_grad(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::maxpool

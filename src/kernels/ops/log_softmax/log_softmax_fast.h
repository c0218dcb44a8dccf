// Fast LogSoftmax over the innermost axis (inner == 1 in softmax.h's layout; other layouts run
// the reference): Highway-vectorized rows (max, sum of exp, log once per row), rows split over
// the thread pool. Gradient: dX = dY - exp(Y) * sum(dY) per row.
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::log_softmax {

void log_softmax_f32_fast(ForwardCtx& ctx);
void log_softmax_f32_grad_fast(BackwardCtx& ctx);

// The reference (log_softmax.cpp), the oracle and the fallback.
void log_softmax_f32_ref(ForwardCtx& ctx);
void log_softmax_f32_grad(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::log_softmax

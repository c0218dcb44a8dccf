// Fast Clip over f32 (other dtypes run the reference): Highway-vectorized clamp and its gradient,
// split over the thread pool. Same bound resolution as the reference (inputs 1/2, else the
// min/max attributes, else the dtype's limits) and the same rule for lo > hi (y = hi).
// Gradient: dx = dy inside [lo, hi]; the bound inputs get the sums of dy over the elements each
// one clamped (per-chunk partial sums added in chunk order).
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::clip {

void clip_fast(ForwardCtx& ctx);
void clip_f32_grad_fast(BackwardCtx& ctx);

// Shared with the reference (clip.cpp), the oracle and the fallback.
// Input i (1 = min, 2 = max) when present, validated (a scalar of X's dtype); else null.
const Tensor* bound_input(const ForwardCtx& ctx, size_t i);
void clip_any_ref(ForwardCtx& ctx);
void clip_f32_grad(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::clip

// Fast GlobalAveragePool (f32): one vectorized sum per (n, c) plane (f32 lanes per 4096-element
// block, blocks added in double), planes split over the thread pool; the backward broadcasts
// dY / count back over each plane. global_average_pool.cpp's reference stays the oracle.
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::global_average_pool {

void global_average_pool_f32_fast(ForwardCtx& ctx);
void global_average_pool_f32_grad_fast(BackwardCtx& ctx);

// The reference (global_average_pool.cpp).
void global_average_pool_f32_ref(ForwardCtx& ctx);
void global_average_pool_f32_grad(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::global_average_pool

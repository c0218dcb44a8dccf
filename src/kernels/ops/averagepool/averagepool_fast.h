// Fast AveragePool (NCHW f32, 1-D and 2-D windows; 3-D runs the reference): direct loops over each
// output's clipped window (the taps in the reference's order, so the sums match it), planes split
// over the thread pool. Divisors as the reference (count_include_pad, ceil-mode overhang).
// Gradient: dX[tap] += dY[o] / count(o).
#pragma once
#include <vector>

#include "kernels/op_def.h"
#include "kernels/ops/conv/conv_geometry.h"

namespace edgeopt::kernels::ops::averagepool {

void averagepool_f32_nchw_fast(ForwardCtx& ctx);
void averagepool_f32_grad_fast(BackwardCtx& ctx);

// Shared with the reference (averagepool.cpp), the oracle and the fallback.
// count(o) for every output position of one plane; validates count_include_pad.
std::vector<float> averagepool_divisors(const Node& node, const conv::Window& w);
void averagepool_f32_nchw_ref(ForwardCtx& ctx);
void averagepool_f32_grad(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::averagepool

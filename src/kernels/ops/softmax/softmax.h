// Axis layout shared by Softmax and LogSoftmax: X viewed as [outer, n, inner], normalized over n.
//
//   SoftmaxLayout l = softmax_layout(node, x.shape(), ctx.opset);
//   // element (o, j, i) lives at x[(o * l.n + j) * l.inner + i]
//
// Opset < 13 coerces X to 2-D at `axis` (default 1): outer = prod(dims[:axis]), n = prod(dims[axis:]),
// inner = 1. Opset >= 13 normalizes along the single dim `axis` (default -1).
// The backward has no opset, so the training forward saves the layout (saved[0], i64 [3]) and the
// backward reads it back, falling back to the opset >= 13 rule when nothing was saved.
#pragma once
#include <span>

#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::softmax {

struct SoftmaxLayout {
  int64_t outer = 1, n = 1, inner = 1;
};

// Throws InvalidArgument when axis is out of range for X's rank.
SoftmaxLayout softmax_layout(const Node& node, const Shape& x, int64_t opset);
Tensor softmax_layout_to_tensor(const SoftmaxLayout& l);
SoftmaxLayout softmax_layout_for_backward(const Node& node, const Shape& x, std::span<const Tensor> saved);

// Reference kernels (softmax.cpp), the oracle and the fallback of the fast ones.
void softmax_f32_ref(ForwardCtx& ctx);
void softmax_f32_grad(BackwardCtx& ctx);
// Fast kernels (softmax_fast.cpp): Highway-vectorized rows when the axis is the innermost one
// (inner == 1), rows split over the thread pool; other layouts run the reference.
void softmax_f32_fast(ForwardCtx& ctx);
void softmax_f32_grad_fast(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::softmax

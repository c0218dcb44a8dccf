// Small helpers shared by reference kernels: output allocation, broadcasting, unary maps.
// Kept deliberately plain: the reference kernels are the oracle, clarity beats speed here.
#pragma once
#include <functional>
#include <string>

#include "kernels/op_def.h"

namespace edgeopt::kernels {

// Allocates ctx.out[i] (if the node names that output) and returns it.
Tensor& alloc_output(ForwardCtx& ctx, size_t i, DType dtype, Shape shape);

// Input i or throws InvalidArgument("input <i> '<name>' is required").
const Tensor& required_input(const ForwardCtx& ctx, size_t i);
// Throws InvalidArgument naming the input when its dtype is not f32.
void require_f32(const ForwardCtx& ctx, size_t i);

// For each element of the broadcast output shape, the flat index into a and b.
// out_shape must be broadcast_shapes(a, b).
struct BroadcastIndex {
  BroadcastIndex(const Shape& a, const Shape& b, const Shape& out);
  std::vector<int64_t> a_index, b_index;  // one per output element
};

// Sums a gradient of shape `grad.shape()` (the broadcast output) down to `target` (an operand's
// shape), the reverse of broadcasting.
Tensor reduce_to_shape_f32(const Tensor& grad, const Shape& target);

// out[i] = f(x[i]) over f32.
Tensor unary_f32(const Tensor& x, const std::function<float(float)>& f);

}  // namespace edgeopt::kernels

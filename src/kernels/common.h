// Small helpers shared by reference kernels: output allocation, broadcasting, unary maps.
// Kept deliberately plain: the reference kernels are the oracle, clarity beats speed here.
#pragma once
#include <functional>
#include <limits>
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

// out[i] = f(x[i]) over f32 (a template so f inlines: this is the hot loop of every activation).
template <typename F>
Tensor unary_f32(const Tensor& x, F f) {
  Tensor y(DType::kF32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const int64_t n = x.numel();
  for (int64_t i = 0; i < n; ++i) py[i] = f(px[i]);
  return y;
}

// An activation fused into a Conv/Gemm node by the runtime's fuse_conv_gemm_activation pass (an
// edgeopt-internal attribute, never exported): `activation` = "Relu" gives clamp(y, 0, +inf),
// "Clip" gives clamp(y, activation_min, activation_max). {-inf, +inf} when the node has none.
struct FusedActivation {
  float lo = -std::numeric_limits<float>::infinity();
  float hi = std::numeric_limits<float>::infinity();
  bool any() const { return lo != -std::numeric_limits<float>::infinity() || hi != std::numeric_limits<float>::infinity(); }
};
inline FusedActivation fused_activation(const Node& node) {
  FusedActivation a;
  if (!node.has_attr("activation")) return a;
  const std::string kind = node.attr_string("activation", "");
  if (kind == "Relu") {
    a.lo = 0.f;
  } else if (kind == "Clip") {
    a.lo = node.attr_float("activation_min", a.lo);
    a.hi = node.attr_float("activation_max", a.hi);
  } else {
    throw_error(ErrorCode::kInvalidArgument, "attribute activation is '" + kind + "', expected 'Relu' or 'Clip'");
  }
  return a;
}

}  // namespace edgeopt::kernels

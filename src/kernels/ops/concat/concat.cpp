// Concat: joins the inputs along `axis` (negative from opset 11); all other dims must match.
// https://onnx.ai/onnx/operators/onnx__Concat.html
// Viewed as [outer, d_i * inner] blocks: output row o is the concatenation of every input's row o.
// Any dtype (bytes are copied). Gradient: dy cut back into each input's slab along `axis`.
#include <cstring>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::concat {
namespace {

// outer = prod(dims before axis), inner = prod(dims after axis).
void outer_inner(const Shape& s, size_t axis, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (size_t i = 0; i < s.rank(); ++i)
    if (i < axis)
      outer *= s[i];
    else if (i > axis)
      inner *= s[i];
}

void concat_ref(ForwardCtx& ctx) {
  EDGEOPT_CHECK_ARG(!ctx.in.empty(), "Concat needs at least one input");
  const Tensor& first = required_input(ctx, 0);
  EDGEOPT_CHECK_ARG(ctx.node.has_attr("axis"), "attribute 'axis' is required");
  EDGEOPT_CHECK_ARG(first.rank() > 0, "cannot concatenate scalars (input 0 is " + first.describe() + ")");
  const int64_t axis_attr = ctx.node.attr_int("axis", 0);
  const size_t axis = first.shape().normalize_axis(axis_attr);
  Shape out_shape = first.shape();
  out_shape[axis] = 0;
  for (size_t i = 0; i < ctx.in.size(); ++i) {
    const Tensor& t = required_input(ctx, i);
    bool ok = t.dtype() == first.dtype() && t.rank() == first.rank();
    for (size_t d = 0; ok && d < t.rank(); ++d) ok = d == axis || t.shape()[d] == first.shape()[d];
    EDGEOPT_CHECK_ARG(ok, "input " + std::to_string(i) + " is " + t.describe() + " but input 0 is " + first.describe() +
                              "; all dtypes and all dims except axis=" + std::to_string(axis_attr) + " must match");
    out_shape[axis] += t.shape()[axis];
  }
  Tensor& y = alloc_output(ctx, 0, first.dtype(), out_shape);
  const size_t es = dtype_size(first.dtype());
  int64_t outer, inner;
  outer_inner(out_shape, axis, outer, inner);
  const int64_t out_row = out_shape[axis] * inner;
  auto* dst = static_cast<uint8_t*>(y.raw());
  int64_t col = 0;  // where this input's slab starts inside an output row, in elements
  for (const Tensor& t : ctx.in) {
    const int64_t row = t.shape()[axis] * inner;
    const auto* src = static_cast<const uint8_t*>(t.raw());
    for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + (o * out_row + col) * es, src + o * row * es, row * es);
    col += row;
  }
}

void concat_grad(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || ctx.in[0].dtype() != DType::kF32) return;
  const Tensor& dy = ctx.grad_out[0];
  const size_t axis = ctx.in[0].shape().normalize_axis(ctx.node.attr_int("axis", 0));
  int64_t outer, inner;
  outer_inner(dy.shape(), axis, outer, inner);
  const int64_t out_row = dy.shape()[axis] * inner;
  int64_t col = 0;
  for (size_t i = 0; i < ctx.in.size(); ++i) {
    Tensor g(DType::kF32, ctx.in[i].shape());
    const int64_t row = ctx.in[i].shape()[axis] * inner;
    for (int64_t o = 0; o < outer; ++o)
      std::memcpy(g.data<float>() + o * row, dy.data<float>() + o * out_row + col, row * sizeof(float));
    col += row;
    ctx.grad_in[i] = g;
  }
}

}  // namespace

extern const OpDef kOpDef{
    .name = "Concat", .min_opset = 4, .max_opset = 18, .forward = concat_ref, .backward = concat_grad};

}  // namespace edgeopt::kernels::ops::concat

// Flatten: x of rank r -> [prod(d[0:axis]), prod(d[axis:r])], axis in [-r, r] (negative from
// opset 11; default 1). https://onnx.ai/onnx/operators/onnx__Flatten.html
// Any dtype: the bytes are copied unchanged. Gradient: dy reshaped back to x's shape.
#include "kernels/common.h"

namespace edgeopt::kernels::ops::flatten {
namespace {

void flatten_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const int64_t r = static_cast<int64_t>(x.rank());
  int64_t axis = ctx.node.attr_int("axis", 1);
  EDGEOPT_CHECK_ARG(axis >= -r && axis <= r, "axis=" + std::to_string(axis) + " is out of range [" +
                                                 std::to_string(-r) + ", " + std::to_string(r) + "] for input " +
                                                 x.describe());
  if (axis < 0) axis += r;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < r; ++i) (i < axis ? outer : inner) *= x.shape()[i];
  ctx.out[0] = x.clone().reshaped(Shape{outer, inner});
}

void flatten_grad(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || ctx.in[0].dtype() != DType::kF32) return;
  ctx.grad_in[0] = ctx.grad_out[0].clone().reshaped(ctx.in[0].shape());
}

}  // namespace

extern const OpDef kOpDef{
    .name = "Flatten", .min_opset = 1, .max_opset = 18, .forward = flatten_ref, .backward = flatten_grad};

}  // namespace edgeopt::kernels::ops::flatten

// Squeeze / Unsqueeze: remove / insert dims of size 1; the data is unchanged (any dtype).
// https://onnx.ai/onnx/operators/onnx__Squeeze.html, https://onnx.ai/onnx/operators/onnx__Unsqueeze.html
// `axes` is an attribute in opsets 1-12 and input 1 (int64) from 13.
//   Squeeze: axes index the input (negative from opset 11) and must name size-1 dims; absent (or
//            empty) axes remove every size-1 dim.
//   Unsqueeze: axes index the output (rank r + len(axes)), are required and may not repeat.
// Gradient of both: dy reshaped back to x's shape.
#include "kernels/common.h"

namespace edgeopt::kernels::ops {
namespace squeeze_common {
namespace {

// Axes from input 1 or the attribute; `present` tells whether either was given.
std::vector<int64_t> read_axes(const ForwardCtx& ctx, bool& present) {
  present = true;
  if (ctx.in.size() > 1 && ctx.in[1].defined()) {
    const Tensor& t = ctx.in[1];
    EDGEOPT_CHECK_ARG(t.dtype() == DType::kI64 && t.rank() <= 1,
                      "input 'axes' must be a 1-D int64 tensor, got " + t.describe());
    return t.to_i64_vector();
  }
  present = ctx.node.has_attr("axes");
  return ctx.node.attr_ints("axes");
}

void reshape_grad(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || ctx.in[0].dtype() != DType::kF32) return;
  ctx.grad_in[0] = ctx.grad_out[0].clone().reshaped(ctx.in[0].shape());
}

}  // namespace
}  // namespace squeeze_common

namespace squeeze {
namespace {

void squeeze_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  bool present;
  std::vector<int64_t> axes = squeeze_common::read_axes(ctx, present);
  std::vector<bool> drop(x.rank(), false);
  if (!present || axes.empty()) {  // an empty axes input means "not given", as in ORT
    for (size_t i = 0; i < x.rank(); ++i) drop[i] = x.shape()[i] == 1;
  } else {
    for (int64_t a : axes) {
      const size_t i = x.shape().normalize_axis(a);
      EDGEOPT_CHECK_ARG(x.shape()[i] == 1, "cannot squeeze axis " + std::to_string(a) + " of input " + x.describe() +
                                               ": its size is not 1");
      drop[i] = true;
    }
  }
  std::vector<int64_t> dims;
  for (size_t i = 0; i < x.rank(); ++i)
    if (!drop[i]) dims.push_back(x.shape()[i]);
  ctx.out[0] = x.clone().reshaped(Shape(dims));
}

}  // namespace
extern const OpDef kOpDef{.name = "Squeeze",
                          .min_opset = 1,
                          .max_opset = 18,
                          .forward = squeeze_ref,
                          .backward = squeeze_common::reshape_grad};
}  // namespace squeeze

namespace unsqueeze {
namespace {

void unsqueeze_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  bool present;
  std::vector<int64_t> axes = squeeze_common::read_axes(ctx, present);
  EDGEOPT_CHECK_ARG(present, "Unsqueeze needs 'axes' (input 1 from opset 13, an attribute before)");
  const auto out_rank = static_cast<int64_t>(x.rank() + axes.size());
  std::vector<bool> inserted(out_rank, false);
  for (int64_t a : axes) {
    EDGEOPT_CHECK_ARG(a >= -out_rank && a < out_rank,
                      "axis " + std::to_string(a) + " is out of range for output rank " + std::to_string(out_rank));
    const int64_t i = a < 0 ? a + out_rank : a;
    EDGEOPT_CHECK_ARG(!inserted[i], "axis " + std::to_string(a) + " appears more than once in axes");
    inserted[i] = true;
  }
  std::vector<int64_t> dims;
  size_t k = 0;
  for (int64_t i = 0; i < out_rank; ++i) dims.push_back(inserted[i] ? 1 : x.shape()[k++]);
  ctx.out[0] = x.clone().reshaped(Shape(dims));
}

}  // namespace
extern const OpDef kOpDef{.name = "Unsqueeze",
                          .min_opset = 1,
                          .max_opset = 18,
                          .forward = unsqueeze_ref,
                          .backward = squeeze_common::reshape_grad};
}  // namespace unsqueeze

}  // namespace edgeopt::kernels::ops

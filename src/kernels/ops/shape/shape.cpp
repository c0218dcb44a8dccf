// Shape: the input's dims as a 1-D int64 tensor, optionally sliced to dims[start:end] (opset 15;
// negative values count from the end, both are clamped to [0, rank] like Python slicing).
// https://onnx.ai/onnx/operators/onnx__Shape.html  Not differentiable.
#include <algorithm>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::shape {
namespace {

void shape_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const auto r = static_cast<int64_t>(x.rank());
  auto norm = [r](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + r : v, 0, r); };
  const int64_t start = norm(ctx.node.attr_int("start", 0));
  const int64_t end = norm(ctx.node.attr_int("end", r));
  const int64_t n = std::max<int64_t>(0, end - start);
  Tensor& y = alloc_output(ctx, 0, DType::kI64, Shape{n});
  for (int64_t i = 0; i < n; ++i) y.data<int64_t>()[i] = x.shape()[start + i];
}

}  // namespace

extern const OpDef kOpDef{.name = "Shape", .min_opset = 1, .max_opset = 18, .forward = shape_ref};

}  // namespace edgeopt::kernels::ops::shape

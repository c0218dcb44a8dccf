// ReduceSum (ONNX https://onnx.ai/onnx/operators/onnx__ReduceSum.html, opsets 1-18): sum over
// `axes` (an attribute before opset 13, the optional input 1 from 13; see reduce_axes.h), f32
// (summed in double), i32 and i64 (wrapping). An empty reduction gives 0.
// Gradient (f32): dX = dY broadcast back over the reduced axes.
#include <type_traits>

#include "kernels/common.h"
#include "kernels/ops/reduce_sum/reduce_axes.h"

namespace edgeopt::kernels::ops::reduce_sum {
namespace {

template <typename T>
void reduce_sum_ref(const Tensor& x, const ReduceAxes& r, Tensor& y) {
  using Acc = std::conditional_t<std::is_floating_point_v<T>, double, uint64_t>;  // integers wrap
  std::vector<Acc> acc(static_cast<size_t>(y.numel()), Acc{0});
  const std::vector<int64_t> slot = r.slots(x.shape());
  const T* px = x.data<T>();
  for (int64_t i = 0; i < x.numel(); ++i) acc[slot[i]] += static_cast<Acc>(px[i]);
  for (int64_t k = 0; k < y.numel(); ++k) y.data<T>()[k] = static_cast<T>(acc[k]);
}

void reduce_sum_any_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const ReduceAxes r = reduce_axes(ctx.node, ctx.in);
  if (r.identity) {
    ctx.out[0] = x.clone();
    return;
  }
  Tensor& y = alloc_output(ctx, 0, x.dtype(), r.out_shape);
  switch (x.dtype()) {
    case DType::kF32: return reduce_sum_ref<float>(x, r, y);
    case DType::kI32: return reduce_sum_ref<int32_t>(x, r, y);
    case DType::kI64: return reduce_sum_ref<int64_t>(x, r, y);
    default:
      throw_error(ErrorCode::kUnimplemented, std::string("ReduceSum has no kernel for dtype ") +
                                                 dtype_name(x.dtype()) + " (available: f32, i32, i64)");
  }
}

void reduce_sum_f32_grad(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || x.dtype() != DType::kF32) return;
  const ReduceAxes r = reduce_axes(ctx.node, ctx.in);
  if (r.identity) {
    ctx.grad_in[0] = ctx.grad_out[0].clone();
    return;
  }
  const std::vector<int64_t> slot = r.slots(x.shape());
  const float* pdy = ctx.grad_out[0].data<float>();
  Tensor dx(DType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) dx.data<float>()[i] = pdy[slot[i]];
  ctx.grad_in[0] = dx;
}

}  // namespace

extern const OpDef kOpDef{.name = "ReduceSum", .min_opset = 1, .max_opset = 18, .forward = reduce_sum_any_ref,
                          .backward = reduce_sum_f32_grad};

}  // namespace edgeopt::kernels::ops::reduce_sum

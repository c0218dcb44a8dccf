// ReduceMean: mean over `axes` (all axes when none are given), keeping them as size-1 dims when
// keepdims=1 (default). https://onnx.ai/onnx/operators/onnx__ReduceMean.html
// `axes` is an attribute in opsets 1-17 and input 1 (int64) from 18, where noop_with_empty_axes=1
// turns empty axes into the identity. Sums accumulate in double; f32, i32, i64 (integer means
// truncate toward zero). A mean over zero elements is NaN for f32, as numpy gives.
// Gradient (f32): dx = dy broadcast back over the reduced axes / count.
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/ops/reduce_sum/reduce_axes.h"
#include "kernels/common.h"

namespace edgeopt::kernels::ops::reduce_mean {
namespace {

// Axis handling (attribute or input, keepdims, noop_with_empty_axes) is ReduceSum's.
using ReducePlan = reduce_sum::ReduceAxes;

template <typename T>
void reduce_mean_ref(const Tensor& x, const ReducePlan& p, Tensor& y) {
  // BroadcastIndex maps each input element to its (kept-shape) output slot.
  BroadcastIndex bi(p.kept_shape, p.kept_shape, x.shape());
  std::vector<double> sum(static_cast<size_t>(p.kept_shape.numel()), 0.0);
  const T* px = x.data<T>();
  for (int64_t i = 0; i < x.numel(); ++i) sum[bi.a_index[i]] += static_cast<double>(px[i]);
  T* py = y.data<T>();
  for (size_t k = 0; k < sum.size(); ++k) {
    if constexpr (std::is_same_v<T, float>) {
      py[k] =
          p.count ? static_cast<float>(sum[k] / static_cast<double>(p.count)) : std::numeric_limits<float>::quiet_NaN();
    } else {
      EDGEOPT_CHECK_ARG(p.count > 0, "integer ReduceMean over zero elements has no value");
      py[k] = static_cast<T>(std::trunc(sum[k] / static_cast<double>(p.count)));
    }
  }
}

void reduce_mean_any_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  ReducePlan p = reduce_sum::reduce_axes(ctx.node, ctx.in);
  if (p.identity) {
    ctx.out[0] = x.clone();
    return;
  }
  Tensor& y = alloc_output(ctx, 0, x.dtype(), p.out_shape);
  switch (x.dtype()) {
    case DType::kF32:
      return reduce_mean_ref<float>(x, p, y);
    case DType::kI32:
      return reduce_mean_ref<int32_t>(x, p, y);
    case DType::kI64:
      return reduce_mean_ref<int64_t>(x, p, y);
    default:
      throw_error(ErrorCode::kUnimplemented, std::string("ReduceMean has no kernel for dtype ") +
                                                 dtype_name(x.dtype()) + " (available: f32, i32, i64)");
  }
}

void reduce_mean_f32_grad(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || x.dtype() != DType::kF32) return;
  ReducePlan p = reduce_sum::reduce_axes(ctx.node, ctx.in);
  if (p.identity) {
    ctx.grad_in[0] = ctx.grad_out[0].clone();
    return;
  }
  BroadcastIndex bi(p.kept_shape, p.kept_shape, x.shape());
  Tensor dx(DType::kF32, x.shape());
  const float* pdy = ctx.grad_out[0].data<float>();  // out_shape and kept_shape share the flat order
  const float inv = 1.f / static_cast<float>(p.count);
  for (int64_t i = 0; i < x.numel(); ++i) dx.data<float>()[i] = pdy[bi.a_index[i]] * inv;
  ctx.grad_in[0] = dx;
}

}  // namespace

extern const OpDef kOpDef{.name = "ReduceMean",
                          .min_opset = 1,
                          .max_opset = 18,
                          .forward = reduce_mean_any_ref,
                          .backward = reduce_mean_f32_grad};

}  // namespace edgeopt::kernels::ops::reduce_mean

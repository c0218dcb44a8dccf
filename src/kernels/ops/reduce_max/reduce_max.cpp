// ReduceMax (ONNX https://onnx.ai/onnx/operators/onnx__ReduceMax.html, opsets 1-18): max over
// `axes` (an attribute before opset 18, the optional input 1 from 18; see reduce_sum/reduce_axes.h),
// f32, i32, i64, i8, u8. A NaN in a slot gives NaN; an empty reduction gives -inf (f32) or the
// dtype's lowest value.
// Gradient (f32): dY goes to the first element holding each slot's max (ties are not split).
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/common.h"
#include "kernels/ops/reduce_sum/reduce_axes.h"

namespace edgeopt::kernels::ops::reduce_max {
namespace {

using reduce_sum::ReduceAxes;

// Per slot: the flat input index of the (first) max, -1 for an empty slot.
template <typename T>
std::vector<int64_t> argmax_per_slot(const Tensor& x, const std::vector<int64_t>& slot, int64_t slots) {
  std::vector<int64_t> arg(static_cast<size_t>(slots), -1);
  const T* px = x.data<T>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    int64_t& a = arg[slot[i]];
    bool take = a < 0 || px[i] > px[a];
    if constexpr (std::is_floating_point_v<T>) take = take || (std::isnan(px[i]) && !std::isnan(px[a]));
    if (take) a = i;
  }
  return arg;
}

template <typename T>
void reduce_max_ref(const Tensor& x, const ReduceAxes& r, Tensor& y) {
  const std::vector<int64_t> arg = argmax_per_slot<T>(x, r.slots(x.shape()), y.numel());
  const T empty = std::numeric_limits<T>::has_infinity ? -std::numeric_limits<T>::infinity()
                                                       : std::numeric_limits<T>::lowest();
  for (int64_t k = 0; k < y.numel(); ++k) y.data<T>()[k] = arg[k] < 0 ? empty : x.data<T>()[arg[k]];
}

void reduce_max_any_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const ReduceAxes r = reduce_sum::reduce_axes(ctx.node, ctx.in);
  if (r.identity) {
    ctx.out[0] = x.clone();
    return;
  }
  Tensor& y = alloc_output(ctx, 0, x.dtype(), r.out_shape);
  switch (x.dtype()) {
    case DType::kF32: return reduce_max_ref<float>(x, r, y);
    case DType::kI32: return reduce_max_ref<int32_t>(x, r, y);
    case DType::kI64: return reduce_max_ref<int64_t>(x, r, y);
    case DType::kI8: return reduce_max_ref<int8_t>(x, r, y);
    case DType::kU8: return reduce_max_ref<uint8_t>(x, r, y);
    default:
      throw_error(ErrorCode::kUnimplemented, std::string("ReduceMax has no kernel for dtype ") +
                                                 dtype_name(x.dtype()) + " (available: f32, i32, i64, i8, u8)");
  }
}

void reduce_max_f32_grad(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || x.dtype() != DType::kF32) return;
  const ReduceAxes r = reduce_sum::reduce_axes(ctx.node, ctx.in);
  if (r.identity) {
    ctx.grad_in[0] = ctx.grad_out[0].clone();
    return;
  }
  const Tensor& dy = ctx.grad_out[0];
  const std::vector<int64_t> arg = argmax_per_slot<float>(x, r.slots(x.shape()), dy.numel());
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  for (int64_t k = 0; k < dy.numel(); ++k)
    if (arg[k] >= 0) dx.data<float>()[arg[k]] = dy.data<float>()[k];
  ctx.grad_in[0] = dx;
}

}  // namespace

extern const OpDef kOpDef{.name = "ReduceMax", .min_opset = 1, .max_opset = 18, .forward = reduce_max_any_ref,
                          .backward = reduce_max_f32_grad};

}  // namespace edgeopt::kernels::ops::reduce_max

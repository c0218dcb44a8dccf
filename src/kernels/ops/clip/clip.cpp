// Clip: y = min(max(x, lo), hi). https://onnx.ai/onnx/operators/onnx__Clip.html
// Opsets 1-10 take lo/hi as float attributes `min`/`max`; opset 11+ as optional scalar inputs 1 and
// 2 of x's dtype (opset 12 added integer dtypes). Absent bounds are the dtype's limits. Whichever
// form is present is used, so a model mixing them still runs. lo > hi gives hi everywhere (numpy).
// Gradient (f32): dy goes to whichever value y was taken from: x inside [lo, hi], else the bound
// (the bound's gradient is the sum over the elements it clamped).
#include <limits>

#include "kernels/common.h"
#include "kernels/ops/clip/clip_fast.h"

namespace edgeopt::kernels::ops::clip {
const Tensor* bound_input(const ForwardCtx& ctx, size_t i) {
  if (i >= ctx.in.size() || !ctx.in[i].defined()) return nullptr;
  const Tensor& t = ctx.in[i];
  EDGEOPT_CHECK_ARG(t.numel() == 1, std::string(i == 1 ? "min" : "max") + " must be a scalar, got " + t.describe());
  EDGEOPT_CHECK_ARG(t.dtype() == ctx.in[0].dtype(), std::string(i == 1 ? "min " : "max ") + t.describe() +
                                                        " must have the dtype of input " + ctx.in[0].describe());
  return &t;
}

namespace {

template <typename T>
void clip_ref(ForwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  T lo = std::numeric_limits<T>::lowest(), hi = std::numeric_limits<T>::max();
  if (const Tensor* t = bound_input(ctx, 1))
    lo = t->data<T>()[0];
  else if (ctx.node.has_attr("min"))
    lo = static_cast<T>(ctx.node.attr_float("min", 0.f));
  if (const Tensor* t = bound_input(ctx, 2))
    hi = t->data<T>()[0];
  else if (ctx.node.has_attr("max"))
    hi = static_cast<T>(ctx.node.attr_float("max", 0.f));
  Tensor& y = alloc_output(ctx, 0, x.dtype(), x.shape());
  const T* px = x.data<T>();
  T* py = y.data<T>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    T v = px[i] < lo ? lo : px[i];
    py[i] = v > hi ? hi : v;
  }
}

}  // namespace

void clip_any_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  switch (x.dtype()) {
    case DType::kF32:
      return clip_ref<float>(ctx);
    case DType::kI32:
      return clip_ref<int32_t>(ctx);
    case DType::kI64:
      return clip_ref<int64_t>(ctx);
    case DType::kI8:
      return clip_ref<int8_t>(ctx);
    case DType::kU8:
      return clip_ref<uint8_t>(ctx);
    default:
      throw_error(ErrorCode::kUnimplemented, std::string("Clip has no kernel for dtype ") + dtype_name(x.dtype()) +
                                                 " (available: f32, i32, i64, i8, u8)");
  }
}

void clip_f32_grad(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || x.dtype() != DType::kF32) return;
  const bool has_lo = ctx.in.size() > 1 && ctx.in[1].defined();
  const bool has_hi = ctx.in.size() > 2 && ctx.in[2].defined();
  float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
  if (has_lo)
    lo = ctx.in[1].data<float>()[0];
  else if (ctx.node.has_attr("min"))
    lo = ctx.node.attr_float("min", 0.f);
  if (has_hi)
    hi = ctx.in[2].data<float>()[0];
  else if (ctx.node.has_attr("max"))
    hi = ctx.node.attr_float("max", 0.f);
  const float* px = x.data<float>();
  const float* pdy = ctx.grad_out[0].data<float>();
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  double dlo = 0, dhi = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const bool below = px[i] < lo;
    const float v = below ? lo : px[i];
    if (v > hi)
      dhi += pdy[i];
    else if (below)
      dlo += pdy[i];
    else
      dx.data<float>()[i] = pdy[i];
  }
  ctx.grad_in[0] = dx;
  auto scalar_like = [](const Tensor& t, double v) {
    Tensor g(DType::kF32, t.shape());
    g.data<float>()[0] = static_cast<float>(v);
    return g;
  };
  if (has_lo) ctx.grad_in[1] = scalar_like(ctx.in[1], dlo);
  if (has_hi) ctx.grad_in[2] = scalar_like(ctx.in[2], dhi);
}

extern const OpDef kOpDef{.name = "Clip", .min_opset = 1, .max_opset = 18, .forward = clip_any_ref,
                          .backward = clip_f32_grad_fast, .forward_fast = clip_fast, .backward_ref = clip_f32_grad};

}  // namespace edgeopt::kernels::ops::clip

// QuantizeLinear: y = saturate(round_half_even(x / y_scale) + y_zero_point), per tensor or per axis.
// ONNX: https://onnx.ai/onnx/operators/onnx__QuantizeLinear.html (opsets 10-18).
//   inputs  x (f32, or i32 converted to f32), y_scale (f32 scalar, or 1-D of x.shape[axis] since
//           opset 13), y_zero_point (optional u8/i8, same shape as y_scale; its dtype is y's dtype,
//           u8 when absent)
//   attrs   axis (opset 13+, default 1; only used for a per-axis scale)
// The rounding and saturation are quant::quantize_f32, shared with every int8 kernel and QAT.
// Not differentiable (QAT uses fake-quant with a straight-through estimator instead).
#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/microkernels/quantize_q8/quantize_q8.h"
#include "kernels/quant/qparams.h"
#include "kernels/quant/requantize.h"

namespace edgeopt::kernels::ops::quantize_linear {
namespace {

template <typename Q>
void quantize_f32_to(const float* x, int64_t n, const quant::QParams& qp, Q* y) {
  constexpr int32_t qmin = std::numeric_limits<Q>::min(), qmax = std::numeric_limits<Q>::max();
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = qp.channel(i);
    y[i] = static_cast<Q>(quant::quantize_f32(x[i], qp.scales[c], qp.zero_points[c], qmin, qmax));
  }
}

void quantize_linear_f32_ref(ForwardCtx& ctx) {
  const Tensor& x_in = required_input(ctx, 0);
  const Tensor& scale = required_input(ctx, 1);
  const Tensor zp = ctx.in.size() > 2 ? ctx.in[2] : Tensor();
  EDGEOPT_CHECK(x_in.dtype() == DType::kF32 || x_in.dtype() == DType::kI32, ErrorCode::kUnimplemented,
                "input x is " + x_in.describe() + "; QuantizeLinear supports f32 and i32 x");
  const DType out_dtype = zp.defined() ? zp.dtype() : DType::kU8;
  EDGEOPT_CHECK(out_dtype == DType::kU8 || out_dtype == DType::kI8, ErrorCode::kUnimplemented,
                "input y_zero_point is " + zp.describe() + "; QuantizeLinear supports u8 and i8 outputs");
  const Tensor x = x_in.dtype() == DType::kF32 ? x_in : x_in.cast(DType::kF32);
  const quant::QParams qp =
      quant::read_qparams(x.shape(), scale, zp, ctx.node.attr_int("axis", 1), ctx.opset, "y_scale");
  Tensor& y = alloc_output(ctx, 0, out_dtype, x.shape());
  if (out_dtype == DType::kU8)
    quantize_f32_to(x.data<float>(), x.numel(), qp, y.data<uint8_t>());
  else
    quantize_f32_to(x.data<float>(), x.numel(), qp, y.data<int8_t>());
}

// Per-tensor f32 x (how QDQ graphs quantize activations): the vectorized quantize_f32 array form,
// bit-exact with the loop above.
void quantize_linear_f32_fast(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const Tensor& scale = required_input(ctx, 1);
  const Tensor zp = ctx.in.size() > 2 ? ctx.in[2] : Tensor();
  const DType out_dtype = zp.defined() ? zp.dtype() : DType::kU8;
  if (x.dtype() != DType::kF32 || scale.numel() != 1 || !(out_dtype == DType::kU8 || out_dtype == DType::kI8))
    return quantize_linear_f32_ref(ctx);
  const quant::QParams qp =
      quant::read_qparams(x.shape(), scale, zp, ctx.node.attr_int("axis", 1), ctx.opset, "y_scale");
  Tensor& y = alloc_output(ctx, 0, out_dtype, x.shape());
  const bool s8 = out_dtype == DType::kI8;
  const float* px = x.data<float>();
  auto* py = static_cast<uint8_t*>(y.raw());
  parallel_for(x.numel(), [&](int64_t b, int64_t e) {
    quantize_q8::quantize_f32_to_q8(px + b, e - b, qp.scales[0], qp.zero_points[0], s8 ? -128 : 0, s8 ? 127 : 255, s8,
                                    py + b);
  }, 16384);
}

}  // namespace

extern const OpDef kOpDef{.name = "QuantizeLinear", .min_opset = 10, .max_opset = 18,
                          .forward = quantize_linear_f32_ref, .forward_fast = quantize_linear_f32_fast};

}  // namespace edgeopt::kernels::ops::quantize_linear

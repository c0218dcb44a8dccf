// DequantizeLinear: y = (x - x_zero_point) * x_scale, per tensor or per axis, y is f32.
// ONNX: https://onnx.ai/onnx/operators/onnx__DequantizeLinear.html (opsets 10-18).
//   inputs  x (u8, i8 or i32), x_scale (f32 scalar, or 1-D of x.shape[axis] since opset 13),
//           x_zero_point (optional, same dtype as x and shape as x_scale; must be 0 for i32 x,
//           which carries int32 biases quantized with zero point 0)
//   attrs   axis (opset 13+, default 1; only used for a per-axis scale)
// The arithmetic is quant::dequantize_f32, shared with QAT fake-quant.
#include "kernels/common.h"
#include "kernels/quant/qparams.h"
#include "kernels/quant/requantize.h"

namespace edgeopt::kernels::ops::dequantize_linear {
namespace {

template <typename Q>
void dequantize_to_f32(const Q* x, int64_t n, const quant::QParams& qp, float* y) {
  for (int64_t i = 0; i < n; ++i) {
    const size_t c = qp.channel(i);
    y[i] = quant::dequantize_f32(static_cast<int32_t>(x[i]), qp.scales[c], qp.zero_points[c]);
  }
}

void dequantize_linear_f32_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const Tensor& scale = required_input(ctx, 1);
  const Tensor zp = ctx.in.size() > 2 ? ctx.in[2] : Tensor();
  const DType dt = x.dtype();
  EDGEOPT_CHECK(dt == DType::kU8 || dt == DType::kI8 || dt == DType::kI32, ErrorCode::kUnimplemented,
                "input x is " + x.describe() + "; DequantizeLinear supports u8, i8 and i32 x");
  EDGEOPT_CHECK_ARG(!zp.defined() || zp.dtype() == dt, "input x_zero_point is " + zp.describe() +
                                                           ", but x is " + x.describe() + "; their dtypes must match");
  const quant::QParams qp =
      quant::read_qparams(x.shape(), scale, zp, ctx.node.attr_int("axis", 1), ctx.opset, "x_scale");
  if (dt == DType::kI32)
    for (size_t c = 0; c < qp.zero_points.size(); ++c)
      EDGEOPT_CHECK_ARG(qp.zero_points[c] == 0, "x_zero_point[" + std::to_string(c) + "] = " +
                                                    std::to_string(qp.zero_points[c]) + "; it must be 0 for i32 x");
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  switch (dt) {
    case DType::kU8: dequantize_to_f32(x.data<uint8_t>(), x.numel(), qp, y.data<float>()); break;
    case DType::kI8: dequantize_to_f32(x.data<int8_t>(), x.numel(), qp, y.data<float>()); break;
    default: dequantize_to_f32(x.data<int32_t>(), x.numel(), qp, y.data<float>()); break;
  }
}

// Per-tensor 8-bit x (the QDQ activations the int8 path leaves): a 256-entry table of exactly the
// values dequantize_f32 computes.
void dequantize_linear_f32_fast(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const Tensor& scale = required_input(ctx, 1);
  const Tensor zp = ctx.in.size() > 2 ? ctx.in[2] : Tensor();
  const DType dt = x.dtype();
  if (!(dt == DType::kU8 || dt == DType::kI8) || scale.numel() != 1 || (zp.defined() && zp.dtype() != dt))
    return dequantize_linear_f32_ref(ctx);
  const quant::QParams qp =
      quant::read_qparams(x.shape(), scale, zp, ctx.node.attr_int("axis", 1), ctx.opset, "x_scale");
  float table[256];
  for (int v = 0; v < 256; ++v) {
    const int32_t q = dt == DType::kU8 ? v : static_cast<int8_t>(static_cast<uint8_t>(v));
    table[v] = quant::dequantize_f32(q, qp.scales[0], qp.zero_points[0]);
  }
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  const auto* px = static_cast<const uint8_t*>(x.raw());
  float* py = y.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) py[i] = table[px[i]];
}

}  // namespace

extern const OpDef kOpDef{.name = "DequantizeLinear", .min_opset = 10, .max_opset = 18,
                          .forward = dequantize_linear_f32_ref, .forward_fast = dequantize_linear_f32_fast};

}  // namespace edgeopt::kernels::ops::dequantize_linear

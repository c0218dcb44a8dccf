// ConvInteger (ONNX https://onnx.ai/onnx/operators/onnx__ConvInteger.html, opset 10+): the s32
// accumulators of a quantized Conv, no bias, no requantization.
//   inputs  x (u8/i8), w (u8/i8 [M, C/group, *k]), x_zero_point (scalar), w_zero_point (scalar or [M])
//   y[n, m, o] = sum_{c, k} (x - x_zero_point) * (w[m] - w_zero_point[m])   (s32, conv_int8.h)
#include "kernels/common.h"
#include "kernels/ops/qlinear_conv/conv_int8.h"

namespace edgeopt::kernels::ops::conv_integer {
namespace {

using qlinear_conv::ConvInt8Inputs;

ConvInt8Inputs read_inputs(const ForwardCtx& ctx) {
  required_input(ctx, 0);
  required_input(ctx, 1);
  auto opt = [&](size_t i) { return ctx.in.size() > i && ctx.node.has_input(i) ? ctx.in[i] : Tensor(); };
  return qlinear_conv::read_conv_int8_inputs(ctx.node, ctx.in[0], opt(2), ctx.in[1], opt(3), nullptr, "x_zero_point",
                                             "w_zero_point");
}

void conv_integer_s32_nchw_ref(ForwardCtx& ctx) {
  const ConvInt8Inputs in = read_inputs(ctx);
  alloc_output(ctx, 0, DType::kI32, Shape(qlinear_conv::conv_int8_out_dims(in.d))) =
      qlinear_conv::conv_int8_acc_ref(in);
}

void conv_integer_s32_nchw_fast(ForwardCtx& ctx) {
  const ConvInt8Inputs in = read_inputs(ctx);
  Tensor& y = alloc_output(ctx, 0, DType::kI32, Shape(qlinear_conv::conv_int8_out_dims(in.d)));
  gemm_int8::Epilogue ep;
  ep.out = gemm_int8::OutType::kS32;
  if (!qlinear_conv::conv_int8_fast(in, ctx.state, ep, y.raw())) y = qlinear_conv::conv_int8_acc_ref(in);
}

std::shared_ptr<const OpState> conv_integer_prepare(const PrepareCtx& ctx) {
  if (ctx.in.size() < 2 || !ctx.in[1].defined()) return nullptr;
  return qlinear_conv::conv_int8_prepare(ctx.node, ctx.in[1], ctx.in.size() > 3 ? ctx.in[3] : Tensor());
}

int64_t conv_integer_macs(const Node&, std::span<const Shape> in, std::span<const Shape> out) {
  if (in.size() < 2 || out.empty()) return 0;
  return out[0].numel() * (in[1].numel() / std::max<int64_t>(1, in[1][0]));
}

}  // namespace

extern const OpDef kOpDef{.name = "ConvInteger",
                          .min_opset = 10,
                          .max_opset = 18,
                          .forward = conv_integer_s32_nchw_ref,
                          .macs = conv_integer_macs,
                          .forward_fast = conv_integer_s32_nchw_fast,
                          .prepare = conv_integer_prepare};

}  // namespace edgeopt::kernels::ops::conv_integer

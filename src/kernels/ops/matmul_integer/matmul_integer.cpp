// MatMulInteger (ONNX https://onnx.ai/onnx/operators/onnx__MatMulInteger.html, opset 10+): the s32
// product of quantized matrices (dynamic quantization's core op).
//   inputs  A (u8/i8 [..., M, K]), B (u8/i8 [K, N] or batched like A), a_zero_point (scalar),
//           b_zero_point (scalar or [N])
//   Y[..., i, j] = sum_k (A[..., i, k] - a_zero_point) * (B[..., k, j] - b_zero_point[j])   (s32)
#include "kernels/common.h"
#include "kernels/ops/qlinear_matmul/matmul_int8.h"

namespace edgeopt::kernels::ops::matmul_integer {
namespace {

using qlinear_matmul::MatMulInt8Inputs;

MatMulInt8Inputs read_inputs(const ForwardCtx& ctx) {
  required_input(ctx, 0);
  required_input(ctx, 1);
  auto opt = [&](size_t i) { return ctx.in.size() > i && ctx.node.has_input(i) ? ctx.in[i] : Tensor(); };
  return qlinear_matmul::read_matmul_int8_inputs(ctx.in[0], opt(2), ctx.in[1], opt(3), nullptr, "a_zero_point",
                                                 "b_zero_point");
}

void matmul_integer_s32_ref(ForwardCtx& ctx) {
  const MatMulInt8Inputs in = read_inputs(ctx);
  alloc_output(ctx, 0, DType::kI32, Shape(in.y_dims)) = qlinear_matmul::matmul_int8_acc_ref(in);
}

void matmul_integer_s32_fast(ForwardCtx& ctx) {
  const MatMulInt8Inputs in = read_inputs(ctx);
  Tensor& y = alloc_output(ctx, 0, DType::kI32, Shape(in.y_dims));
  gemm_int8::Epilogue ep;
  ep.out = gemm_int8::OutType::kS32;
  if (!qlinear_matmul::matmul_int8_fast(in, ctx.state, ep, y.raw())) y = qlinear_matmul::matmul_int8_acc_ref(in);
}

std::shared_ptr<const OpState> matmul_integer_prepare(const PrepareCtx& ctx) {
  if (ctx.in.size() < 2 || !ctx.in[1].defined()) return nullptr;
  return qlinear_matmul::matmul_int8_prepare(ctx.in[1], ctx.in.size() > 3 ? ctx.in[3] : Tensor());
}

int64_t matmul_integer_macs(const Node&, std::span<const Shape> in, std::span<const Shape> out) {
  if (in.empty() || out.empty() || in[0].rank() < 1) return 0;
  return out[0].numel() * in[0][in[0].rank() - 1];
}

}  // namespace

extern const OpDef kOpDef{.name = "MatMulInteger",
                          .min_opset = 10,
                          .max_opset = 18,
                          .forward = matmul_integer_s32_ref,
                          .macs = matmul_integer_macs,
                          .forward_fast = matmul_integer_s32_fast,
                          .prepare = matmul_integer_prepare};

}  // namespace edgeopt::kernels::ops::matmul_integer

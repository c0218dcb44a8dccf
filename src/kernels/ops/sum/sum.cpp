// Sum (ONNX https://onnx.ai/onnx/operators/onnx__Sum.html, opsets 6-18; 1-5 only differ by the
// legacy consumed_inputs attribute): elementwise sum of 1 or more f32 inputs with numpy
// broadcasting (opset 8+; earlier opsets required equal shapes, which broadcasting includes).
//   Y[i] = sum_k X_k[idx_k(i)]   (summed in input order)
// Gradient: dX_k = dY summed back to X_k's shape (the reverse of broadcasting).
#include "kernels/common.h"

namespace edgeopt::kernels::ops::sum {
namespace {

void sum_f32_ref(ForwardCtx& ctx) {
  EDGEOPT_CHECK_ARG(!ctx.in.empty(), "Sum needs at least one input");
  Shape out = required_input(ctx, 0).shape();
  for (size_t k = 0; k < ctx.in.size(); ++k) {
    require_f32(ctx, k);
    out = broadcast_shapes(out, ctx.in[k].shape());
  }
  Tensor& y = alloc_output(ctx, 0, DType::kF32, out);
  float* py = y.data<float>();
  for (int64_t i = 0; i < y.numel(); ++i) py[i] = 0.f;
  for (size_t k = 0; k < ctx.in.size(); ++k) {
    const Tensor& x = ctx.in[k];
    BroadcastIndex bi(x.shape(), x.shape(), out);
    const float* px = x.data<float>();
    for (int64_t i = 0; i < y.numel(); ++i) py[i] += px[bi.a_index[i]];
  }
}

void sum_f32_grad(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined()) return;
  for (size_t k = 0; k < ctx.in.size(); ++k)
    if (ctx.in[k].defined() && ctx.in[k].dtype() == DType::kF32)
      ctx.grad_in[k] = reduce_to_shape_f32(ctx.grad_out[0], ctx.in[k].shape());
}

}  // namespace

extern const OpDef kOpDef{.name = "Sum", .min_opset = 1, .max_opset = 18, .forward = sum_f32_ref,
                          .backward = sum_f32_grad};

}  // namespace edgeopt::kernels::ops::sum

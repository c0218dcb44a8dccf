// Relu: y = max(x, 0). ONNX: https://onnx.ai/onnx/operators/onnx__Relu.html (opsets 1-14 f32).
// Gradient: dx = dy where x > 0 (the kink at 0 takes gradient 0, as PyTorch does).
#include "kernels/common.h"
#include "kernels/ops/relu/relu_fast.h"

namespace edgeopt::kernels::ops::relu {
namespace {

void relu_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  ctx.out[0] = unary_f32(ctx.in[0], [](float v) { return v > 0.f ? v : 0.f; });
}

void relu_f32_grad(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  const Tensor& dy = ctx.grad_out[0];
  Tensor dx(DType::kF32, x.shape());
  const float* px = x.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) pdx[i] = px[i] > 0.f ? pdy[i] : 0.f;
  ctx.grad_in[0] = dx;
}

}  // namespace

extern const OpDef kOpDef{.name = "Relu", .min_opset = 1, .max_opset = 18, .forward = relu_f32_ref,
                          .backward = relu_f32_grad_fast, .forward_fast = relu_f32_fast,
                          .backward_ref = relu_f32_grad};

}  // namespace edgeopt::kernels::ops::relu

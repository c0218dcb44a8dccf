// Pointwise activations over f32, each with its gradient. ONNX:
//   LeakyRelu   y = x >= 0 ? x : alpha*x          (alpha = 0.01)   dx = dy * (x > 0 ? 1 : alpha)
//   Sigmoid     y = 1 / (1 + exp(-x))                              dx = dy * y * (1 - y)
//   Tanh        y = tanh(x)                                        dx = dy * (1 - y^2)
//   HardSigmoid y = clamp(alpha*x + beta, 0, 1)   (0.2, 0.5)       dx = dy * alpha inside (0, 1)
//   HardSwish   y = x * clamp(x/6 + 1/2, 0, 1)    (opset 14)       dx = dy * (x/3 + 1/2) on (-3, 3),
//                                                                       dy above, 0 below
// https://onnx.ai/onnx/operators/onnx__LeakyRelu.html (and Sigmoid, Tanh, HardSigmoid, HardSwish).
// Kinks take the one-sided derivative PyTorch uses. Opsets 1-5 only differ by the legacy
// consumed_inputs attribute, which is ignored.
#include <cmath>

#include "kernels/common.h"
#include "kernels/ops/activations/activations_fast.h"

namespace edgeopt::kernels::ops {
namespace activations {
namespace {

// dx[i] = dy[i] * d(x[i], y[i]).
template <typename F>
void pointwise_grad(BackwardCtx& ctx, F d) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined()) return;
  const Tensor& x = ctx.in[0];
  const Tensor& y = ctx.out[0];
  const Tensor& dy = ctx.grad_out[0];
  Tensor dx(DType::kF32, x.shape());
  const float* px = x.data<float>();
  const float* py = y.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) pdx[i] = pdy[i] * d(px[i], py[i]);
  ctx.grad_in[0] = dx;
}

}  // namespace
}  // namespace activations

namespace leaky_relu {
namespace {
void leaky_relu_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const float alpha = ctx.node.attr_float("alpha", 0.01f);
  ctx.out[0] = unary_f32(ctx.in[0], [alpha](float v) { return v >= 0.f ? v : alpha * v; });
}
void leaky_relu_f32_grad(BackwardCtx& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.01f);
  activations::pointwise_grad(ctx, [alpha](float x, float) { return x > 0.f ? 1.f : alpha; });
}
}  // namespace
extern const OpDef kOpDef{.name = "LeakyRelu",
                          .min_opset = 1,
                          .max_opset = 18,
                          .forward = leaky_relu_f32_ref,
                          .backward = leaky_relu_f32_grad_fast,
                          .forward_fast = leaky_relu_f32_fast,
                          .backward_ref = leaky_relu_f32_grad};
}  // namespace leaky_relu

namespace sigmoid {
namespace {
void sigmoid_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  // Split by sign so exp never overflows (exp(-x) for very negative x would be inf; fine, but
  // the symmetric form keeps full relative precision for large |x|).
  ctx.out[0] = unary_f32(ctx.in[0], [](float v) {
    if (v >= 0.f) return 1.f / (1.f + std::exp(-v));
    float e = std::exp(v);
    return e / (1.f + e);
  });
}
void sigmoid_f32_grad(BackwardCtx& ctx) {
  activations::pointwise_grad(ctx, [](float, float y) { return y * (1.f - y); });
}
}  // namespace
extern const OpDef kOpDef{.name = "Sigmoid", .min_opset = 1, .max_opset = 18, .forward = sigmoid_f32_ref,
                          .backward = sigmoid_f32_grad_fast, .forward_fast = sigmoid_f32_fast,
                          .backward_ref = sigmoid_f32_grad};
}  // namespace sigmoid

namespace tanh {
namespace {
void tanh_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  ctx.out[0] = unary_f32(ctx.in[0], [](float v) { return std::tanh(v); });
}
void tanh_f32_grad(BackwardCtx& ctx) {
  activations::pointwise_grad(ctx, [](float, float y) { return 1.f - y * y; });
}
}  // namespace
extern const OpDef kOpDef{.name = "Tanh", .min_opset = 1, .max_opset = 18, .forward = tanh_f32_ref,
                          .backward = tanh_f32_grad_fast, .forward_fast = tanh_f32_fast,
                          .backward_ref = tanh_f32_grad};
}  // namespace tanh

namespace hard_sigmoid {
namespace {
void hard_sigmoid_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const float alpha = ctx.node.attr_float("alpha", 0.2f);
  const float beta = ctx.node.attr_float("beta", 0.5f);
  ctx.out[0] = unary_f32(ctx.in[0], [=](float v) { return std::fmin(1.f, std::fmax(0.f, alpha * v + beta)); });
}
void hard_sigmoid_f32_grad(BackwardCtx& ctx) {
  const float alpha = ctx.node.attr_float("alpha", 0.2f);
  const float beta = ctx.node.attr_float("beta", 0.5f);
  activations::pointwise_grad(ctx, [=](float x, float) {
    float t = alpha * x + beta;
    return t > 0.f && t < 1.f ? alpha : 0.f;
  });
}
}  // namespace
extern const OpDef kOpDef{.name = "HardSigmoid",
                          .min_opset = 1,
                          .max_opset = 18,
                          .forward = hard_sigmoid_f32_ref,
                          .backward = hard_sigmoid_f32_grad_fast,
                          .forward_fast = hard_sigmoid_f32_fast,
                          .backward_ref = hard_sigmoid_f32_grad};
}  // namespace hard_sigmoid

namespace hard_swish {
namespace {
void hard_swish_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  ctx.out[0] = unary_f32(ctx.in[0], [](float v) { return v * std::fmin(1.f, std::fmax(0.f, v / 6.f + 0.5f)); });
}
void hard_swish_f32_grad(BackwardCtx& ctx) {
  activations::pointwise_grad(ctx, [](float x, float) {
    if (x <= -3.f) return 0.f;
    if (x >= 3.f) return 1.f;
    return x / 3.f + 0.5f;
  });
}
}  // namespace
extern const OpDef kOpDef{.name = "HardSwish",
                          .min_opset = 14,
                          .max_opset = 18,
                          .forward = hard_swish_f32_ref,
                          .backward = hard_swish_f32_grad_fast,
                          .forward_fast = hard_swish_f32_fast,
                          .backward_ref = hard_swish_f32_grad};
}  // namespace hard_swish

}  // namespace edgeopt::kernels::ops

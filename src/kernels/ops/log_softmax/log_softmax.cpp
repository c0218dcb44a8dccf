// LogSoftmax (ONNX https://onnx.ai/onnx/operators/onnx__LogSoftmax.html, opsets 1-18), f32:
//   Y[o, j, i] = X[o, j, i] - m - log(sum_j exp(X[o, j, i] - m)),  m = max_j X[o, :, i]
// over the same layout as Softmax (softmax/softmax.h: 2-D coercion before opset 13, one axis after).
// Gradient: dX[j] = dY[j] - exp(Y[j]) * sum_k dY[k].
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/ops/log_softmax/log_softmax_fast.h"
#include "kernels/ops/softmax/softmax.h"

namespace edgeopt::kernels::ops::log_softmax {
using softmax::SoftmaxLayout;

void log_softmax_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  const SoftmaxLayout l = softmax::softmax_layout(ctx.node, x.shape(), ctx.opset);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t i = 0; i < l.inner; ++i) {
      const int64_t base = o * l.n * l.inner + i;
      float mx = -INFINITY;
      for (int64_t j = 0; j < l.n; ++j) mx = std::max(mx, px[base + j * l.inner]);
      float sum = 0.f;
      for (int64_t j = 0; j < l.n; ++j) sum += std::exp(px[base + j * l.inner] - mx);
      const float lse = std::log(sum);
      for (int64_t j = 0; j < l.n; ++j) py[base + j * l.inner] = px[base + j * l.inner] - mx - lse;
    }
  if (ctx.saved) ctx.saved->push_back(softmax::softmax_layout_to_tensor(l));
}

void log_softmax_f32_grad(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& y = ctx.out[0];
  const SoftmaxLayout l = softmax::softmax_layout_for_backward(ctx.node, y.shape(), ctx.saved);
  Tensor dx(DType::kF32, y.shape());
  const float* py = y.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t i = 0; i < l.inner; ++i) {
      const int64_t base = o * l.n * l.inner + i;
      float sum = 0.f;
      for (int64_t j = 0; j < l.n; ++j) sum += pdy[base + j * l.inner];
      for (int64_t j = 0; j < l.n; ++j) {
        const int64_t e = base + j * l.inner;
        pdx[e] = pdy[e] - std::exp(py[e]) * sum;
      }
    }
  ctx.grad_in[0] = dx;
}

extern const OpDef kOpDef{.name = "LogSoftmax", .min_opset = 1, .max_opset = 18, .forward = log_softmax_f32_ref,
                          .backward = log_softmax_f32_grad_fast, .forward_fast = log_softmax_f32_fast,
                          .backward_ref = log_softmax_f32_grad};

}  // namespace edgeopt::kernels::ops::log_softmax

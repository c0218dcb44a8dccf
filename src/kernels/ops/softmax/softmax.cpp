// Softmax (ONNX https://onnx.ai/onnx/operators/onnx__Softmax.html, opsets 1-18), f32:
//   Y[o, j, i] = exp(X[o, j, i] - max_j X[o, :, i]) / sum_j exp(X[o, j, i] - max_j X[o, :, i])
// over the layout of softmax.h (subtracting the max keeps exp() finite for large inputs).
// Gradient: dX[j] = Y[j] * (dY[j] - sum_k dY[k] * Y[k]).
#include "kernels/ops/softmax/softmax.h"

#include <algorithm>
#include <cmath>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::softmax {

SoftmaxLayout softmax_layout(const Node& node, const Shape& x, int64_t opset) {
  const bool coerce_2d = opset < 13;
  const int64_t axis = node.attr_int("axis", coerce_2d ? 1 : -1);
  EDGEOPT_CHECK_ARG(x.rank() >= 1, "input has shape " + x.str() + ", but " + node.op_type + " needs rank >= 1");
  const size_t a = x.normalize_axis(axis);
  SoftmaxLayout l;
  for (size_t d = 0; d < a; ++d) l.outer *= x[d];
  if (coerce_2d) {
    for (size_t d = a; d < x.rank(); ++d) l.n *= x[d];
  } else {
    l.n = x[a];
    for (size_t d = a + 1; d < x.rank(); ++d) l.inner *= x[d];
  }
  return l;
}

Tensor softmax_layout_to_tensor(const SoftmaxLayout& l) {
  return Tensor::from_vector<int64_t>({3}, {l.outer, l.n, l.inner});
}

SoftmaxLayout softmax_layout_for_backward(const Node& node, const Shape& x, std::span<const Tensor> saved) {
  if (saved.empty()) return softmax_layout(node, x, 13);
  const std::vector<int64_t> v = saved[0].to_i64_vector();
  return SoftmaxLayout{v[0], v[1], v[2]};
}

void softmax_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  const SoftmaxLayout l = softmax_layout(ctx.node, x.shape(), ctx.opset);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t i = 0; i < l.inner; ++i) {
      const int64_t base = o * l.n * l.inner + i;
      float mx = -INFINITY;
      for (int64_t j = 0; j < l.n; ++j) mx = std::max(mx, px[base + j * l.inner]);
      float sum = 0.f;
      for (int64_t j = 0; j < l.n; ++j) sum += (py[base + j * l.inner] = std::exp(px[base + j * l.inner] - mx));
      for (int64_t j = 0; j < l.n; ++j) py[base + j * l.inner] /= sum;
    }
  if (ctx.saved) ctx.saved->push_back(softmax_layout_to_tensor(l));
}

void softmax_f32_grad(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& y = ctx.out[0];
  const SoftmaxLayout l = softmax_layout_for_backward(ctx.node, y.shape(), ctx.saved);
  Tensor dx(DType::kF32, y.shape());
  const float* py = y.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  for (int64_t o = 0; o < l.outer; ++o)
    for (int64_t i = 0; i < l.inner; ++i) {
      const int64_t base = o * l.n * l.inner + i;
      float dot = 0.f;
      for (int64_t j = 0; j < l.n; ++j) dot += pdy[base + j * l.inner] * py[base + j * l.inner];
      for (int64_t j = 0; j < l.n; ++j) {
        const int64_t e = base + j * l.inner;
        pdx[e] = py[e] * (pdy[e] - dot);
      }
    }
  ctx.grad_in[0] = dx;
}

extern const OpDef kOpDef{.name = "Softmax", .min_opset = 1, .max_opset = 18, .forward = softmax_f32_ref,
                          .backward = softmax_f32_grad_fast, .forward_fast = softmax_f32_fast,
                          .backward_ref = softmax_f32_grad};

}  // namespace edgeopt::kernels::ops::softmax

// LRN, local response normalization across channels (ONNX
// https://onnx.ai/onnx/operators/onnx__LRN.html, opsets 1-18), X [N, C, spatial...] f32:
//   s[c] = bias + alpha/size * sum_{c' = c - floor((size-1)/2)}^{c + ceil((size-1)/2)} X[c']^2  (c' clipped to [0, C))
//   Y[c] = X[c] / s[c]^beta          (alpha 1e-4, beta 0.75, bias 1; size required)
// Gradient, with W(c) the window of c (so j in W(c) <=> c in [j - ceil, j + floor]):
//   dX[j] = dY[j] s[j]^-beta - 2 beta alpha/size X[j] sum_{c: j in W(c)} dY[c] X[c] s[c]^(-beta-1)
#include <cmath>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::lrn {
namespace {

struct LrnParams {
  float alpha, beta, bias;
  int64_t size, lo, hi;  // window [c - lo, c + hi]
  int64_t n, c, inner;   // X viewed as [n, c, inner]
};

LrnParams lrn_params(const Node& node, const Shape& x) {
  EDGEOPT_CHECK_ARG(x.rank() >= 2, "input X has shape " + x.str() + ", but LRN needs [N, C, ...]");
  EDGEOPT_CHECK_ARG(node.has_attr("size"), "attribute size is required");
  LrnParams p;
  p.size = node.attr_int("size", 1);
  EDGEOPT_CHECK_ARG(p.size >= 1, "attribute size is " + std::to_string(p.size) + ", must be >= 1");
  p.alpha = node.attr_float("alpha", 1e-4f);
  p.beta = node.attr_float("beta", 0.75f);
  p.bias = node.attr_float("bias", 1.f);
  p.lo = (p.size - 1) / 2;
  p.hi = p.size - 1 - p.lo;
  p.n = x[0];
  p.c = x[1];
  p.inner = 1;
  for (size_t i = 2; i < x.rank(); ++i) p.inner *= x[i];
  return p;
}

// s[n, c, i] for every element (double sums of squares).
std::vector<float> lrn_scale(const LrnParams& p, const float* x) {
  std::vector<float> s(static_cast<size_t>(p.n * p.c * p.inner));
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t c = 0; c < p.c; ++c)
      for (int64_t i = 0; i < p.inner; ++i) {
        double sq = 0;
        for (int64_t k = std::max<int64_t>(0, c - p.lo); k <= std::min(p.c - 1, c + p.hi); ++k) {
          const double v = x[(n * p.c + k) * p.inner + i];
          sq += v * v;
        }
        s[(n * p.c + c) * p.inner + i] = static_cast<float>(p.bias + p.alpha / p.size * sq);
      }
  return s;
}

void lrn_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  const LrnParams p = lrn_params(ctx.node, x.shape());
  const float* px = x.data<float>();
  const std::vector<float> s = lrn_scale(p, px);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  float* py = y.data<float>();
  for (int64_t e = 0; e < x.numel(); ++e) py[e] = px[e] / std::pow(s[e], p.beta);
}

void lrn_f32_grad(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined()) return;
  const Tensor& x = ctx.in[0];
  const LrnParams p = lrn_params(ctx.node, x.shape());
  const float* px = x.data<float>();
  const float* dy = ctx.grad_out[0].data<float>();
  const std::vector<float> s = lrn_scale(p, px);
  // t[c] = dY[c] X[c] s[c]^(-beta-1), the per-window term shared by every j in W(c).
  std::vector<double> t(s.size());
  for (size_t e = 0; e < s.size(); ++e) t[e] = double(dy[e]) * px[e] * std::pow(double(s[e]), -double(p.beta) - 1.0);
  Tensor dx(DType::kF32, x.shape());
  float* pdx = dx.data<float>();
  const double k2 = 2.0 * p.beta * p.alpha / p.size;
  for (int64_t n = 0; n < p.n; ++n)
    for (int64_t j = 0; j < p.c; ++j)
      for (int64_t i = 0; i < p.inner; ++i) {
        const int64_t e = (n * p.c + j) * p.inner + i;
        double acc = 0;
        for (int64_t c = std::max<int64_t>(0, j - p.hi); c <= std::min(p.c - 1, j + p.lo); ++c)
          acc += t[(n * p.c + c) * p.inner + i];
        pdx[e] = static_cast<float>(dy[e] * std::pow(double(s[e]), -double(p.beta)) - k2 * px[e] * acc);
      }
  ctx.grad_in[0] = dx;
}

}  // namespace

extern const OpDef kOpDef{.name = "LRN", .min_opset = 1, .max_opset = 18, .forward = lrn_f32_ref,
                          .backward = lrn_f32_grad};

}  // namespace edgeopt::kernels::ops::lrn

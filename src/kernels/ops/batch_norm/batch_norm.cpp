// BatchNormalization (ONNX https://onnx.ai/onnx/operators/onnx__BatchNormalization.html, opsets 7-18),
// X [N, C, *spatial], scale/B/mean/var [C]:
//   Y = scale * (X - mu) / sqrt(sigma2 + epsilon) + B
// Inference: mu, sigma2 = the input running mean/var. Batch statistics (ctx.training, the opset 14+
// training_mode attribute, or an opset < 14 node naming its training outputs): mu, sigma2 = mean
// and biased variance of X over N and spatial, and the running-stat outputs are
//   running_mean = momentum * mean + (1 - momentum) * mu, running_var likewise with sigma2;
// opset < 14 also has saved_mean/saved_var outputs (mu, sigma2). Opset < 9 `spatial=0` normalizes
// every (C, *spatial) element separately (parameters shaped X.shape[1:]).
// Gradients (xhat = (X - mu) * istd, istd = 1/sqrt(sigma2 + eps), m = N * prod(spatial)):
//   dB = sum dY, dscale = sum dY * xhat;
//   inference: dX = dY * scale * istd, dmean = -dB * scale * istd, dvar = -0.5 * istd^3 * sum dY*scale*(X-mean);
//   batch stats: dX = istd/m * (m*g - sum g - xhat * sum g*xhat), g = dY * scale, plus the paths
//   through the running/saved stat outputs (d mu/dX = 1/m, d sigma2/dX = 2 (X - mu)/m).
// The training forward saves mu and istd ([C] each) for the backward; with nothing saved the
// backward takes the inference path.
#include <cmath>

#include "kernels/common.h"
#include "kernels/ops/batch_norm/batch_norm_fast.h"

namespace edgeopt::kernels::ops::batch_norm {
namespace {
bool named(const Node& node, size_t i) { return node.outputs.size() > i && !node.outputs[i].empty(); }
}  // namespace

BnDims bn_dims(const Node& node, const Shape& x, std::span<const Tensor> in, int64_t opset) {
  EDGEOPT_CHECK_ARG(x.rank() >= 2, "input X has shape " + x.str() + ", but BatchNormalization needs [N, C, ...]");
  BnDims d;
  d.n = x[0];
  const bool spatial = opset >= 9 || node.attr_int("spatial", 1) != 0;
  d.spatial = spatial;
  if (spatial) {
    d.c = x[1];
    d.inner = 1;
    for (size_t i = 2; i < x.rank(); ++i) d.inner *= x[i];
    d.param = Shape({d.c});
  } else {
    d.param = Shape(std::vector<int64_t>(x.dims().begin() + 1, x.dims().end()));
    d.c = d.param.numel();
    d.inner = 1;
  }
  static const char* kNames[] = {"X", "scale", "B", "input_mean", "input_var"};
  for (size_t i = 1; i < 5; ++i) {
    EDGEOPT_CHECK_ARG(i < in.size() && in[i].defined(), std::string("input ") + kNames[i] + " is required");
    // [C] also accepted when spatial=0 and X has no spatial dims (the two coincide).
    EDGEOPT_CHECK_ARG(in[i].numel() == d.c && (in[i].shape() == d.param || in[i].rank() == 1),
                      std::string("input ") + kNames[i] + " has shape " + in[i].shape().str() + ", but X " + x.str() +
                          " needs " + d.param.str());
  }
  return d;
}

bool uses_batch_stats(const ForwardCtx& ctx) {
  if (ctx.training) return true;
  if (ctx.opset >= 14) return ctx.node.attr_int("training_mode", 0) != 0;
  return named(ctx.node, 1) || named(ctx.node, 3);
}

void batch_norm_f32_nchw_ref(ForwardCtx& ctx) {
  for (size_t i = 0; i < 5; ++i) require_f32(ctx, i);
  const Tensor& x = ctx.in[0];
  const BnDims d = bn_dims(ctx.node, x.shape(), ctx.in, ctx.opset);
  const float eps = ctx.node.attr_float("epsilon", 1e-5f);
  const float momentum = ctx.node.attr_float("momentum", 0.9f);
  EDGEOPT_CHECK_ARG(eps >= 0.f, "attribute epsilon is " + std::to_string(eps) + ", must be >= 0");
  const float* px = x.data<float>();
  const float* scale = ctx.in[1].data<float>();
  const float* bias = ctx.in[2].data<float>();
  const float* in_mean = ctx.in[3].data<float>();
  const float* in_var = ctx.in[4].data<float>();
  const bool batch = uses_batch_stats(ctx);
  Tensor mu(DType::kF32, d.param), var(DType::kF32, d.param), istd(DType::kF32, d.param);
  const double m = static_cast<double>(d.n * d.inner);
  for (int64_t c = 0; c < d.c; ++c) {
    if (batch) {
      EDGEOPT_CHECK_ARG(d.n * d.inner > 0, "batch statistics need a non-empty X, got " + x.shape().str());
      // Two passes in double: the variance is not a difference of large sums.
      double s = 0, s2 = 0;
      for (int64_t n = 0; n < d.n; ++n)
        for (int64_t i = 0; i < d.inner; ++i) s += px[(n * d.c + c) * d.inner + i];
      const double mean = s / m;
      for (int64_t n = 0; n < d.n; ++n)
        for (int64_t i = 0; i < d.inner; ++i) {
          const double t = px[(n * d.c + c) * d.inner + i] - mean;
          s2 += t * t;
        }
      mu.data<float>()[c] = static_cast<float>(mean);
      var.data<float>()[c] = static_cast<float>(s2 / m);
    } else {
      mu.data<float>()[c] = in_mean[c];
      var.data<float>()[c] = in_var[c];
    }
    istd.data<float>()[c] = 1.f / std::sqrt(var.data<float>()[c] + eps);
  }
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  float* py = y.data<float>();
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t c = 0; c < d.c; ++c)
      for (int64_t i = 0; i < d.inner; ++i) {
        const int64_t e = (n * d.c + c) * d.inner + i;
        py[e] = scale[c] * (px[e] - mu.data<float>()[c]) * istd.data<float>()[c] + bias[c];
      }
  // Running stats: updated with the batch statistics, or passed through in inference.
  for (size_t k = 1; k <= 2; ++k) {
    if (!named(ctx.node, k)) continue;
    const float* running = k == 1 ? in_mean : in_var;
    const float* cur = (k == 1 ? mu : var).data<float>();
    float* po = alloc_output(ctx, k, DType::kF32, ctx.in[k + 2].shape()).data<float>();
    for (int64_t c = 0; c < d.c; ++c) po[c] = batch ? momentum * running[c] + (1.f - momentum) * cur[c] : running[c];
  }
  if (ctx.opset < 14) {
    if (named(ctx.node, 3)) alloc_output(ctx, 3, DType::kF32, ctx.in[3].shape()) = mu.reshaped(ctx.in[3].shape());
    if (named(ctx.node, 4)) alloc_output(ctx, 4, DType::kF32, ctx.in[4].shape()) = var.reshaped(ctx.in[4].shape());
  }
  if (batch && ctx.saved) {
    ctx.saved->push_back(mu);
    ctx.saved->push_back(istd);
  }
}

void batch_norm_f32_grad(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  // The backward has no opset; the parameter shape tells spatial=0 apart.
  const int64_t opset = ctx.in[1].shape().numel() == x.shape()[1] || x.rank() == 2 ? 9 : 7;
  const BnDims d = bn_dims(ctx.node, x.shape(), ctx.in, opset);
  const float eps = ctx.node.attr_float("epsilon", 1e-5f);
  const float momentum = ctx.node.attr_float("momentum", 0.9f);
  const bool batch = ctx.saved.size() >= 2;
  auto grad = [&](size_t k) -> const float* {
    return k < ctx.grad_out.size() && ctx.grad_out[k].defined() ? ctx.grad_out[k].data<float>() : nullptr;
  };
  const float* dy = grad(0);
  const float* px = x.data<float>();
  const float* scale = ctx.in[1].data<float>();
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  Tensor dscale = Tensor::zeros(DType::kF32, ctx.in[1].shape()), db = Tensor::zeros(DType::kF32, ctx.in[2].shape());
  Tensor dmean = Tensor::zeros(DType::kF32, ctx.in[3].shape()), dvar = Tensor::zeros(DType::kF32, ctx.in[4].shape());
  float* pdx = dx.data<float>();
  const float m = static_cast<float>(d.n * d.inner);
  for (int64_t c = 0; c < d.c; ++c) {
    const float mu = batch ? ctx.saved[0].data<float>()[c] : ctx.in[3].data<float>()[c];
    const float istd = batch ? ctx.saved[1].data<float>()[c] : 1.f / std::sqrt(ctx.in[4].data<float>()[c] + eps);
    auto at = [&](int64_t n, int64_t i) { return (n * d.c + c) * d.inner + i; };
    float sum_dy = 0.f, sum_dy_xhat = 0.f;
    if (dy)
      for (int64_t n = 0; n < d.n; ++n)
        for (int64_t i = 0; i < d.inner; ++i) {
          sum_dy += dy[at(n, i)];
          sum_dy_xhat += dy[at(n, i)] * (px[at(n, i)] - mu) * istd;
        }
    db.data<float>()[c] = sum_dy;
    dscale.data<float>()[c] = sum_dy_xhat;
    if (!batch) {
      for (int64_t n = 0; n < d.n && dy; ++n)
        for (int64_t i = 0; i < d.inner; ++i) pdx[at(n, i)] = dy[at(n, i)] * scale[c] * istd;
      dmean.data<float>()[c] = -sum_dy * scale[c] * istd;
      dvar.data<float>()[c] = -0.5f * istd * istd * scale[c] * sum_dy_xhat;
      continue;
    }
    // Coefficients of dX = a * dY + b + k * (X - mu), collecting every path into mu and sigma2.
    float b = -scale[c] * istd * sum_dy / m;
    float k = -scale[c] * istd * istd * sum_dy_xhat / m;
    if (const float* g = grad(1)) {
      b += (1.f - momentum) * g[c] / m;
      dmean.data<float>()[c] = momentum * g[c];
    }
    if (const float* g = grad(2)) {
      k += (1.f - momentum) * g[c] * 2.f / m;
      dvar.data<float>()[c] = momentum * g[c];
    }
    if (const float* g = grad(3)) b += g[c] / m;
    if (const float* g = grad(4)) k += g[c] * 2.f / m;
    for (int64_t n = 0; n < d.n; ++n)
      for (int64_t i = 0; i < d.inner; ++i)
        pdx[at(n, i)] = (dy ? dy[at(n, i)] * scale[c] * istd : 0.f) + b + k * (px[at(n, i)] - mu);
  }
  ctx.grad_in[0] = dx;
  ctx.grad_in[1] = dscale;
  ctx.grad_in[2] = db;
  ctx.grad_in[3] = dmean;
  ctx.grad_in[4] = dvar;
}

extern const OpDef kOpDef{.name = "BatchNormalization", .min_opset = 7, .max_opset = 18,
                          .forward = batch_norm_f32_nchw_ref, .backward = batch_norm_f32_grad_fast,
                          .forward_fast = batch_norm_f32_nchw_fast, .backward_ref = batch_norm_f32_grad};

}  // namespace edgeopt::kernels::ops::batch_norm

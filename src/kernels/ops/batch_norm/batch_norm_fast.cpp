#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/batch_norm/batch_norm_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "kernels/microkernels/eltwise/eltwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::batch_norm {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace ew = eltwise::HWY_NAMESPACE;

// The plane's sum and its sum of squared deviations from the plane mean: two passes, the second
// over data still in cache, so the caller can combine planes (Chan et al.) after one pass over X.
void PlaneMoments(const float* x, int64_t n, double* sum, double* m2) {
  *sum = ew::SumMap2(x, nullptr, n, [](auto, auto v, auto) { return v; });
  const float mean = static_cast<float>(*sum / static_cast<double>(n));
  *m2 = ew::SumMap2(x, nullptr, n, [mean](auto d, auto v, auto) {
    const auto t = hn::Sub(v, hn::Set(d, mean));
    return hn::Mul(t, t);
  });
}

// y = (x - mu) * a + b
void PlaneAffine(const float* x, float* y, int64_t n, float mu, float a, float b) {
  ew::Map1(x, y, n, [=](auto d, auto v) { return hn::MulAdd(hn::Sub(v, hn::Set(d, mu)), hn::Set(d, a), hn::Set(d, b)); });
}

// sum dy and sum dy * (x - mu)
void PlaneGradSums(const float* x, const float* dy, int64_t n, float mu, double* sum_dy, double* sum_dy_xc) {
  *sum_dy = ew::SumMap2(dy, nullptr, n, [](auto, auto g, auto) { return g; });
  *sum_dy_xc = ew::SumMap2(x, dy, n, [mu](auto d, auto v, auto g) { return hn::Mul(g, hn::Sub(v, hn::Set(d, mu))); });
}

// dx = a * dy + b + k * (x - mu); dy may be null (no gradient reached Y).
void PlaneGradApply(const float* x, const float* dy, float* dx, int64_t n, float mu, float a, float b, float k) {
  if (!dy) {
    ew::Map1(x, dx, n, [=](auto d, auto v) { return hn::MulAdd(hn::Set(d, k), hn::Sub(v, hn::Set(d, mu)), hn::Set(d, b)); });
    return;
  }
  ew::Map2(x, dy, dx, n, [=](auto d, auto v, auto g) {
    const auto lin = hn::MulAdd(hn::Set(d, k), hn::Sub(v, hn::Set(d, mu)), hn::Set(d, b));
    return hn::MulAdd(hn::Set(d, a), g, lin);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::batch_norm
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <cmath>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/ops/batch_norm/batch_norm_fast.h"

namespace edgeopt::kernels::ops::batch_norm {

HWY_EXPORT(PlaneMoments);
HWY_EXPORT(PlaneAffine);
HWY_EXPORT(PlaneGradSums);
HWY_EXPORT(PlaneGradApply);

namespace {

bool named(const Node& node, size_t i) { return node.outputs.size() > i && !node.outputs[i].empty(); }

// fn(plane, channel) over the n*c planes, split over the pool with enough elements per task.
template <typename F>
void for_planes(const BnDims& d, F&& fn) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, d.inner));
  parallel_for(
      d.n * d.c,
      [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) fn(p, p % d.c);
      },
      grain);
}

}  // namespace

void batch_norm_f32_nchw_fast(ForwardCtx& ctx) {
  for (size_t i = 0; i < 5; ++i) require_f32(ctx, i);
  const Tensor& x = ctx.in[0];
  const BnDims d = bn_dims(ctx.node, x.shape(), ctx.in, ctx.opset);
  const bool batch = uses_batch_stats(ctx);
  // spatial=0 and empty batches (an error in training) keep the reference's behaviour.
  if (!d.spatial || x.numel() == 0) return batch_norm_f32_nchw_ref(ctx);
  const float eps = ctx.node.attr_float("epsilon", 1e-5f);
  const float momentum = ctx.node.attr_float("momentum", 0.9f);
  EDGEOPT_CHECK_ARG(eps >= 0.f, "attribute epsilon is " + std::to_string(eps) + ", must be >= 0");
  const float* px = x.data<float>();
  const float* scale = ctx.in[1].data<float>();
  const float* bias = ctx.in[2].data<float>();
  const float* in_mean = ctx.in[3].data<float>();
  const float* in_var = ctx.in[4].data<float>();
  Tensor mu(DType::kF32, d.param), var(DType::kF32, d.param), istd(DType::kF32, d.param);
  float* pmu = mu.data<float>();
  float* pvar = var.data<float>();
  float* pistd = istd.data<float>();
  if (batch) {
    // Per-plane (sum, M2), combined per channel: M2 = sum_p M2_p + inner * (mean_p - mean)^2.
    const double m = static_cast<double>(d.n * d.inner), inner = static_cast<double>(d.inner);
    std::vector<double> psum(static_cast<size_t>(d.n * d.c)), pm2(static_cast<size_t>(d.n * d.c));
    for_planes(d, [&](int64_t p, int64_t) {
      HWY_DYNAMIC_DISPATCH(PlaneMoments)(px + p * d.inner, d.inner, &psum[p], &pm2[p]);
    });
    for (int64_t c = 0; c < d.c; ++c) {
      double s = 0;
      for (int64_t n = 0; n < d.n; ++n) s += psum[n * d.c + c];
      const double mean = s / m;
      double m2 = 0;
      for (int64_t n = 0; n < d.n; ++n) {
        const double dev = psum[n * d.c + c] / inner - mean;
        m2 += pm2[n * d.c + c] + inner * dev * dev;
      }
      pmu[c] = static_cast<float>(mean);
      pvar[c] = static_cast<float>(m2 / m);
    }
  } else {
    std::copy(in_mean, in_mean + d.c, pmu);
    std::copy(in_var, in_var + d.c, pvar);
  }
  for (int64_t c = 0; c < d.c; ++c) pistd[c] = 1.f / std::sqrt(pvar[c] + eps);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  float* py = y.data<float>();
  for_planes(d, [&](int64_t p, int64_t c) {
    HWY_DYNAMIC_DISPATCH(PlaneAffine)(px + p * d.inner, py + p * d.inner, d.inner, pmu[c], scale[c] * pistd[c], bias[c]);
  });
  for (size_t k = 1; k <= 2; ++k) {
    if (!named(ctx.node, k)) continue;
    const float* running = k == 1 ? in_mean : in_var;
    const float* cur = k == 1 ? pmu : pvar;
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

void batch_norm_f32_grad_fast(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  // As the reference: the parameter shape tells spatial=0 apart (that case runs the reference).
  const bool spatial = x.rank() == 2 || (x.rank() >= 2 && ctx.in.size() > 1 && ctx.in[1].numel() == x.shape()[1]);
  if (!spatial || x.dtype() != DType::kF32 || x.numel() == 0) return batch_norm_f32_grad(ctx);
  const BnDims d = bn_dims(ctx.node, x.shape(), ctx.in, 9);
  const float eps = ctx.node.attr_float("epsilon", 1e-5f);
  const float momentum = ctx.node.attr_float("momentum", 0.9f);
  const bool batch = ctx.saved.size() >= 2;
  auto grad = [&](size_t k) -> const float* {
    return k < ctx.grad_out.size() && ctx.grad_out[k].defined() ? ctx.grad_out[k].data<float>() : nullptr;
  };
  const float* dy = grad(0);
  const float* px = x.data<float>();
  const float* scale = ctx.in[1].data<float>();
  std::vector<float> mu(static_cast<size_t>(d.c)), istd(static_cast<size_t>(d.c));
  for (int64_t c = 0; c < d.c; ++c) {
    mu[c] = batch ? ctx.saved[0].data<float>()[c] : ctx.in[3].data<float>()[c];
    istd[c] = batch ? ctx.saved[1].data<float>()[c] : 1.f / std::sqrt(ctx.in[4].data<float>()[c] + eps);
  }
  const int64_t planes = d.n * d.c;
  std::vector<double> part_dy(static_cast<size_t>(planes), 0.0), part_dyx(static_cast<size_t>(planes), 0.0);
  if (dy)
    for_planes(d, [&](int64_t p, int64_t c) {
      HWY_DYNAMIC_DISPATCH(PlaneGradSums)(px + p * d.inner, dy + p * d.inner, d.inner, mu[c], &part_dy[p], &part_dyx[p]);
    });
  Tensor dscale(DType::kF32, ctx.in[1].shape()), db(DType::kF32, ctx.in[2].shape());
  Tensor dmean = Tensor::zeros(DType::kF32, ctx.in[3].shape()), dvar = Tensor::zeros(DType::kF32, ctx.in[4].shape());
  const float m = static_cast<float>(d.n * d.inner);
  // dX = a * dY + b + k * (X - mu), per channel.
  std::vector<float> ca(static_cast<size_t>(d.c)), cb(static_cast<size_t>(d.c)), ck(static_cast<size_t>(d.c));
  for (int64_t c = 0; c < d.c; ++c) {
    double s = 0, sx = 0;
    for (int64_t n = 0; n < d.n; ++n) {
      s += part_dy[n * d.c + c];
      sx += part_dyx[n * d.c + c];
    }
    const float sum_dy = static_cast<float>(s);
    const float sum_dy_xhat = static_cast<float>(sx * istd[c]);
    db.data<float>()[c] = sum_dy;
    dscale.data<float>()[c] = sum_dy_xhat;
    ca[c] = scale[c] * istd[c];
    cb[c] = 0.f;
    ck[c] = 0.f;
    if (!batch) {
      dmean.data<float>()[c] = -sum_dy * scale[c] * istd[c];
      dvar.data<float>()[c] = -0.5f * istd[c] * istd[c] * scale[c] * sum_dy_xhat;
      continue;
    }
    cb[c] = -scale[c] * istd[c] * sum_dy / m;
    ck[c] = -scale[c] * istd[c] * istd[c] * sum_dy_xhat / m;
    if (const float* g = grad(1)) {
      cb[c] += (1.f - momentum) * g[c] / m;
      dmean.data<float>()[c] = momentum * g[c];
    }
    if (const float* g = grad(2)) {
      ck[c] += (1.f - momentum) * g[c] * 2.f / m;
      dvar.data<float>()[c] = momentum * g[c];
    }
    if (const float* g = grad(3)) cb[c] += g[c] / m;
    if (const float* g = grad(4)) ck[c] += g[c] * 2.f / m;
  }
  Tensor dx(DType::kF32, x.shape());
  float* pdx = dx.data<float>();
  for_planes(d, [&](int64_t p, int64_t c) {
    HWY_DYNAMIC_DISPATCH(PlaneGradApply)(px + p * d.inner, dy ? dy + p * d.inner : nullptr, pdx + p * d.inner, d.inner,
                                         mu[c], dy ? ca[c] : 0.f, cb[c], ck[c]);
  });
  ctx.grad_in[0] = dx;
  ctx.grad_in[1] = dscale;
  ctx.grad_in[2] = db;
  ctx.grad_in[3] = dmean;
  ctx.grad_in[4] = dvar;
}

}  // namespace edgeopt::kernels::ops::batch_norm
#endif  // HWY_ONCE

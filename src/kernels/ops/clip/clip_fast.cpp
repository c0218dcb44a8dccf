#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/clip/clip_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "kernels/microkernels/eltwise/eltwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::clip {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace ew = eltwise::HWY_NAMESPACE;

// Selects rather than Min/Max so NaN and lo > hi behave exactly as the reference.
void ClipF32(const float* x, float* y, int64_t n, float lo, float hi) {
  ew::Map1(x, y, n, [lo, hi](auto d, auto v) {
    const auto vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
    const auto t = hn::IfThenElse(hn::Lt(v, vlo), vlo, v);
    return hn::IfThenElse(hn::Gt(t, vhi), vhi, t);
  });
}

void ClipGradF32(const float* x, const float* dy, float* dx, int64_t n, float lo, float hi, bool sums,
                 double* dlo, double* dhi) {
  ew::Map2(x, dy, dx, n, [lo, hi](auto d, auto v, auto g) {
    const auto vlo = hn::Set(d, lo);
    const auto below = hn::Lt(v, vlo);
    const auto above = hn::Gt(hn::IfThenElse(below, vlo, v), hn::Set(d, hi));
    return hn::IfThenZeroElse(hn::Or(below, above), g);
  });
  if (!sums) return;
  *dhi = ew::SumMap2(x, dy, n, [lo, hi](auto d, auto v, auto g) {
    const auto vlo = hn::Set(d, lo);
    return hn::IfThenElseZero(hn::Gt(hn::IfThenElse(hn::Lt(v, vlo), vlo, v), hn::Set(d, hi)), g);
  });
  *dlo = ew::SumMap2(x, dy, n, [lo, hi](auto d, auto v, auto g) {
    const auto vlo = hn::Set(d, lo);
    const auto below = hn::Lt(v, vlo);
    const auto above = hn::Gt(hn::IfThenElse(below, vlo, v), hn::Set(d, hi));
    return hn::IfThenElseZero(hn::AndNot(above, below), g);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::clip
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <limits>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/ops/clip/clip_fast.h"

namespace edgeopt::kernels::ops::clip {

HWY_EXPORT(ClipF32);
HWY_EXPORT(ClipGradF32);

namespace {
constexpr int64_t kGrain = 16384;
}

void clip_fast(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  if (x.dtype() != DType::kF32) return clip_any_ref(ctx);
  float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
  if (const Tensor* t = bound_input(ctx, 1))
    lo = t->data<float>()[0];
  else if (ctx.node.has_attr("min"))
    lo = ctx.node.attr_float("min", 0.f);
  if (const Tensor* t = bound_input(ctx, 2))
    hi = t->data<float>()[0];
  else if (ctx.node.has_attr("max"))
    hi = ctx.node.attr_float("max", 0.f);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(
      x.numel(), [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(ClipF32)(px + b, py + b, e - b, lo, hi); }, kGrain);
}

void clip_f32_grad_fast(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || x.dtype() != DType::kF32) return;
  const bool has_lo = ctx.in.size() > 1 && ctx.in[1].defined();
  const bool has_hi = ctx.in.size() > 2 && ctx.in[2].defined();
  float lo = std::numeric_limits<float>::lowest(), hi = std::numeric_limits<float>::max();
  if (has_lo)
    lo = ctx.in[1].data<float>()[0];
  else if (ctx.node.has_attr("min"))
    lo = ctx.node.attr_float("min", 0.f);
  if (has_hi)
    hi = ctx.in[2].data<float>()[0];
  else if (ctx.node.has_attr("max"))
    hi = ctx.node.attr_float("max", 0.f);
  const float* px = x.data<float>();
  const float* pdy = ctx.grad_out[0].data<float>();
  Tensor dx(DType::kF32, x.shape());
  float* pdx = dx.data<float>();
  const int64_t n = x.numel();
  ThreadPool& pool = default_pool();
  const int64_t chunks = n > 0 ? pool.num_chunks(n, kGrain) : 0;
  std::vector<double> plo(static_cast<size_t>(chunks), 0.0), phi(static_cast<size_t>(chunks), 0.0);
  pool.parallel_for(chunks, [&](int64_t cb, int64_t ce) {
    for (int64_t c = cb; c < ce; ++c) {
      int64_t b, e;
      ThreadPool::chunk_bounds(n, kGrain, chunks, c, &b, &e);
      HWY_DYNAMIC_DISPATCH(ClipGradF32)(px + b, pdy + b, pdx + b, e - b, lo, hi, has_lo || has_hi, &plo[c], &phi[c]);
    }
  });
  ctx.grad_in[0] = dx;
  auto scalar_like = [](const Tensor& t, const std::vector<double>& parts) {
    double s = 0;
    for (double v : parts) s += v;
    Tensor g(DType::kF32, t.shape());
    g.data<float>()[0] = static_cast<float>(s);
    return g;
  };
  if (has_lo) ctx.grad_in[1] = scalar_like(ctx.in[1], plo);
  if (has_hi) ctx.grad_in[2] = scalar_like(ctx.in[2], phi);
}

}  // namespace edgeopt::kernels::ops::clip
#endif  // HWY_ONCE

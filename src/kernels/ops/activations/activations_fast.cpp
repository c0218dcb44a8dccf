#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/activations/activations_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include "kernels/microkernels/eltwise/eltwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::activations {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace ew = eltwise::HWY_NAMESPACE;

// Forward: y = f(x); params a, b are the op's alpha/beta where it has them.
void LeakyReluF32(const float* x, float* y, int64_t n, float a, float) {
  ew::Map1(x, y, n, [a](auto d, auto v) {
    return hn::IfThenElse(hn::Ge(v, hn::Zero(d)), v, hn::Mul(hn::Set(d, a), v));
  });
}
void SigmoidF32(const float* x, float* y, int64_t n, float, float) {
  ew::Map1(x, y, n, [](auto d, auto v) {
    const auto one = hn::Set(d, 1.f);
    const auto e = hn::Exp(d, hn::Neg(hn::Abs(v)));  // in (0, 1]: never overflows
    const auto s = hn::Div(one, hn::Add(one, e));
    return hn::IfThenElse(hn::Ge(v, hn::Zero(d)), s, hn::Mul(e, s));
  });
}
void TanhF32(const float* x, float* y, int64_t n, float, float) {
  ew::Map1(x, y, n, [](auto d, auto v) { return hn::Tanh(d, v); });
}
void HardSigmoidF32(const float* x, float* y, int64_t n, float a, float b) {
  ew::Map1(x, y, n, [a, b](auto d, auto v) {
    const auto t = hn::Add(hn::Mul(hn::Set(d, a), v), hn::Set(d, b));
    return hn::Min(hn::Set(d, 1.f), hn::Max(hn::Zero(d), t));
  });
}
void HardSwishF32(const float* x, float* y, int64_t n, float, float) {
  ew::Map1(x, y, n, [](auto d, auto v) {
    const auto t = hn::Add(hn::Div(v, hn::Set(d, 6.f)), hn::Set(d, 0.5f));
    return hn::Mul(v, hn::Min(hn::Set(d, 1.f), hn::Max(hn::Zero(d), t)));
  });
}

// Backward: dx = dy * f'(.), from x (LeakyRelu, HardSigmoid, HardSwish) or y (Sigmoid, Tanh).
void LeakyReluGradF32(const float* x, const float* dy, float* dx, int64_t n, float a, float) {
  ew::Map2(x, dy, dx, n, [a](auto d, auto v, auto g) {
    return hn::IfThenElse(hn::Gt(v, hn::Zero(d)), g, hn::Mul(g, hn::Set(d, a)));
  });
}
void SigmoidGradF32(const float* y, const float* dy, float* dx, int64_t n, float, float) {
  ew::Map2(y, dy, dx, n, [](auto d, auto v, auto g) { return hn::Mul(g, hn::Mul(v, hn::Sub(hn::Set(d, 1.f), v))); });
}
void TanhGradF32(const float* y, const float* dy, float* dx, int64_t n, float, float) {
  ew::Map2(y, dy, dx, n, [](auto d, auto v, auto g) { return hn::Mul(g, hn::Sub(hn::Set(d, 1.f), hn::Mul(v, v))); });
}
void HardSigmoidGradF32(const float* x, const float* dy, float* dx, int64_t n, float a, float b) {
  ew::Map2(x, dy, dx, n, [a, b](auto d, auto v, auto g) {
    const auto t = hn::Add(hn::Mul(hn::Set(d, a), v), hn::Set(d, b));
    const auto inside = hn::And(hn::Gt(t, hn::Zero(d)), hn::Lt(t, hn::Set(d, 1.f)));
    return hn::IfThenElseZero(inside, hn::Mul(g, hn::Set(d, a)));
  });
}
void HardSwishGradF32(const float* x, const float* dy, float* dx, int64_t n, float, float) {
  ew::Map2(x, dy, dx, n, [](auto d, auto v, auto g) {
    const auto mid = hn::Mul(g, hn::Add(hn::Div(v, hn::Set(d, 3.f)), hn::Set(d, 0.5f)));
    const auto r = hn::IfThenElse(hn::Ge(v, hn::Set(d, 3.f)), g, mid);
    return hn::IfThenElseZero(hn::Gt(v, hn::Set(d, -3.f)), r);
  });
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::activations
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/ops/activations/activations_fast.h"

namespace edgeopt::kernels::ops {
namespace activations {

HWY_EXPORT(LeakyReluF32);
HWY_EXPORT(SigmoidF32);
HWY_EXPORT(TanhF32);
HWY_EXPORT(HardSigmoidF32);
HWY_EXPORT(HardSwishF32);
HWY_EXPORT(LeakyReluGradF32);
HWY_EXPORT(SigmoidGradF32);
HWY_EXPORT(TanhGradF32);
HWY_EXPORT(HardSigmoidGradF32);
HWY_EXPORT(HardSwishGradF32);

namespace {

constexpr int64_t kGrain = 16384;
using UnaryFn = void (*)(const float*, float*, int64_t, float, float);
using GradFn = void (*)(const float*, const float*, float*, int64_t, float, float);

void forward_fast(ForwardCtx& ctx, UnaryFn fn, float a = 0.f, float b = 0.f) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(x.numel(), [&](int64_t lo, int64_t hi) { fn(px + lo, py + lo, hi - lo, a, b); }, kGrain);
}

// from_output: the derivative is read from y (Sigmoid, Tanh) rather than x.
void grad_fast(BackwardCtx& ctx, GradFn fn, bool from_output, float a = 0.f, float b = 0.f) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined()) return;
  const Tensor& x = ctx.in[0];
  const float* src = from_output ? ctx.out[0].data<float>() : x.data<float>();
  const float* pdy = ctx.grad_out[0].data<float>();
  Tensor dx(DType::kF32, x.shape());
  float* pdx = dx.data<float>();
  parallel_for(x.numel(), [&](int64_t lo, int64_t hi) { fn(src + lo, pdy + lo, pdx + lo, hi - lo, a, b); }, kGrain);
  ctx.grad_in[0] = dx;
}

}  // namespace
}  // namespace activations

using activations::forward_fast;
using activations::grad_fast;

namespace leaky_relu {
void leaky_relu_f32_fast(ForwardCtx& ctx) {
  forward_fast(ctx, HWY_DYNAMIC_DISPATCH(activations::LeakyReluF32), ctx.node.attr_float("alpha", 0.01f));
}
void leaky_relu_f32_grad_fast(BackwardCtx& ctx) {
  grad_fast(ctx, HWY_DYNAMIC_DISPATCH(activations::LeakyReluGradF32), false, ctx.node.attr_float("alpha", 0.01f));
}
}  // namespace leaky_relu

namespace sigmoid {
void sigmoid_f32_fast(ForwardCtx& ctx) { forward_fast(ctx, HWY_DYNAMIC_DISPATCH(activations::SigmoidF32)); }
void sigmoid_f32_grad_fast(BackwardCtx& ctx) {
  grad_fast(ctx, HWY_DYNAMIC_DISPATCH(activations::SigmoidGradF32), true);
}
}  // namespace sigmoid

namespace tanh {
void tanh_f32_fast(ForwardCtx& ctx) { forward_fast(ctx, HWY_DYNAMIC_DISPATCH(activations::TanhF32)); }
void tanh_f32_grad_fast(BackwardCtx& ctx) { grad_fast(ctx, HWY_DYNAMIC_DISPATCH(activations::TanhGradF32), true); }
}  // namespace tanh

namespace hard_sigmoid {
void hard_sigmoid_f32_fast(ForwardCtx& ctx) {
  forward_fast(ctx, HWY_DYNAMIC_DISPATCH(activations::HardSigmoidF32), ctx.node.attr_float("alpha", 0.2f),
               ctx.node.attr_float("beta", 0.5f));
}
void hard_sigmoid_f32_grad_fast(BackwardCtx& ctx) {
  grad_fast(ctx, HWY_DYNAMIC_DISPATCH(activations::HardSigmoidGradF32), false, ctx.node.attr_float("alpha", 0.2f),
            ctx.node.attr_float("beta", 0.5f));
}
}  // namespace hard_sigmoid

namespace hard_swish {
void hard_swish_f32_fast(ForwardCtx& ctx) { forward_fast(ctx, HWY_DYNAMIC_DISPATCH(activations::HardSwishF32)); }
void hard_swish_f32_grad_fast(BackwardCtx& ctx) {
  grad_fast(ctx, HWY_DYNAMIC_DISPATCH(activations::HardSwishGradF32), false);
}
}  // namespace hard_swish

}  // namespace edgeopt::kernels::ops
#endif  // HWY_ONCE

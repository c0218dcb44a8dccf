#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/relu/relu_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "kernels/microkernels/eltwise/eltwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::relu {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace ew = eltwise::HWY_NAMESPACE;

void ReluF32(const float* x, float* y, int64_t n) {
  ew::Map1(x, y, n, [](auto d, auto v) { return hn::Max(v, hn::Zero(d)); });
}

void ReluGradF32(const float* x, const float* dy, float* dx, int64_t n) {
  ew::Map2(x, dy, dx, n, [](auto d, auto v, auto g) { return hn::IfThenElseZero(hn::Gt(v, hn::Zero(d)), g); });
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::relu
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/ops/relu/relu_fast.h"

namespace edgeopt::kernels::ops::relu {

HWY_EXPORT(ReluF32);
HWY_EXPORT(ReluGradF32);

namespace {
constexpr int64_t kGrain = 16384;  // elements per task: far above the pool's wake-up cost
}

void relu_f32_fast(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(
      x.numel(), [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(ReluF32)(px + b, py + b, e - b); }, kGrain);
}

void relu_f32_grad_fast(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined()) return;
  const Tensor& x = ctx.in[0];
  Tensor dx(DType::kF32, x.shape());
  const float* px = x.data<float>();
  const float* pdy = ctx.grad_out[0].data<float>();
  float* pdx = dx.data<float>();
  parallel_for(
      x.numel(), [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(ReluGradF32)(px + b, pdy + b, pdx + b, e - b); },
      kGrain);
  ctx.grad_in[0] = dx;
}

}  // namespace edgeopt::kernels::ops::relu
#endif  // HWY_ONCE

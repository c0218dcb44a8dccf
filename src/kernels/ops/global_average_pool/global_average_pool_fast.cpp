#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/global_average_pool/global_average_pool_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "kernels/microkernels/eltwise/eltwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::global_average_pool {
namespace HWY_NAMESPACE {
namespace ew = eltwise::HWY_NAMESPACE;

namespace hn = hwy::HWY_NAMESPACE;

// Sum of one plane: f32 lanes per 4096-element block, blocks added in double.
double PlaneSum(const float* x, int64_t n) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
  if (n <= 4096) {
    // Small planes (MobileNetV2's 1280 of 7x7, ResNet-18's 512): the general loop's scalar tail
    // and dispatch per plane cost more than the sum (1280 x 49: 14 -> 5 us). The tail is a masked
    // load (AVX2/AVX-512 never touch masked-off lanes).
    const hn::ScalableTag<float> d;
    const int64_t L = static_cast<int64_t>(hn::Lanes(d));
    auto s0 = hn::Zero(d), s1 = hn::Zero(d);
    int64_t i = 0;
    for (; i + 2 * L <= n; i += 2 * L) {
      s0 = hn::Add(s0, hn::LoadU(d, x + i));
      s1 = hn::Add(s1, hn::LoadU(d, x + i + L));
    }
    for (; i < n; i += L) s0 = hn::Add(s0, hn::MaskedLoad(hn::FirstN(d, static_cast<size_t>(n - i)), d, x + i));
    return static_cast<double>(hn::GetLane(hn::SumOfLanes(d, hn::Add(s0, s1))));
  }
#endif
  double s = 0;
  for (int64_t i = 0; i < n; i += 4096)
    s += ew::SumMap2(x + i, nullptr, n - i < 4096 ? n - i : 4096, [](auto, auto v, auto) { return v; });
  return s;
}

// y[p] = mean of plane p (sz elements each) for p in [p0, p1).
void PlaneMeans(const float* x, int64_t sz, int64_t p0, int64_t p1, float* y) {
  for (int64_t p = p0; p < p1; ++p) y[p] = static_cast<float>(PlaneSum(x + p * sz, sz) / static_cast<double>(sz));
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::global_average_pool
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/ops/global_average_pool/global_average_pool_fast.h"

namespace edgeopt::kernels::ops::global_average_pool {

HWY_EXPORT(PlaneMeans);

void global_average_pool_f32_fast(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  if (x.rank() < 2 || x.numel() == 0) return global_average_pool_f32_ref(ctx);  // errors and empty planes
  std::vector<int64_t> y_dims(x.rank(), 1);
  y_dims[0] = x.shape()[0];
  y_dims[1] = x.shape()[1];
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(y_dims));
  const int64_t planes = x.shape()[0] * x.shape()[1], sz = x.numel() / planes;
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(
      planes,
      [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(PlaneMeans)(px, sz, b, e, py); },
      std::max<int64_t>(1, 16384 / sz));
}

void global_average_pool_f32_grad_fast(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& x = ctx.in[0];
  if (x.numel() == 0) return global_average_pool_f32_grad(ctx);
  Tensor dx(DType::kF32, x.shape());
  const int64_t planes = x.shape()[0] * x.shape()[1], sz = x.numel() / planes;
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  parallel_for(
      planes,
      [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) std::fill(pdx + p * sz, pdx + (p + 1) * sz, pdy[p] / static_cast<float>(sz));
      },
      std::max<int64_t>(1, 16384 / sz));
  ctx.grad_in[0] = dx;
}

}  // namespace edgeopt::kernels::ops::global_average_pool
#endif  // HWY_ONCE

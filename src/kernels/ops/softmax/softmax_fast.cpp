#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/softmax/softmax_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include "kernels/microkernels/eltwise/eltwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::softmax {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace ew = eltwise::HWY_NAMESPACE;

// rows x [rows, n] -> y: exp(x - max) / sum.
void SoftmaxRows(const float* x, float* y, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    float* yr = y + r * n;
    const float mx = ew::RowMax(xr, n);
    ew::Map1(xr, yr, n, [mx](auto d, auto v) { return hn::Exp(d, hn::Sub(v, hn::Set(d, mx))); });
    const float sum = static_cast<float>(ew::SumMap2(yr, nullptr, n, [](auto, auto v, auto) { return v; }));
    ew::Map1(yr, yr, n, [sum](auto d, auto v) { return hn::Div(v, hn::Set(d, sum)); });
  }
}

// dx = y * (dy - sum(dy * y)) per row.
void SoftmaxGradRows(const float* y, const float* dy, float* dx, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* yr = y + r * n;
    const float* gr = dy + r * n;
    const float dot = static_cast<float>(ew::SumMap2(yr, gr, n, [](auto, auto v, auto g) { return hn::Mul(v, g); }));
    ew::Map2(yr, gr, dx + r * n, n, [dot](auto d, auto v, auto g) { return hn::Mul(v, hn::Sub(g, hn::Set(d, dot))); });
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::softmax
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/ops/softmax/softmax.h"

namespace edgeopt::kernels::ops::softmax {

HWY_EXPORT(SoftmaxRows);
HWY_EXPORT(SoftmaxGradRows);

namespace {
int64_t row_grain(int64_t n) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n)); }
}  // namespace

void softmax_f32_fast(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  const SoftmaxLayout l = softmax_layout(ctx.node, x.shape(), ctx.opset);
  if (l.inner != 1 || l.n == 0) return softmax_f32_ref(ctx);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(
      l.outer,
      [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(SoftmaxRows)(px + b * l.n, py + b * l.n, e - b, l.n); },
      row_grain(l.n));
  if (ctx.saved) ctx.saved->push_back(softmax_layout_to_tensor(l));
}

void softmax_f32_grad_fast(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& y = ctx.out[0];
  const SoftmaxLayout l = softmax_layout_for_backward(ctx.node, y.shape(), ctx.saved);
  if (l.inner != 1 || l.n == 0) return softmax_f32_grad(ctx);
  Tensor dx(DType::kF32, y.shape());
  const float* py = y.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  parallel_for(
      l.outer,
      [&](int64_t b, int64_t e) {
        HWY_DYNAMIC_DISPATCH(SoftmaxGradRows)(py + b * l.n, pdy + b * l.n, pdx + b * l.n, e - b, l.n);
      },
      row_grain(l.n));
  ctx.grad_in[0] = dx;
}

}  // namespace edgeopt::kernels::ops::softmax
#endif  // HWY_ONCE

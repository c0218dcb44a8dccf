#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/log_softmax/log_softmax_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

#include "kernels/microkernels/eltwise/eltwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::log_softmax {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace ew = eltwise::HWY_NAMESPACE;

// y = x - max - log(sum exp(x - max)) per row of n.
void LogSoftmaxRows(const float* x, float* y, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* xr = x + r * n;
    const float mx = ew::RowMax(xr, n);
    const double sum = ew::SumMap2(xr, nullptr, n, [mx](auto d, auto v, auto) {
      return hn::Exp(d, hn::Sub(v, hn::Set(d, mx)));
    });
    const float shift = mx + std::log(static_cast<float>(sum));
    ew::Map1(xr, y + r * n, n, [shift](auto d, auto v) { return hn::Sub(v, hn::Set(d, shift)); });
  }
}

// dx = dy - exp(y) * sum(dy) per row.
void LogSoftmaxGradRows(const float* y, const float* dy, float* dx, int64_t rows, int64_t n) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* gr = dy + r * n;
    const float sum = static_cast<float>(ew::SumMap2(gr, nullptr, n, [](auto, auto g, auto) { return g; }));
    ew::Map2(y + r * n, gr, dx + r * n, n, [sum](auto d, auto v, auto g) {
      return hn::NegMulAdd(hn::Exp(d, v), hn::Set(d, sum), g);
    });
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::log_softmax
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/ops/log_softmax/log_softmax_fast.h"
#include "kernels/ops/softmax/softmax.h"

namespace edgeopt::kernels::ops::log_softmax {

HWY_EXPORT(LogSoftmaxRows);
HWY_EXPORT(LogSoftmaxGradRows);

namespace {
int64_t row_grain(int64_t n) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(1, n)); }
}  // namespace

void log_softmax_f32_fast(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  const softmax::SoftmaxLayout l = softmax::softmax_layout(ctx.node, x.shape(), ctx.opset);
  if (l.inner != 1 || l.n == 0) return log_softmax_f32_ref(ctx);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(
      l.outer,
      [&](int64_t b, int64_t e) { HWY_DYNAMIC_DISPATCH(LogSoftmaxRows)(px + b * l.n, py + b * l.n, e - b, l.n); },
      row_grain(l.n));
  if (ctx.saved) ctx.saved->push_back(softmax::softmax_layout_to_tensor(l));
}

void log_softmax_f32_grad_fast(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& y = ctx.out[0];
  const softmax::SoftmaxLayout l = softmax::softmax_layout_for_backward(ctx.node, y.shape(), ctx.saved);
  if (l.inner != 1 || l.n == 0) return log_softmax_f32_grad(ctx);
  Tensor dx(DType::kF32, y.shape());
  const float* py = y.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  parallel_for(
      l.outer,
      [&](int64_t b, int64_t e) {
        HWY_DYNAMIC_DISPATCH(LogSoftmaxGradRows)(py + b * l.n, pdy + b * l.n, pdx + b * l.n, e - b, l.n);
      },
      row_grain(l.n));
  ctx.grad_in[0] = dx;
}

}  // namespace edgeopt::kernels::ops::log_softmax
#endif  // HWY_ONCE

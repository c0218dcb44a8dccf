#include "kernels/ops/averagepool/averagepool_fast.h"

#include <algorithm>

#include "core/thread_pool.h"
#include "kernels/common.h"

namespace edgeopt::kernels::ops::averagepool {
namespace {

using conv::Window;

// Valid tap range [lo, hi) of every output position along one dim.
void tap_ranges(int64_t out, int64_t in, int64_t k, int64_t s, int64_t p, int64_t d, std::vector<int64_t>& lo,
                std::vector<int64_t>& hi) {
  lo.resize(static_cast<size_t>(out));
  hi.resize(static_cast<size_t>(out));
  for (int64_t o = 0; o < out; ++o) {
    const int64_t start = o * s - p;
    int64_t a = 0, b = k;
    while (a < k && start + a * d < 0) ++a;
    while (b > a && start + (b - 1) * d >= in) --b;
    lo[o] = a;
    hi[o] = b;
  }
}

struct Plane2d {
  int64_t ih, iw, oh, ow, sh, sw, ph, pw, dh, dw;
  std::vector<int64_t> ky0, ky1, kx0, kx1;
};

Plane2d plane_geometry(const Window& w) {
  Plane2d g{w.big[1], w.big[2], w.small[1], w.small[2], w.stride[1], w.stride[2], w.pad_begin[1], w.pad_begin[2],
            w.dilation[1], w.dilation[2], {}, {}, {}, {}};
  tap_ranges(g.oh, g.ih, w.kernel[1], g.sh, g.ph, g.dh, g.ky0, g.ky1);
  tap_ranges(g.ow, g.iw, w.kernel[2], g.sw, g.pw, g.dw, g.kx0, g.kx1);
  return g;
}

bool fast_supported(const Window& w) { return w.big[0] == 1 && w.kernel[0] == 1 && w.small[0] == 1; }

// fn(o, tap_offset) over every valid tap of output o = oy*ow + ox, in the reference's order.
template <typename F>
void for_each_tap_2d(const Plane2d& g, F&& fn) {
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t hs = oy * g.sh - g.ph;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t ws = ox * g.sw - g.pw, o = oy * g.ow + ox;
      for (int64_t ky = g.ky0[oy]; ky < g.ky1[oy]; ++ky) {
        const int64_t row = (hs + ky * g.dh) * g.iw + ws;
        for (int64_t kx = g.kx0[ox]; kx < g.kx1[ox]; ++kx) fn(o, row + kx * g.dw);
      }
    }
  }
}

int64_t plane_grain(int64_t work) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(1, work)); }

}  // namespace

void averagepool_f32_nchw_fast(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  const Window w = conv::pool_window(ctx.node, x.shape());
  if (!fast_supported(w)) return averagepool_f32_nchw_ref(ctx);
  const std::vector<float> div = averagepool_divisors(ctx.node, w);
  const Plane2d g = plane_geometry(w);
  std::vector<int64_t> y_dims{x.shape()[0], x.shape()[1]};
  for (int64_t o : w.real(w.small)) y_dims.push_back(o);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(y_dims));
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = g.ih * g.iw, out_sz = g.oh * g.ow;
  const float* px = x.data<float>();
  float* py = y.data<float>();
  parallel_for(
      planes,
      [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) {
          const float* xp = px + p * in_sz;
          float* yp = py + p * out_sz;
          std::fill(yp, yp + out_sz, 0.f);
          for_each_tap_2d(g, [&](int64_t o, int64_t t) { yp[o] += xp[t]; });
          for (int64_t s = 0; s < out_sz; ++s) yp[s] = div[s] > 0.f ? yp[s] / div[s] : 0.f;
        }
      },
      plane_grain(out_sz * w.kernel_numel()));
}

void averagepool_f32_grad_fast(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& x = ctx.in[0];
  const Window w = conv::pool_window(ctx.node, x.shape());
  if (!fast_supported(w)) return averagepool_f32_grad(ctx);
  const std::vector<float> div = averagepool_divisors(ctx.node, w);
  const Plane2d g = plane_geometry(w);
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = g.ih * g.iw, out_sz = g.oh * g.ow;
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  parallel_for(
      planes,
      [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) {
          float* dxp = pdx + p * in_sz;
          const float* dyp = pdy + p * out_sz;
          for_each_tap_2d(g, [&](int64_t o, int64_t t) { dxp[t] += dyp[o] / div[o]; });
        }
      },
      plane_grain(out_sz * w.kernel_numel()));
  ctx.grad_in[0] = dx;
}

}  // namespace edgeopt::kernels::ops::averagepool

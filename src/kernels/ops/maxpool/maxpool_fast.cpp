#include "kernels/ops/maxpool/maxpool_fast.h"

#include <algorithm>
#include <limits>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/ops/conv/conv_geometry.h"

namespace edgeopt::kernels::ops::maxpool {
namespace {

using conv::Window;

// A 1-D/2-D pooling window over one plane, with each output row's/column's valid tap range
// precomputed (taps k in [lo, hi) land inside the input).
struct Plane2d {
  int64_t ih, iw, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw;
  std::vector<int64_t> ky0, ky1, kx0, kx1;
};

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

Plane2d plane_geometry(const Window& w) {
  Plane2d g{w.big[1], w.big[2], w.small[1], w.small[2], w.kernel[1], w.kernel[2], w.stride[1], w.stride[2],
            w.pad_begin[1], w.pad_begin[2], w.dilation[1], w.dilation[2], {}, {}, {}, {}};
  tap_ranges(g.oh, g.ih, g.kh, g.sh, g.ph, g.dh, g.ky0, g.ky1);
  tap_ranges(g.ow, g.iw, g.kw, g.sw, g.pw, g.dw, g.kx0, g.kx1);
  return g;
}

// The fast path covers f32 windows with at most 2 spatial dims (the padded leading dim is 1).
bool fast_supported(const Window& w) { return w.big[0] == 1 && w.kernel[0] == 1 && w.small[0] == 1; }

// Per plane: y = window max, arg = its position in the plane (-1 for an all-padding window).
// KH/KW > 0 unroll the full-window case at compile time.
template <int KH, int KW>
void maxpool_plane(const Plane2d& g, const float* x, float* y, int32_t* arg) {
  const int64_t kh = KH > 0 ? KH : g.kh, kw = KW > 0 ? KW : g.kw;
  for (int64_t oy = 0; oy < g.oh; ++oy) {
    const int64_t y0 = g.ky0[oy], y1 = g.ky1[oy], hs = oy * g.sh - g.ph;
    const bool full_rows = y0 == 0 && y1 == kh;
    for (int64_t ox = 0; ox < g.ow; ++ox) {
      const int64_t x0 = g.kx0[ox], x1 = g.kx1[ox], ws = ox * g.sw - g.pw;
      float best = std::numeric_limits<float>::lowest();
      int64_t bi = -1;
      if (KH > 0 && full_rows && x0 == 0 && x1 == kw) {
        // Interior: the first tap seeds the max, later taps win only when strictly greater.
        bi = hs * g.iw + ws;
        best = x[bi];
        for (int64_t ky = 0; ky < kh; ++ky)
          for (int64_t kx = ky == 0 ? 1 : 0; kx < kw; ++kx) {
            const int64_t b = (hs + ky * g.dh) * g.iw + ws + kx * g.dw;
            if (x[b] > best) best = x[b], bi = b;
          }
      } else {
        for (int64_t ky = y0; ky < y1; ++ky) {
          const int64_t row = (hs + ky * g.dh) * g.iw + ws;
          for (int64_t kx = x0; kx < x1; ++kx) {
            const int64_t b = row + kx * g.dw;
            if (bi < 0 || x[b] > best) best = x[b], bi = b;
          }
        }
      }
      y[oy * g.ow + ox] = best;
      if (arg) arg[oy * g.ow + ox] = static_cast<int32_t>(bi);
    }
  }
}

using PlaneFn = void (*)(const Plane2d&, const float*, float*, int32_t*);

PlaneFn select_plane_fn(const Plane2d& g) {
  if (g.kh == 2 && g.kw == 2) return maxpool_plane<2, 2>;
  if (g.kh == 3 && g.kw == 3) return maxpool_plane<3, 3>;
  return maxpool_plane<0, 0>;
}

// Planes per task: enough taps that a task outweighs waking a worker.
int64_t plane_grain(int64_t out_sz, int64_t k) { return std::max<int64_t>(1, 8192 / std::max<int64_t>(1, out_sz * k)); }

// Row-major position in a 2-D plane -> column-major (storage_order=1), as the reference.
int64_t column_major(const Plane2d& g, int64_t b) { return (b / g.iw) + g.ih * (b % g.iw); }

}  // namespace

void maxpool_fast(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const Window w = conv::pool_window(ctx.node, x.shape());
  const int64_t storage_order = ctx.node.attr_int("storage_order", 0);
  if (x.dtype() != DType::kF32 || !fast_supported(w) || (storage_order != 0 && storage_order != 1))
    return maxpool_ref(ctx);
  const Plane2d g = plane_geometry(w);
  std::vector<int64_t> y_dims{x.shape()[0], x.shape()[1]};
  for (int64_t o : w.real(w.small)) y_dims.push_back(o);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(y_dims));
  const bool want_idx = ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty();
  int64_t* pi = want_idx ? alloc_output(ctx, 1, DType::kI64, Shape(y_dims)).data<int64_t>() : nullptr;
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = g.ih * g.iw, out_sz = g.oh * g.ow;
  EDGEOPT_CHECK(in_sz <= std::numeric_limits<int32_t>::max(), ErrorCode::kUnimplemented,
                "input X has shape " + x.shape().str() + ": planes over 2^31 elements are not supported");
  // The argmax, when the backward (training) or the Indices output needs it.
  Tensor arg;
  if (ctx.saved || pi) arg = Tensor(DType::kI32, Shape({planes * out_sz}));
  int32_t* pa = arg.defined() ? arg.data<int32_t>() : nullptr;
  const float* px = x.data<float>();
  float* py = y.data<float>();
  const PlaneFn fn = select_plane_fn(g);
  parallel_for(
      planes,
      [&](int64_t b, int64_t e) {
        for (int64_t p = b; p < e; ++p) {
          int32_t* ap = pa ? pa + p * out_sz : nullptr;
          fn(g, px + p * in_sz, py + p * out_sz, ap);
          if (!pi) continue;
          for (int64_t s = 0; s < out_sz; ++s)
            pi[p * out_sz + s] = ap[s] < 0 ? -1 : p * in_sz + (storage_order ? column_major(g, ap[s]) : ap[s]);
        }
      },
      plane_grain(out_sz, g.kh * g.kw));
  if (ctx.saved) ctx.saved->push_back(arg);
}

void maxpool_f32_grad_fast(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& x = ctx.in[0];
  const Window w = conv::pool_window(ctx.node, x.shape());
  if (x.dtype() != DType::kF32 || !fast_supported(w)) return maxpool_f32_grad(ctx);
  const Plane2d g = plane_geometry(w);
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = g.ih * g.iw, out_sz = g.oh * g.ow;
  const bool have_arg = !ctx.saved.empty() && ctx.saved[0].dtype() == DType::kI32 &&
                        ctx.saved[0].numel() == planes * out_sz;
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  const float* px = x.data<float>();
  const float* pdy = dy.data<float>();
  const int32_t* saved_arg = have_arg ? ctx.saved[0].data<int32_t>() : nullptr;
  float* pdx = dx.data<float>();
  const PlaneFn fn = select_plane_fn(g);
  parallel_for(
      planes,
      [&](int64_t b, int64_t e) {
        std::vector<int32_t> arg_buf;
        std::vector<float> y_buf;
        for (int64_t p = b; p < e; ++p) {
          const int32_t* ap = saved_arg ? saved_arg + p * out_sz : nullptr;
          if (!ap) {  // forward ran without saving (the reference, or inference): recompute
            arg_buf.resize(static_cast<size_t>(out_sz));
            y_buf.resize(static_cast<size_t>(out_sz));
            fn(g, px + p * in_sz, y_buf.data(), arg_buf.data());
            ap = arg_buf.data();
          }
          float* dxp = pdx + p * in_sz;
          const float* dyp = pdy + p * out_sz;
          for (int64_t s = 0; s < out_sz; ++s)
            if (ap[s] >= 0) dxp[ap[s]] += dyp[s];
        }
      },
      plane_grain(out_sz, 1));
  ctx.grad_in[0] = dx;
}

}  // namespace edgeopt::kernels::ops::maxpool

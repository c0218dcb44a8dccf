// AveragePool (ONNX https://onnx.ai/onnx/operators/onnx__AveragePool.html, opsets 1-18): 1D/2D/3D
// NCHW, kernel_shape, strides, pads, auto_pad, dilations, ceil_mode, count_include_pad.
//   Y[n, c, o] = sum_{k: tap inside X} X[n, c, o*s - pb + k*d] / count(o)
//   count(o) = number of taps inside X (count_include_pad=0), or inside the padded extent
//   [-pb, in + pe) (count_include_pad=1; ceil-mode overhang past the end pads is not counted, as ORT).
// Gradient: dX[tap] += dY[o] / count(o).
#include "kernels/common.h"
#include "kernels/ops/averagepool/averagepool_fast.h"
#include "kernels/ops/conv/conv_geometry.h"

namespace edgeopt::kernels::ops::averagepool {
using conv::Window;

std::vector<float> averagepool_divisors(const Node& node, const Window& w) {
  const int64_t include_pad = node.attr_int("count_include_pad", 0);
  EDGEOPT_CHECK_ARG(include_pad == 0 || include_pad == 1,
                    "attribute count_include_pad is " + std::to_string(include_pad) + ", expected 0 or 1");
  std::vector<float> div(static_cast<size_t>(w.small_numel()), 0.f);
  if (!include_pad) {
    conv::for_each_tap(w, [&](int64_t s, int64_t, int64_t) { div[s] += 1.f; });
    return div;
  }
  // Taps inside the padded extent, per dim; the window count is their product.
  auto count = [&](size_t j, int64_t o) {
    int64_t c = 0;
    for (int64_t k = 0; k < w.kernel[j]; ++k) {
      const int64_t b = o * w.stride[j] - w.pad_begin[j] + k * w.dilation[j];
      c += b >= -w.pad_begin[j] && b < w.big[j] + w.pad_end[j];
    }
    return c;
  };
  for (int64_t s0 = 0; s0 < w.small[0]; ++s0)
    for (int64_t s1 = 0; s1 < w.small[1]; ++s1)
      for (int64_t s2 = 0; s2 < w.small[2]; ++s2)
        div[(s0 * w.small[1] + s1) * w.small[2] + s2] =
            static_cast<float>(count(0, s0) * count(1, s1) * count(2, s2));
  return div;
}

void averagepool_f32_nchw_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  const Window w = conv::pool_window(ctx.node, x.shape());
  const std::vector<float> div = averagepool_divisors(ctx.node, w);
  std::vector<int64_t> y_dims{x.shape()[0], x.shape()[1]};
  for (int64_t o : w.real(w.small)) y_dims.push_back(o);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(y_dims));
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = w.big_numel(), out_sz = w.small_numel();
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x.data<float>() + p * in_sz;
    float* yp = y.data<float>() + p * out_sz;
    for (int64_t s = 0; s < out_sz; ++s) yp[s] = 0.f;
    conv::for_each_tap(w, [&](int64_t s, int64_t, int64_t b) { yp[s] += xp[b]; });
    // An empty window (wholly in the padding, count_include_pad=0) averages to 0, not 0/0.
    for (int64_t s = 0; s < out_sz; ++s) yp[s] = div[s] > 0.f ? yp[s] / div[s] : 0.f;
  }
}

void averagepool_f32_grad(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& x = ctx.in[0];
  const Window w = conv::pool_window(ctx.node, x.shape());
  const std::vector<float> div = averagepool_divisors(ctx.node, w);
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = w.big_numel(), out_sz = w.small_numel();
  for (int64_t p = 0; p < planes; ++p) {
    float* dxp = dx.data<float>() + p * in_sz;
    const float* dyp = dy.data<float>() + p * out_sz;
    conv::for_each_tap(w, [&](int64_t s, int64_t, int64_t b) { dxp[b] += dyp[s] / div[s]; });
  }
  ctx.grad_in[0] = dx;
}

namespace {

// One add per output element and kernel tap.
int64_t averagepool_macs(const Node& node, std::span<const Shape>, std::span<const Shape> out) {
  if (out.empty()) return 0;
  int64_t k = 1;
  for (int64_t v : node.attr_ints("kernel_shape")) k *= v;
  return out[0].numel() * k;
}

}  // namespace

extern const OpDef kOpDef{.name = "AveragePool", .min_opset = 1, .max_opset = 18,
                          .forward = averagepool_f32_nchw_ref, .backward = averagepool_f32_grad_fast,
                          .macs = averagepool_macs, .forward_fast = averagepool_f32_nchw_fast,
                          .backward_ref = averagepool_f32_grad};

}  // namespace edgeopt::kernels::ops::averagepool

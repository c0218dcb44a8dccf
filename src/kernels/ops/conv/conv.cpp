// Conv (ONNX https://onnx.ai/onnx/operators/onnx__Conv.html, opsets 1-18): 1D/2D/3D, NCHW,
// groups (incl. depthwise), strides, dilations, pads, auto_pad, optional bias.
//
//   X [N, C, *in], W [M, C/group, *k], B [M]  ->  Y [N, M, *out]
//   Y[n, m, o] = B[m] + sum_{c < C/group, k} X[n, g*C/group + c, o*s - pb + k*d] * W[m, c, k]
//   with g = m / (M/group); taps that land in the padding contribute 0.
// Gradients (the same taps, scattered): dX[n, ci, i] += dY[n, m, o] * W[m, c, k],
// dW[m, c, k] += dY[n, m, o] * X[n, ci, i], dB[m] = sum_{n, o} dY[n, m, o].
#include <algorithm>

#include "kernels/common.h"
#include "kernels/ops/conv/conv_fast.h"
#include "kernels/ops/conv/conv_geometry.h"

namespace edgeopt::kernels::ops::conv {
namespace {

void conv_f32_nchw_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const bool has_b = ctx.node.has_input(2) && ctx.in.size() > 2 && ctx.in[2].defined();
  if (has_b) require_f32(ctx, 2);
  const Tensor& x = ctx.in[0];
  const Tensor& w = ctx.in[1];
  const ConvDims d = conv_dims(ctx.node, x.shape(), w.shape(), has_b ? &ctx.in[2] : nullptr);
  std::vector<int64_t> y_dims{d.n, d.m};
  for (int64_t o : d.win.real(d.win.small)) y_dims.push_back(o);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(y_dims));
  const int64_t cg = d.c / d.group, mg = d.m / d.group;
  const int64_t in_sz = d.win.big_numel(), out_sz = d.win.small_numel(), k_sz = d.win.kernel_numel();
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pb = has_b ? ctx.in[2].data<float>() : nullptr;
  float* py = y.data<float>();
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t m = 0; m < d.m; ++m) {
      const int64_t g = m / mg;
      float* yb = py + (n * d.m + m) * out_sz;
      for (int64_t s = 0; s < out_sz; ++s) yb[s] = pb ? pb[m] : 0.f;
      for (int64_t c = 0; c < cg; ++c) {
        const float* xb = px + (n * d.c + g * cg + c) * in_sz;
        const float* wb = pw + (m * cg + c) * k_sz;
        for_each_tap(d.win, [&](int64_t s, int64_t k, int64_t b) { yb[s] += xb[b] * wb[k]; });
      }
    }
  if (const float* pr = conv_residual(ctx, y.shape()))
    for (int64_t i = 0; i < y.numel(); ++i) py[i] += pr[i];
  const FusedActivation act = fused_activation(ctx.node);
  if (act.any())
    for (int64_t i = 0; i < y.numel(); ++i) py[i] = std::min(std::max(py[i], act.lo), act.hi);
}

void conv_f32_nchw_grad_ref(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& x = ctx.in[0];
  const Tensor& w = ctx.in[1];
  const bool has_b = ctx.in.size() > 2 && ctx.in[2].defined();
  const ConvDims d = conv_dims(ctx.node, x.shape(), w.shape(), has_b ? &ctx.in[2] : nullptr);
  const int64_t cg = d.c / d.group, mg = d.m / d.group;
  const int64_t in_sz = d.win.big_numel(), out_sz = d.win.small_numel(), k_sz = d.win.kernel_numel();
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  Tensor dw = Tensor::zeros(DType::kF32, w.shape());
  Tensor db = Tensor::zeros(DType::kF32, {d.m});
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pdy = dy.data<float>();
  float* pdx = dx.data<float>();
  float* pdw = dw.data<float>();
  float* pdb = db.data<float>();
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t m = 0; m < d.m; ++m) {
      const int64_t g = m / mg;
      const float* dyb = pdy + (n * d.m + m) * out_sz;
      for (int64_t s = 0; s < out_sz; ++s) pdb[m] += dyb[s];
      for (int64_t c = 0; c < cg; ++c) {
        const int64_t xoff = (n * d.c + g * cg + c) * in_sz, woff = (m * cg + c) * k_sz;
        for_each_tap(d.win, [&](int64_t s, int64_t k, int64_t b) {
          pdx[xoff + b] += dyb[s] * pw[woff + k];
          pdw[woff + k] += dyb[s] * px[xoff + b];
        });
      }
    }
  ctx.grad_in[0] = dx;
  ctx.grad_in[1] = dw;
  if (has_b) ctx.grad_in[2] = db;
}

// Output elements * (C_in/group) * prod(kernel) = Y.numel * W.numel / M.
int64_t conv_macs(const Node&, std::span<const Shape> in, std::span<const Shape> out) {
  if (in.size() < 2 || out.empty() || in[1].rank() < 1 || in[1][0] <= 0) return 0;
  return out[0].numel() * (in[1].numel() / in[1][0]);
}

}  // namespace

// backward: the GEMM-based conv_f32_nchw_grad_fast (conv_fast.cpp), checked against the reference.
extern const OpDef kOpDef{.name = "Conv", .min_opset = 1, .max_opset = 18, .forward = conv_f32_nchw_ref,
                          .backward = conv_f32_nchw_grad_fast, .macs = conv_macs,
                          .forward_fast = conv_f32_nchw_fast, .backward_ref = conv_f32_nchw_grad_ref,
                          .prepare = conv_f32_nchw_prepare};

}  // namespace edgeopt::kernels::ops::conv

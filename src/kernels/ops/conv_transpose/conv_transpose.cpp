// ConvTranspose (ONNX https://onnx.ai/onnx/operators/onnx__ConvTranspose.html, opsets 1-18):
// 1D/2D/3D, NCHW, groups, strides, dilations, pads, output_padding, output_shape, auto_pad, bias.
//
//   X [N, C, *in], W [C, M/group, *k], B [M]  ->  Y [N, M, *out]
//   Y[n, g*M/group + m, i*s - pb + k*d] += X[n, g*C/group + c, i] * W[g*C/group + c, m, k]  (+ B)
//   out = s*(in-1) + output_padding + (k-1)*d + 1 - pb - pe, unless output_shape or SAME fixes out,
//   in which case total = s*(in-1) + output_padding + (k-1)*d + 1 - out is split into pb/pe.
// It is Conv's tap relation with input and output swapped, so the gradients mirror Conv's:
// dX[n, ci, i] = sum dY[n, co, o] * W[ci, m, k], dW[ci, m, k] = sum dY * X, dB = sum dY.
#include "kernels/common.h"
#include "kernels/ops/conv/conv_geometry.h"

namespace edgeopt::kernels::ops::conv_transpose {
namespace {

using conv::ints_str;
using conv::kMaxSpatial;
using conv::Window;

struct ConvTDims {
  int64_t n = 0, c = 0, m = 0, group = 1;
  Window win;  // small = input spatial, big = output spatial
};

ConvTDims conv_transpose_dims(const Node& node, const Shape& x, const Shape& w, const Tensor* b) {
  EDGEOPT_CHECK_ARG(x.rank() >= 3,
                    "input X has shape " + x.str() + ", but ConvTranspose needs [N, C, spatial...] (rank >= 3)");
  EDGEOPT_CHECK(x.rank() <= 2 + kMaxSpatial, ErrorCode::kUnimplemented,
                "input X has shape " + x.str() + "; only 1 to 3 spatial dims are supported");
  EDGEOPT_CHECK_ARG(w.rank() == x.rank(), "input W has shape " + w.str() + ", but X has shape " + x.str() +
                                              " so W needs rank " + std::to_string(x.rank()));
  ConvTDims d;
  d.n = x[0];
  d.c = x[1];
  d.group = node.attr_int("group", 1);
  EDGEOPT_CHECK_ARG(d.group >= 1, "attribute group is " + std::to_string(d.group) + ", must be >= 1");
  EDGEOPT_CHECK_ARG(w[0] == d.c && d.c % d.group == 0,
                    "input W has shape " + w.str() + ", but X has C=" + std::to_string(d.c) +
                        " channels and group=" + std::to_string(d.group) +
                        ": W.shape[0] must equal C and C must be divisible by group");
  d.m = w[1] * d.group;
  EDGEOPT_CHECK_ARG(d.m >= 1, "input W has shape " + w.str() + ", which gives no output channels");
  const size_t nd = x.rank() - 2;
  std::vector<int64_t> kernel(w.dims().begin() + 2, w.dims().end());
  if (node.has_attr("kernel_shape"))
    EDGEOPT_CHECK_ARG(node.attr_ints("kernel_shape") == kernel, "attribute kernel_shape is " +
                                                                    ints_str(node.attr_ints("kernel_shape")) +
                                                                    ", but W has shape " + w.str());
  if (b && b->defined())
    EDGEOPT_CHECK_ARG(b->shape() == Shape({d.m}), "input B has shape " + b->shape().str() + ", but it must be [M] = [" +
                                                      std::to_string(d.m) + "] (W.shape[1] * group)");
  const conv::WindowAttrs a = conv::read_window_attrs(node, kernel);
  const std::vector<int64_t> out_pad = node.attr_ints("output_padding", std::vector<int64_t>(nd, 0));
  EDGEOPT_CHECK_ARG(out_pad.size() == nd, "attribute output_padding is " + ints_str(out_pad) + ", but " +
                                              std::to_string(nd) + " values are needed");
  std::vector<int64_t> out_shape = node.attr_ints("output_shape");
  // output_shape may list all dims [N, M, *out] or only the spatial ones.
  if (out_shape.size() == nd + 2) out_shape.erase(out_shape.begin(), out_shape.begin() + 2);
  EDGEOPT_CHECK_ARG(out_shape.empty() || out_shape.size() == nd,
                    "attribute output_shape is " + ints_str(out_shape) + ", but X has " + std::to_string(nd) +
                        " spatial dims");
  Window& win = d.win;
  win.nd = nd;
  for (size_t i = 0; i < nd; ++i) {
    const size_t j = kMaxSpatial - nd + i;
    const int64_t in = x[2 + i], k = kernel[i], s = a.strides[i], dil = a.dilations[i];
    EDGEOPT_CHECK_ARG(out_pad[i] >= 0, "attribute output_padding is " + ints_str(out_pad) + ", values must be >= 0");
    const int64_t natural = s * (in - 1) + out_pad[i] + (k - 1) * dil + 1;
    int64_t out = 0, pb = 0, pe = 0;
    const bool same = a.auto_pad == conv::AutoPad::kSameUpper || a.auto_pad == conv::AutoPad::kSameLower;
    if (!out_shape.empty() || same) {
      out = !out_shape.empty() ? out_shape[i] : in * s;
      // A target larger than the natural size just extends the end (nothing lands there but B).
      // The odd unit of padding goes to the end for SAME_UPPER and to the start otherwise (the
      // ONNX spec and its backend test data, e.g. test_convtranspose_autopad_same).
      const int64_t total = std::max<int64_t>(0, natural - out);
      pb = a.auto_pad == conv::AutoPad::kSameUpper ? total / 2 : total - total / 2;
      pe = total - pb;
    } else {
      if (a.auto_pad == conv::AutoPad::kNotSet) {
        pb = a.pads[i];
        pe = a.pads[nd + i];
      }
      out = natural - pb - pe;
    }
    EDGEOPT_CHECK_ARG(out >= 1, "output spatial dim " + std::to_string(i) + " would be " + std::to_string(out) +
                                    " (input " + std::to_string(in) + ", kernel " + ints_str(kernel) + ", strides " +
                                    ints_str(a.strides) + ", pads " + ints_str(a.pads) + ")");
    win.small[j] = in;
    win.big[j] = out;
    win.kernel[j] = k;
    win.stride[j] = s;
    win.dilation[j] = dil;
    win.pad_begin[j] = pb;
    win.pad_end[j] = pe;
  }
  return d;
}

void conv_transpose_f32_nchw_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const bool has_b = ctx.in.size() > 2 && ctx.in[2].defined();
  if (has_b) require_f32(ctx, 2);
  const Tensor& x = ctx.in[0];
  const Tensor& w = ctx.in[1];
  const ConvTDims d = conv_transpose_dims(ctx.node, x.shape(), w.shape(), has_b ? &ctx.in[2] : nullptr);
  std::vector<int64_t> y_dims{d.n, d.m};
  for (int64_t o : d.win.real(d.win.big)) y_dims.push_back(o);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(y_dims));
  const int64_t cg = d.c / d.group, mg = d.m / d.group;
  const int64_t in_sz = d.win.small_numel(), out_sz = d.win.big_numel(), k_sz = d.win.kernel_numel();
  const float* px = x.data<float>();
  const float* pw = w.data<float>();
  const float* pb = has_b ? ctx.in[2].data<float>() : nullptr;
  float* py = y.data<float>();
  for (int64_t n = 0; n < d.n; ++n)
    for (int64_t co = 0; co < d.m; ++co) {
      const int64_t g = co / mg, m = co % mg;
      float* yb = py + (n * d.m + co) * out_sz;
      for (int64_t o = 0; o < out_sz; ++o) yb[o] = pb ? pb[co] : 0.f;
      for (int64_t c = 0; c < cg; ++c) {
        const int64_t ci = g * cg + c;
        const float* xb = px + (n * d.c + ci) * in_sz;
        const float* wb = pw + (ci * mg + m) * k_sz;
        conv::for_each_tap(d.win, [&](int64_t i, int64_t k, int64_t o) { yb[o] += xb[i] * wb[k]; });
      }
    }
}

void conv_transpose_f32_nchw_grad(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& x = ctx.in[0];
  const Tensor& w = ctx.in[1];
  const bool has_b = ctx.in.size() > 2 && ctx.in[2].defined();
  const ConvTDims d = conv_transpose_dims(ctx.node, x.shape(), w.shape(), has_b ? &ctx.in[2] : nullptr);
  const int64_t cg = d.c / d.group, mg = d.m / d.group;
  const int64_t in_sz = d.win.small_numel(), out_sz = d.win.big_numel(), k_sz = d.win.kernel_numel();
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
    for (int64_t co = 0; co < d.m; ++co) {
      const int64_t g = co / mg, m = co % mg;
      const float* dyb = pdy + (n * d.m + co) * out_sz;
      for (int64_t o = 0; o < out_sz; ++o) pdb[co] += dyb[o];
      for (int64_t c = 0; c < cg; ++c) {
        const int64_t ci = g * cg + c;
        const int64_t xoff = (n * d.c + ci) * in_sz, woff = (ci * mg + m) * k_sz;
        conv::for_each_tap(d.win, [&](int64_t i, int64_t k, int64_t o) {
          pdx[xoff + i] += dyb[o] * pw[woff + k];
          pdw[woff + k] += dyb[o] * px[xoff + i];
        });
      }
    }
  ctx.grad_in[0] = dx;
  ctx.grad_in[1] = dw;
  if (has_b) ctx.grad_in[2] = db;
}

// Every input element meets every (M/group) x kernel weight once: X.numel * W.numel / C.
int64_t conv_transpose_macs(const Node&, std::span<const Shape> in, std::span<const Shape>) {
  if (in.size() < 2 || in[1].rank() < 1 || in[1][0] <= 0) return 0;
  return in[0].numel() * (in[1].numel() / in[1][0]);
}

}  // namespace

extern const OpDef kOpDef{.name = "ConvTranspose", .min_opset = 1, .max_opset = 18,
                          .forward = conv_transpose_f32_nchw_ref, .backward = conv_transpose_f32_nchw_grad,
                          .macs = conv_transpose_macs};

}  // namespace edgeopt::kernels::ops::conv_transpose

// FakeQuantize (edgeopt training op, never exported): y = dequantize(quantize(x)), the value an int8
// deployment of x sees, for quantization-aware training (quantize/qat.h). Not an ONNX op: the QAT
// graph is converted to QuantizeLinear/DequantizeLinear before export.
//   inputs  x (f32), scale (f32 scalar, or 1-D of x.shape[axis]: per channel),
//           zero_point (optional i32/i8/u8, the shape of scale; default 0)
//   attrs   qmin, qmax (the integer range: u8 0..255, i8 -128..127, weights -127..127, int32 bias),
//           axis (per-channel axis, default 0)
// Forward: quant::fake_quantize_f32, the exact rounding (half to even) and saturation of
// QuantizeLinear and the int8 kernels, so "QAT accuracy == deployed accuracy".
// Backward: the straight-through estimator (Bengio et al. 2013) for x: dy passes where the code
// round(x/s)+zp lies inside [qmin, qmax], 0 where it saturates. Scale (LSQ, Esser et al. 2020):
// d y/d s = round(x/s) - x/s inside the range (STE through the rounding), qmin-zp / qmax-zp where
// saturated, summed per channel. The trainer freezes the scale unless learned scales were asked for.
#include <cmath>
#include <limits>

#include "kernels/common.h"
#include "kernels/quant/qparams.h"
#include "kernels/quant/requantize.h"

namespace edgeopt::kernels::ops::fake_quantize {
namespace {

struct Range {
  int32_t qmin, qmax;
};

Range read_range(const Node& node) {
  const int64_t qmin = node.attr_int("qmin", -128), qmax = node.attr_int("qmax", 127);
  EDGEOPT_CHECK_ARG(qmin < qmax && qmin >= std::numeric_limits<int32_t>::min() && qmax <= std::numeric_limits<int32_t>::max(),
                    "attributes qmin=" + std::to_string(qmin) + ", qmax=" + std::to_string(qmax) +
                        " must satisfy qmin < qmax within int32");
  return {static_cast<int32_t>(qmin), static_cast<int32_t>(qmax)};
}

quant::QParams read(const Node& node, std::span<const Tensor> in) {
  const Tensor zp = in.size() > 2 ? in[2] : Tensor();
  // Per-channel scales are always allowed here (no ONNX opset rule applies to a training op).
  return quant::read_qparams(in[0].shape(), in[1], zp, node.attr_int("axis", 0), 17, "scale");
}

void fake_quantize_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  required_input(ctx, 1);
  const Tensor& x = ctx.in[0];
  const Range r = read_range(ctx.node);
  const quant::QParams qp = read(ctx.node, ctx.in);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for (int64_t i = 0; i < x.numel(); ++i) {
    const size_t c = qp.channel(i);
    py[i] = quant::fake_quantize_f32(px[i], qp.scales[c], qp.zero_points[c], r.qmin, r.qmax);
  }
}

void fake_quantize_f32_grad(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined()) return;
  const Tensor& x = ctx.in[0];
  const Range r = read_range(ctx.node);
  const quant::QParams qp = read(ctx.node, ctx.in);
  const float* px = x.data<float>();
  const float* pdy = ctx.grad_out[0].data<float>();
  Tensor dx(DType::kF32, x.shape());
  std::vector<double> ds(qp.scales.size(), 0.0);
  for (int64_t i = 0; i < x.numel(); ++i) {
    const size_t c = qp.channel(i);
    const float v = px[i] / qp.scales[c];
    const double code = static_cast<double>(quant::round_half_even(v)) + qp.zero_points[c];
    if (std::isnan(v)) {
      dx.data<float>()[i] = 0.f;
    } else if (code < r.qmin) {
      dx.data<float>()[i] = 0.f;
      ds[c] += pdy[i] * static_cast<double>(r.qmin - qp.zero_points[c]);
    } else if (code > r.qmax) {
      dx.data<float>()[i] = 0.f;
      ds[c] += pdy[i] * static_cast<double>(r.qmax - qp.zero_points[c]);
    } else {
      dx.data<float>()[i] = pdy[i];
      ds[c] += pdy[i] * (static_cast<double>(quant::round_half_even(v)) - v);
    }
  }
  ctx.grad_in[0] = dx;
  Tensor gs(DType::kF32, ctx.in[1].shape());
  for (size_t c = 0; c < ds.size(); ++c) gs.data<float>()[c] = static_cast<float>(ds[c]);
  ctx.grad_in[1] = gs;
}

}  // namespace

extern const OpDef kOpDef{.name = "FakeQuantize", .min_opset = 1, .max_opset = 18, .forward = fake_quantize_f32_ref,
                          .backward = fake_quantize_f32_grad};

}  // namespace edgeopt::kernels::ops::fake_quantize

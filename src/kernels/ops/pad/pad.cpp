// Pad: grows (or, with negative pads, crops) each axis by pads[begin] before and pads[end] after.
// https://onnx.ai/onnx/operators/onnx__Pad.html
// pads = [b_0 .. b_{k-1}, e_0 .. e_{k-1}] for k = rank, or for the k axes of input 3 `axes`
// (opset 18). Opsets 2-10 take `pads` and the float `value` as attributes; 11+ take input 1 `pads`
// (int64) and optional scalar input 2 `constant_value` of x's dtype.
// For output index o along an axis of size d, the source index is i = o - b and then per mode:
//   constant: i outside [0, d) takes the constant     edge: clamp(i, 0, d-1)
//   reflect:  mirror without repeating the border (d=1 acts like edge)
//   wrap:     i mod d (opset 19, accepted here since it costs nothing)
// Any dtype (bytes are copied). Gradient (every mode): dy scatter-added to its source elements.
#include <cstring>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::pad {
namespace {

enum class Mode { kConstant, kReflect, kEdge, kWrap };

struct PadPlan {
  Mode mode = Mode::kConstant;
  std::vector<int64_t> begin;  // per input dim
  Shape out_shape;
};

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

PadPlan plan_pad(const Node& node, std::span<const Tensor> in) {
  const Tensor& x = in[0];
  PadPlan p;
  const std::string mode = node.attr_string("mode", "constant");
  if (mode == "constant")
    p.mode = Mode::kConstant;
  else if (mode == "reflect")
    p.mode = Mode::kReflect;
  else if (mode == "edge")
    p.mode = Mode::kEdge;
  else if (mode == "wrap")
    p.mode = Mode::kWrap;
  else
    throw_error(ErrorCode::kInvalidArgument, "mode '" + mode + "' is not one of constant, reflect, edge, wrap");

  std::vector<int64_t> pads;
  if (in.size() > 1 && in[1].defined()) {
    EDGEOPT_CHECK_ARG(in[1].dtype() == DType::kI64 && in[1].rank() == 1,
                      "input 'pads' must be a 1-D int64 tensor, got " + in[1].describe());
    pads = in[1].to_i64_vector();
  } else {
    EDGEOPT_CHECK_ARG(node.has_attr("pads") || node.has_attr("paddings"),
                      "Pad needs 'pads' (input 1 from opset 11, an attribute before)");
    pads = node.attr_ints(node.has_attr("pads") ? "pads" : "paddings");
  }
  const size_t r = x.rank();
  std::vector<int64_t> axes;
  if (in.size() > 3 && in[3].defined()) {
    EDGEOPT_CHECK_ARG((in[3].dtype() == DType::kI64 || in[3].dtype() == DType::kI32) && in[3].rank() == 1,
                      "input 'axes' must be a 1-D int32/int64 tensor, got " + in[3].describe());
    for (int64_t a : in[3].to_i64_vector()) axes.push_back(static_cast<int64_t>(x.shape().normalize_axis(a)));
  } else {
    for (size_t i = 0; i < r; ++i) axes.push_back(static_cast<int64_t>(i));
  }
  const size_t k = axes.size();
  EDGEOPT_CHECK_ARG(pads.size() == 2 * k, "pads " + ints_str(pads) + " must have 2 * " + std::to_string(k) +
                                              " entries for input " + x.describe());
  p.begin.assign(r, 0);
  std::vector<int64_t> end(r, 0), dims = x.shape().dims();
  std::vector<bool> seen(r, false);
  for (size_t j = 0; j < k; ++j) {
    const auto a = static_cast<size_t>(axes[j]);
    EDGEOPT_CHECK_ARG(!seen[a], "axis " + std::to_string(a) + " appears more than once in axes");
    seen[a] = true;
    p.begin[a] = pads[j];
    end[a] = pads[j + k];
  }
  for (size_t a = 0; a < r; ++a) {
    const int64_t d = x.shape()[a];
    dims[a] = d + p.begin[a] + end[a];
    EDGEOPT_CHECK_ARG(dims[a] >= 0, "pads " + ints_str(pads) + " crop axis " + std::to_string(a) + " of input " +
                                        x.describe() + " below size 0");
    // Non-constant modes read the input at every output position, so they need something to read.
    EDGEOPT_CHECK_ARG(p.mode == Mode::kConstant || d > 0 || dims[a] == 0,
                      "mode '" + mode + "' cannot pad the empty axis " + std::to_string(a) + " of " + x.describe());
  }
  p.out_shape = Shape(dims);
  return p;
}

// Source index along one axis, or -1 for "the constant".
int64_t source_index(Mode mode, int64_t i, int64_t d) {
  if (i >= 0 && i < d) return i;
  switch (mode) {
    case Mode::kConstant:
      return -1;
    case Mode::kEdge:
      return i < 0 ? 0 : d - 1;
    case Mode::kWrap:
      return ((i % d) + d) % d;
    case Mode::kReflect: {
      if (d == 1) return 0;
      const int64_t period = 2 * (d - 1);
      int64_t m = ((i % period) + period) % period;
      return m < d ? m : period - m;
    }
  }
  return -1;
}

// Calls f(out_flat, in_flat or -1) for every output element.
template <typename F>
void for_each_pad_element(const Shape& in_shape, const PadPlan& p, F f) {
  const size_t r = in_shape.rank();
  const std::vector<int64_t> strides = in_shape.strides();
  // Per axis, the source index of every output position (a small table keeps the walk obvious).
  std::vector<std::vector<int64_t>> src(r);
  for (size_t a = 0; a < r; ++a)
    for (int64_t o = 0; o < p.out_shape[a]; ++o) src[a].push_back(source_index(p.mode, o - p.begin[a], in_shape[a]));
  std::vector<int64_t> idx(r, 0);
  const int64_t n = p.out_shape.numel();
  for (int64_t k = 0; k < n; ++k) {
    int64_t off = 0;
    for (size_t a = 0; a < r && off >= 0; ++a) {
      const int64_t s = src[a][idx[a]];
      off = s < 0 ? -1 : off + s * strides[a];
    }
    f(k, off);
    for (size_t a = r; a-- > 0;) {
      if (++idx[a] < p.out_shape[a]) break;
      idx[a] = 0;
    }
  }
}

void pad_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  PadPlan p = plan_pad(ctx.node, ctx.in);
  // The fill value as one element of x's dtype.
  Tensor fill;
  if (ctx.in.size() > 2 && ctx.in[2].defined()) {
    const Tensor& c = ctx.in[2];
    EDGEOPT_CHECK_ARG(
        c.numel() == 1 && c.dtype() == x.dtype(),
        "constant_value " + c.describe() + " must be one element of the input dtype " + dtype_name(x.dtype()));
    fill = c;
  } else {
    fill = Tensor::scalar_f32(ctx.node.attr_float("value", 0.f)).cast(x.dtype());
  }
  Tensor& y = alloc_output(ctx, 0, x.dtype(), p.out_shape);
  const size_t es = dtype_size(x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw());
  const auto* fv = static_cast<const uint8_t*>(fill.raw());
  auto* dst = static_cast<uint8_t*>(y.raw());
  for_each_pad_element(x.shape(), p,
                       [&](int64_t o, int64_t i) { std::memcpy(dst + o * es, i < 0 ? fv : src + i * es, es); });
}

void pad_grad(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || x.dtype() != DType::kF32) return;
  PadPlan p = plan_pad(ctx.node, ctx.in);
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  const float* pdy = ctx.grad_out[0].data<float>();
  float* pdx = dx.data<float>();
  for_each_pad_element(x.shape(), p, [&](int64_t o, int64_t i) {
    if (i >= 0) pdx[i] += pdy[o];
  });
  ctx.grad_in[0] = dx;
}

}  // namespace

extern const OpDef kOpDef{.name = "Pad", .min_opset = 1, .max_opset = 18, .forward = pad_ref, .backward = pad_grad};

}  // namespace edgeopt::kernels::ops::pad

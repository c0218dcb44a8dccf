#include "kernels/ops/conv/conv_geometry.h"

#include <algorithm>

#include "core/error.h"

namespace edgeopt::kernels::ops::conv {

microkernels::Im2colGeometry im2col_geometry(const Window& w) {
  microkernels::Im2colGeometry geo;
  geo.in = w.big;
  geo.out = w.small;
  geo.kernel = w.kernel;
  geo.stride = w.stride;
  geo.dilation = w.dilation;
  geo.pad = w.pad_begin;
  return geo;
}

bool pointwise_window(const Window& w) {
  bool pointwise = true;
  for (size_t i = 0; i < kMaxSpatial; ++i)
    pointwise = pointwise && w.kernel[i] == 1 && w.stride[i] == 1 && w.pad_begin[i] == 0 && w.pad_end[i] == 0;
  return pointwise;
}

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

namespace {
AutoPad parse_auto_pad(const Node& node) {
  const std::string s = node.attr_string("auto_pad", "NOTSET");
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  if (s == "VALID") return AutoPad::kValid;
  throw_error(ErrorCode::kInvalidArgument,
              "attribute auto_pad is '" + s + "', expected NOTSET, SAME_UPPER, SAME_LOWER or VALID");
}

std::vector<int64_t> read_ints(const Node& node, const std::string& name, size_t n, int64_t def, int64_t min) {
  std::vector<int64_t> v = node.attr_ints(name, std::vector<int64_t>(n, def));
  EDGEOPT_CHECK_ARG(v.size() == n, "attribute " + name + " is " + ints_str(v) + " (" + std::to_string(v.size()) +
                                       " values), but " + std::to_string(n) + " are needed for " +
                                       std::to_string(n / (name == "pads" ? 2 : 1)) + " spatial dims");
  for (int64_t x : v)
    EDGEOPT_CHECK_ARG(x >= min, "attribute " + name + " is " + ints_str(v) + ", but every value must be >= " +
                                    std::to_string(min));
  return v;
}
}  // namespace

WindowAttrs read_window_attrs(const Node& node, std::vector<int64_t> kernel) {
  const size_t nd = kernel.size();
  EDGEOPT_CHECK(nd >= 1 && nd <= kMaxSpatial, ErrorCode::kUnimplemented,
                std::to_string(nd) + " spatial dims are not supported (1 to 3 are)");
  for (int64_t k : kernel)
    EDGEOPT_CHECK_ARG(k >= 1, "kernel shape " + ints_str(kernel) + " has a dim < 1");
  WindowAttrs a;
  a.kernel = std::move(kernel);
  a.strides = read_ints(node, "strides", nd, 1, 1);
  a.dilations = read_ints(node, "dilations", nd, 1, 1);
  a.pads = read_ints(node, "pads", 2 * nd, 0, 0);
  a.auto_pad = parse_auto_pad(node);
  return a;
}

Window forward_window(const WindowAttrs& a, const std::vector<int64_t>& in, bool ceil_mode) {
  const size_t nd = a.kernel.size();
  EDGEOPT_CHECK_ARG(in.size() == nd, "input has " + std::to_string(in.size()) + " spatial dims " + ints_str(in) +
                                         ", but the kernel has " + std::to_string(nd) + " " + ints_str(a.kernel));
  Window w;
  w.nd = nd;
  for (size_t i = 0; i < nd; ++i) {
    const size_t j = kMaxSpatial - nd + i;
    const int64_t k = a.kernel[i], s = a.strides[i], d = a.dilations[i], eff = (k - 1) * d + 1;
    w.big[j] = in[i];
    w.kernel[j] = k;
    w.stride[j] = s;
    w.dilation[j] = d;
    int64_t pb = 0, pe = 0, out = 0;
    switch (a.auto_pad) {
      case AutoPad::kNotSet: pb = a.pads[i]; pe = a.pads[nd + i]; break;
      case AutoPad::kValid: break;
      case AutoPad::kSameUpper:
      case AutoPad::kSameLower: {
        out = (in[i] + s - 1) / s;
        const int64_t total = std::max<int64_t>(0, (out - 1) * s + eff - in[i]);
        pb = a.auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
        pe = total - pb;
        break;
      }
    }
    if (a.auto_pad == AutoPad::kNotSet || a.auto_pad == AutoPad::kValid) {
      const int64_t span = in[i] + pb + pe - eff;
      EDGEOPT_CHECK_ARG(span >= 0, "spatial dim " + std::to_string(i) + " has size " + std::to_string(in[i]) +
                                       " plus pads " + std::to_string(pb) + "+" + std::to_string(pe) +
                                       ", smaller than the dilated kernel " + std::to_string(eff) + " (kernel " +
                                       ints_str(a.kernel) + ", dilations " + ints_str(a.dilations) + ")");
      out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
      if (ceil_mode && (out - 1) * s >= in[i] + pb) --out;
    }
    w.small[j] = out;
    w.pad_begin[j] = pb;
    w.pad_end[j] = pe;
  }
  return w;
}

Window pool_window(const Node& node, const Shape& x) {
  EDGEOPT_CHECK_ARG(x.rank() >= 3, "input X has shape " + x.str() + ", but pooling needs [N, C, spatial...] (rank >= 3)");
  EDGEOPT_CHECK(x.rank() <= 2 + kMaxSpatial, ErrorCode::kUnimplemented,
                "input X has shape " + x.str() + "; only 1 to 3 spatial dims are supported");
  EDGEOPT_CHECK_ARG(node.has_attr("kernel_shape"), "attribute kernel_shape is required");
  const std::vector<int64_t> kernel = node.attr_ints("kernel_shape");
  EDGEOPT_CHECK_ARG(kernel.size() == x.rank() - 2, "attribute kernel_shape is " + ints_str(kernel) +
                                                       ", but X has shape " + x.str() + " (" +
                                                       std::to_string(x.rank() - 2) + " spatial dims)");
  const int64_t ceil_mode = node.attr_int("ceil_mode", 0);
  EDGEOPT_CHECK_ARG(ceil_mode == 0 || ceil_mode == 1, "attribute ceil_mode is " + std::to_string(ceil_mode) +
                                                          ", expected 0 or 1");
  return forward_window(read_window_attrs(node, kernel), {x.dims().begin() + 2, x.dims().end()}, ceil_mode == 1);
}

ConvAttrs read_conv_attrs(const Node& node, const Shape& w) {
  EDGEOPT_CHECK_ARG(w.rank() >= 3 && w.rank() <= 2 + kMaxSpatial,
                    "input W has shape " + w.str() + ", but Conv needs [M, C/group, spatial...] with 1 to 3 spatial dims");
  ConvAttrs a;
  a.group = node.attr_int("group", 1);
  EDGEOPT_CHECK_ARG(a.group >= 1, "attribute group is " + std::to_string(a.group) + ", must be >= 1");
  std::vector<int64_t> kernel(w.dims().begin() + 2, w.dims().end());
  if (node.has_attr("kernel_shape"))
    EDGEOPT_CHECK_ARG(node.attr_ints("kernel_shape") == kernel, "attribute kernel_shape is " +
                                                                    ints_str(node.attr_ints("kernel_shape")) +
                                                                    ", but W has shape " + w.str());
  a.window = read_window_attrs(node, std::move(kernel));
  return a;
}

namespace {
// The shape checks of conv_dims that come before its attributes are read.
void check_conv_ranks(const Shape& x, const Shape& w) {
  EDGEOPT_CHECK_ARG(x.rank() >= 3, "input X has shape " + x.str() + ", but Conv needs [N, C, spatial...] (rank >= 3)");
  EDGEOPT_CHECK(x.rank() <= 2 + kMaxSpatial, ErrorCode::kUnimplemented,
                "input X has shape " + x.str() + "; only 1 to 3 spatial dims are supported");
  EDGEOPT_CHECK_ARG(w.rank() == x.rank(), "input W has shape " + w.str() + ", but X has shape " + x.str() +
                                              " so W needs rank " + std::to_string(x.rank()));
}

// conv_dims after check_conv_ranks.
ConvDims conv_dims_checked(const ConvAttrs& attrs, const Shape& x, const Shape& w, const Tensor* b) {
  ConvDims d;
  d.n = x[0];
  d.c = x[1];
  d.m = w[0];
  d.group = attrs.group;
  EDGEOPT_CHECK_ARG(d.c % d.group == 0, "input X has " + std::to_string(d.c) + " channels, not divisible by group=" +
                                            std::to_string(d.group));
  EDGEOPT_CHECK_ARG(w[1] == d.c / d.group, "input W has shape " + w.str() + ", but group=" + std::to_string(d.group) +
                                               " needs W.shape[1] == C/group = " + std::to_string(d.c / d.group) +
                                               " (C=" + std::to_string(d.c) + ")");
  EDGEOPT_CHECK_ARG(d.m >= 1 && d.m % d.group == 0, "input W has shape " + w.str() + ", but M=W.shape[0] must be a "
                                                    "positive multiple of group=" + std::to_string(d.group));
  if (b && b->defined())
    EDGEOPT_CHECK_ARG(b->shape() == Shape({d.m}), "input B has shape " + b->shape().str() + ", but it must be [M] = [" +
                                                      std::to_string(d.m) + "]");
  d.win = forward_window(attrs.window, {x.dims().begin() + 2, x.dims().end()}, false);
  return d;
}

}  // namespace

ConvDims conv_dims(const ConvAttrs& attrs, const Shape& x, const Shape& w, const Tensor* b) {
  check_conv_ranks(x, w);
  return conv_dims_checked(attrs, x, w, b);
}

ConvDims conv_dims(const Node& node, const Shape& x, const Shape& w, const Tensor* b) {
  check_conv_ranks(x, w);
  return conv_dims_checked(read_conv_attrs(node, w), x, w, b);
}

const float* conv_residual(const ForwardCtx& ctx, const Shape& y_shape) {
  if (ctx.in.size() < 4 || !ctx.node.has_input(3) || !ctx.in[3].defined()) return nullptr;
  const Tensor& r = ctx.in[3];
  EDGEOPT_CHECK_ARG(r.dtype() == DType::kF32 && r.shape() == y_shape,
                    "fused residual input R has " + std::string(dtype_name(r.dtype())) + r.shape().str() +
                        " but the Conv output is f32" + y_shape.str());
  return r.data<float>();
}

}  // namespace edgeopt::kernels::ops::conv

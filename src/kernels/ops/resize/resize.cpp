// Resize (opsets 10-18) and the older Upsample (7-9): n-d nearest / linear / cubic resampling.
// https://onnx.ai/onnx/operators/onnx__Resize.html, https://onnx.ai/onnx/operators/onnx__Upsample.html
// Every axis is resampled independently, so the n-d result is a tensor product of 1-d "taps":
//   y[o_0..o_r] = sum over tap choices t_k of prod_k w_k(o_k, t_k) * x[i_0(t_0)..i_r(t_r)]
// For output coordinate o along an axis (in/out lengths L_in, L_out; scale s; L_out_f = s * L_in,
// the unrounded length the ONNX reference uses), coordinate_transformation_mode maps o to x:
//   half_pixel (default)  (o + 0.5)/s - 0.5          asymmetric   o/s
//   pytorch_half_pixel    like half_pixel; -0.5 when L_out_f == 1
//   align_corners         o*(L_in-1)/(L_out_f-1); 0 when L_out_f == 1
//   tf_half_pixel_for_nn  (o + 0.5)/s
//   tf_crop_and_resize    roi_start*(L_in-1) + o*(roi_end-roi_start)*(L_in-1)/(L_out_f-1);
//                         x outside [0, L_in-1] yields extrapolation_value
// Taps from x (left = ceil(x) - 1, r = x - left in (0, 1], as in the ONNX reference):
//   nearest  one tap chosen by nearest_mode (round_prefer_floor default, round_prefer_ceil, floor,
//            ceil); opset 10 Resize and Upsample use ORT's rule: floor upsampling, ceil downsampling
//   linear   left: 1-r, left+1: r
//   cubic    left-1..left+2 with Keys' kernel (cubic_coeff_a, default -0.75); exclude_outside=1
//            zeroes taps outside the input and renormalizes
// Tap indices outside [0, L_in) are clamped (edge padding). Opset 10 and Upsample use asymmetric.
// Inputs: opset 10 (X, scales); 11+ (X, roi, scales, sizes), one of scales/sizes non-empty;
// opset 18 adds attributes axes and keep_aspect_ratio_policy (antialias=1 is not supported).
// Output size: sizes, or floor(L_in * scale). Nearest works on any dtype; linear/cubic on f32,
// accumulated in double. Gradient (f32 X): dy spread back through the same taps.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "kernels/common.h"

namespace edgeopt::kernels::ops {
namespace resize_common {
namespace {

struct Tap {
  int64_t index;
  double weight;
};

struct AxisTaps {
  std::vector<std::vector<Tap>> taps;  // per output coordinate; empty = extrapolate
};

struct ResizePlan {
  std::string mode;
  Shape out_shape;
  std::vector<AxisTaps> axes;
  float extrapolation_value = 0.f;
};

std::string doubles_str(const std::vector<double>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

std::vector<double> cubic_coeffs(double r, double a) {
  auto far = [a](double t) { return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a; };  // |t| in [1, 2]
  auto near = [a](double t) { return ((a + 2) * t - (a + 3)) * t * t + 1; };       // |t| in [0, 1]
  return {far(r + 1), near(r), near(1 - r), far(2 - r)};
}

struct AxisSpec {
  int64_t in_len, out_len;
  double scale, roi_start = 0, roi_end = 1;
};

struct Options {
  std::string mode, coord, nearest_mode;  // nearest_mode "" = ORT's opset-10 rule
  double cubic_a = -0.75;
  bool exclude_outside = false;
};

// The input coordinate for output coordinate o; NaN when tf_crop_and_resize falls outside.
double source_coord(const std::string& c, double o, const AxisSpec& ax) {
  const double s = ax.scale, in = static_cast<double>(ax.in_len), out_f = s * in;
  if (c == "asymmetric") return o / s;
  if (c == "align_corners") return out_f == 1 ? 0 : o * (in - 1) / (out_f - 1);
  if (c == "tf_half_pixel_for_nn") return (o + 0.5) / s;
  if (c == "pytorch_half_pixel") return out_f == 1 ? -0.5 : (o + 0.5) / s - 0.5;
  if (c == "tf_crop_and_resize") {
    const double span = (ax.roi_end - ax.roi_start) * (in - 1);
    const double x = (out_f == 1 ? span / 2 : o * span / (out_f - 1)) + ax.roi_start * (in - 1);
    return x < 0 || x > in - 1 ? NAN : x;
  }
  return (o + 0.5) / s - 0.5;  // half_pixel
}

int64_t nearest_index(const std::string& nearest_mode, double x, double scale) {
  if (nearest_mode.empty()) return static_cast<int64_t>(scale < 1 ? std::ceil(x) : std::trunc(x));
  const double fl = std::floor(x), r = x - fl;
  const auto lo = static_cast<int64_t>(fl);
  if (r == 0) return lo;
  if (nearest_mode == "round_prefer_ceil") return lo + (r >= 0.5);
  if (nearest_mode == "floor") return lo;
  if (nearest_mode == "ceil") return lo + 1;
  return lo + (r > 0.5);  // round_prefer_floor
}

AxisTaps axis_taps(const AxisSpec& ax, const Options& opt) {
  AxisTaps at;
  for (int64_t o = 0; o < ax.out_len; ++o) {
    const double x = source_coord(opt.coord, static_cast<double>(o), ax);
    if (std::isnan(x)) {
      at.taps.emplace_back();  // extrapolation_value
      continue;
    }
    std::vector<Tap> taps;
    if (opt.mode == "nearest") {
      taps.push_back({nearest_index(opt.nearest_mode, x, ax.scale), 1.0});
    } else {
      const int64_t left = static_cast<int64_t>(std::ceil(x)) - 1;
      const double r = x - static_cast<double>(left);
      if (opt.mode == "linear") {
        taps = {{left, 1 - r}, {left + 1, r}};
      } else {
        std::vector<double> w = cubic_coeffs(r, opt.cubic_a);
        for (int k = 0; k < 4; ++k) taps.push_back({left - 1 + k, w[k]});
      }
      if (opt.exclude_outside) {
        double sum = 0;
        for (Tap& t : taps) {
          if (t.index < 0 || t.index >= ax.in_len) t.weight = 0;
          sum += t.weight;
        }
        for (Tap& t : taps) t.weight /= sum;
      }
    }
    std::vector<Tap> kept;
    for (Tap t : taps) {
      if (t.weight == 0) continue;
      t.index = std::min(std::max<int64_t>(t.index, 0), ax.in_len - 1);
      kept.push_back(t);
    }
    at.taps.push_back(kept);
  }
  return at;
}

// legacy: opset 10 Resize or Upsample (inputs X, scales; asymmetric; ORT's nearest rule).
ResizePlan plan_resize(const Node& node, std::span<const Tensor> in, bool legacy, bool upsample) {
  const Tensor& x = in[0];
  const size_t r = x.rank();
  auto has = [&](size_t i) { return i < in.size() && in[i].defined() && in[i].numel() > 0; };
  Options opt;
  opt.mode = node.attr_string("mode", "nearest");
  if (opt.mode == "bilinear") opt.mode = "linear";  // Upsample-7 spelling
  EDGEOPT_CHECK_ARG(opt.mode == "nearest" || opt.mode == "linear" || (opt.mode == "cubic" && !legacy),
                    "mode '" + opt.mode + "' is not one of nearest, linear" + (legacy ? "" : ", cubic"));
  opt.coord = legacy ? "asymmetric" : node.attr_string("coordinate_transformation_mode", "half_pixel");
  static const char* kCoords[] = {"half_pixel", "pytorch_half_pixel",   "align_corners",
                                  "asymmetric", "tf_half_pixel_for_nn", "tf_crop_and_resize"};
  EDGEOPT_CHECK(std::find(std::begin(kCoords), std::end(kCoords), opt.coord) != std::end(kCoords),
                ErrorCode::kUnimplemented, "coordinate_transformation_mode '" + opt.coord + "' is not supported");
  opt.nearest_mode = legacy ? "" : node.attr_string("nearest_mode", "round_prefer_floor");
  static const char* kNearest[] = {"", "round_prefer_floor", "round_prefer_ceil", "floor", "ceil"};
  EDGEOPT_CHECK_ARG(
      std::find(std::begin(kNearest), std::end(kNearest), opt.nearest_mode) != std::end(kNearest),
      "nearest_mode '" + opt.nearest_mode + "' is not one of round_prefer_floor, round_prefer_ceil, floor, ceil");
  opt.cubic_a = node.attr_float("cubic_coeff_a", -0.75f);
  opt.exclude_outside = node.attr_int("exclude_outside", 0) != 0;
  EDGEOPT_CHECK(node.attr_int("antialias", 0) == 0, ErrorCode::kUnimplemented,
                "Resize with antialias=1 is not supported");

  // The axes scales/sizes/roi refer to (opset 18), default all.
  std::vector<size_t> axes;
  if (node.has_attr("axes")) {
    std::vector<bool> seen(r, false);
    for (int64_t a : node.attr_ints("axes")) {
      const size_t i = x.shape().normalize_axis(a);
      EDGEOPT_CHECK_ARG(!seen[i], "axis " + std::to_string(a) + " appears more than once in axes");
      seen[i] = true;
      axes.push_back(i);
    }
  } else {
    for (size_t i = 0; i < r; ++i) axes.push_back(i);
  }
  const size_t k = axes.size();

  std::vector<AxisSpec> spec(r);
  for (size_t i = 0; i < r; ++i) spec[i] = {x.shape()[i], x.shape()[i], 1.0};
  std::vector<double> scales;
  if (upsample && !has(1)) {
    for (float f : node.attr_floats("scales")) scales.push_back(f);
    EDGEOPT_CHECK_ARG(!scales.empty(), "Upsample needs 'scales' (input 1 from opset 9, an attribute before)");
  } else if (has(legacy ? 1 : 2)) {
    const Tensor& t = in[legacy ? 1 : 2];
    EDGEOPT_CHECK_ARG(t.dtype() == DType::kF32 && t.rank() == 1,
                      "input 'scales' must be a 1-D f32 tensor, got " + t.describe());
    for (float f : t.to_f32_vector()) scales.push_back(f);
  }
  const bool use_sizes = !legacy && has(3);
  EDGEOPT_CHECK_ARG(use_sizes != !scales.empty(), "exactly one of 'scales' and 'sizes' must be given (got " +
                                                      std::string(use_sizes ? "both" : "neither") + ")");
  if (use_sizes) {
    const Tensor& t = in[3];
    EDGEOPT_CHECK_ARG(
        t.dtype() == DType::kI64 && t.rank() == 1 && static_cast<size_t>(t.numel()) == k,
        "input 'sizes' must be a 1-D int64 tensor of " + std::to_string(k) + " values, got " + t.describe());
    std::vector<int64_t> sizes = t.to_i64_vector();
    const std::string policy = node.attr_string("keep_aspect_ratio_policy", "stretch");
    EDGEOPT_CHECK_ARG(policy == "stretch" || policy == "not_larger" || policy == "not_smaller",
                      "keep_aspect_ratio_policy '" + policy + "' is not one of stretch, not_larger, not_smaller");
    double common = policy == "not_larger" ? INFINITY : 0;
    for (size_t j = 0; j < k; ++j) {
      EDGEOPT_CHECK_ARG(sizes[j] >= 0, "sizes has the negative value " + std::to_string(sizes[j]));
      const double ratio = static_cast<double>(sizes[j]) / static_cast<double>(x.shape()[axes[j]]);
      common = policy == "not_larger" ? std::min(common, ratio) : std::max(common, ratio);
    }
    for (size_t j = 0; j < k; ++j) {
      AxisSpec& a = spec[axes[j]];
      if (policy == "stretch") {
        a.out_len = sizes[j];
        a.scale = static_cast<double>(sizes[j]) / static_cast<double>(a.in_len);
      } else {
        a.scale = common;
        a.out_len = static_cast<int64_t>(std::nearbyint(common * static_cast<double>(a.in_len)));
      }
    }
  } else {
    EDGEOPT_CHECK_ARG(scales.size() == k, "scales " + doubles_str(scales) + " must have " + std::to_string(k) +
                                              " values for input " + x.describe());
    for (size_t j = 0; j < k; ++j) {
      EDGEOPT_CHECK_ARG(scales[j] > 0, "scales " + doubles_str(scales) + " must all be positive");
      AxisSpec& a = spec[axes[j]];
      a.scale = scales[j];
      a.out_len = static_cast<int64_t>(std::floor(static_cast<double>(a.in_len) * scales[j]));
    }
  }
  if (opt.coord == "tf_crop_and_resize") {
    EDGEOPT_CHECK_ARG(has(1) && static_cast<size_t>(in[1].numel()) == 2 * k,
                      "tf_crop_and_resize needs input 'roi' with 2 * " + std::to_string(k) + " values");
    std::vector<float> roi = in[1].to_f32_vector();
    for (size_t j = 0; j < k; ++j) {
      spec[axes[j]].roi_start = roi[j];
      spec[axes[j]].roi_end = roi[j + k];
    }
  }
  ResizePlan p;
  p.mode = opt.mode;
  p.extrapolation_value = node.attr_float("extrapolation_value", 0.f);
  std::vector<int64_t> dims;
  for (size_t i = 0; i < r; ++i) {
    EDGEOPT_CHECK_ARG(spec[i].in_len > 0 || spec[i].out_len == 0, "cannot resize the empty axis " + std::to_string(i) +
                                                                      " of " + x.describe() + " to a non-empty one");
    dims.push_back(spec[i].out_len);
    p.axes.push_back(axis_taps(spec[i], opt));
  }
  p.out_shape = Shape(dims);
  return p;
}

// Calls f(out_flat, taps per axis) for every output element; a null entry means extrapolate.
template <typename F>
void for_each_output(const ResizePlan& p, F f) {
  const size_t r = p.out_shape.rank();
  std::vector<int64_t> idx(r, 0);
  std::vector<const std::vector<Tap>*> taps(r);
  for (int64_t k = 0; k < p.out_shape.numel(); ++k) {
    for (size_t d = 0; d < r; ++d) taps[d] = &p.axes[d].taps[idx[d]];
    f(k, taps);
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < p.out_shape[d]) break;
      idx[d] = 0;
    }
  }
}

// Visits every tap combination: g(input_flat, weight). False when some axis extrapolates.
template <typename G>
bool for_each_tap(const std::vector<const std::vector<Tap>*>& taps, const std::vector<int64_t>& strides, G g) {
  const size_t r = taps.size();
  for (const auto* t : taps)
    if (t->empty()) return false;
  std::vector<size_t> c(r, 0);
  while (true) {
    int64_t off = 0;
    double w = 1;
    for (size_t d = 0; d < r; ++d) {
      off += (*taps[d])[c[d]].index * strides[d];
      w *= (*taps[d])[c[d]].weight;
    }
    g(off, w);
    size_t d = r;
    while (d-- > 0) {
      if (++c[d] < taps[d]->size()) break;
      c[d] = 0;
    }
    if (d == static_cast<size_t>(-1)) return true;
  }
}

void resize_forward(ForwardCtx& ctx, bool legacy, bool upsample) {
  const Tensor& x = required_input(ctx, 0);
  ResizePlan p = plan_resize(ctx.node, ctx.in, legacy, upsample);
  const std::vector<int64_t> strides = x.shape().strides();
  Tensor& y = alloc_output(ctx, 0, x.dtype(), p.out_shape);
  if (p.mode == "nearest" && x.dtype() != DType::kF32) {
    const size_t es = dtype_size(x.dtype());
    const auto* src = static_cast<const uint8_t*>(x.raw());
    auto* dst = static_cast<uint8_t*>(y.raw());
    Tensor fill = Tensor::scalar_f32(p.extrapolation_value).cast(x.dtype());
    for_each_output(p, [&](int64_t o, const std::vector<const std::vector<Tap>*>& taps) {
      const uint8_t* from = static_cast<const uint8_t*>(fill.raw());
      for_each_tap(taps, strides, [&](int64_t i, double) { from = src + i * es; });
      std::memcpy(dst + o * es, from, es);
    });
    return;
  }
  EDGEOPT_CHECK(x.dtype() == DType::kF32, ErrorCode::kUnimplemented,
                "mode '" + p.mode + "' has no kernel for " + x.describe() + " (available: f32; nearest: any dtype)");
  const float* px = x.data<float>();
  float* py = y.data<float>();
  for_each_output(p, [&](int64_t o, const std::vector<const std::vector<Tap>*>& taps) {
    double acc = 0;
    if (for_each_tap(taps, strides, [&](int64_t i, double w) { acc += w * px[i]; }))
      py[o] = static_cast<float>(acc);
    else
      py[o] = p.extrapolation_value;
  });
}

void resize_backward(BackwardCtx& ctx, bool legacy, bool upsample) {
  const Tensor& x = ctx.in[0];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || x.dtype() != DType::kF32) return;
  ResizePlan p = plan_resize(ctx.node, ctx.in, legacy, upsample);
  const std::vector<int64_t> strides = x.shape().strides();
  std::vector<double> dx(static_cast<size_t>(x.numel()), 0.0);
  const float* pdy = ctx.grad_out[0].data<float>();
  for_each_output(p, [&](int64_t o, const std::vector<const std::vector<Tap>*>& taps) {
    for_each_tap(taps, strides, [&](int64_t i, double w) { dx[i] += w * pdy[o]; });
  });
  Tensor g(DType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) g.data<float>()[i] = static_cast<float>(dx[i]);
  ctx.grad_in[0] = g;
}

}  // namespace
}  // namespace resize_common

namespace resize {
namespace {
void resize_ref(ForwardCtx& ctx) { resize_common::resize_forward(ctx, ctx.opset < 11, false); }
// BackwardCtx has no opset: a valid opset 11+ Resize always has at least 3 inputs.
void resize_grad(BackwardCtx& ctx) { resize_common::resize_backward(ctx, ctx.node.inputs.size() <= 2, false); }
}  // namespace
extern const OpDef kOpDef{
    .name = "Resize", .min_opset = 10, .max_opset = 18, .forward = resize_ref, .backward = resize_grad};
}  // namespace resize

namespace upsample {
namespace {
void upsample_ref(ForwardCtx& ctx) { resize_common::resize_forward(ctx, true, true); }
void upsample_grad(BackwardCtx& ctx) { resize_common::resize_backward(ctx, true, true); }
}  // namespace
extern const OpDef kOpDef{
    .name = "Upsample", .min_opset = 7, .max_opset = 9, .forward = upsample_ref, .backward = upsample_grad};
}  // namespace upsample

}  // namespace edgeopt::kernels::ops

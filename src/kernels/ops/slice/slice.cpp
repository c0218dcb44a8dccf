// Slice: numpy basic slicing x[start:end:step] on the listed axes.
// https://onnx.ai/onnx/operators/onnx__Slice.html
// starts/ends/axes are attributes in opsets 1-9 and inputs 1-4 (int32/int64, with steps) from 10.
// Per axis of size d (the numpy rules the ONNX spec spells out):
//   start, end < 0 take += d; step > 0 clamps both to [0, d], step < 0 clamps start to [0, d-1]
//   and end to [-1, d-1]; count = max(0, ceil((end - start) / step)).
// Axes default to 0..len(starts)-1, steps to 1; an axis may appear once.
// Any dtype (bytes are copied). Gradient: dy scattered back into zeros of x's shape.
#include <algorithm>
#include <cstring>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::slice {
namespace {

struct SliceParams {
  std::vector<int64_t> start, step, count;  // per input dim; untouched dims: 0, 1, d
};

std::vector<int64_t> read_ints(std::span<const Tensor> in, size_t i, const char* what) {
  const Tensor& t = in[i];
  EDGEOPT_CHECK_ARG((t.dtype() == DType::kI64 || t.dtype() == DType::kI32) && t.rank() <= 1,
                    std::string("input '") + what + "' must be a 1-D int32/int64 tensor, got " + t.describe());
  return t.to_i64_vector();
}

SliceParams slice_params(const Node& node, std::span<const Tensor> in, const Shape& shape) {
  std::vector<int64_t> starts, ends, axes, steps;
  auto has = [&](size_t i) { return i < in.size() && in[i].defined(); };
  if (has(1)) {
    EDGEOPT_CHECK_ARG(has(2), "input 'ends' is required when 'starts' is given");
    starts = read_ints(in, 1, "starts");
    ends = read_ints(in, 2, "ends");
    if (has(3)) axes = read_ints(in, 3, "axes");
    if (has(4)) steps = read_ints(in, 4, "steps");
  } else {
    EDGEOPT_CHECK_ARG(node.has_attr("starts") && node.has_attr("ends"),
                      "Slice needs starts/ends as inputs (opset 10+) or attributes (opset < 10)");
    starts = node.attr_ints("starts");
    ends = node.attr_ints("ends");
    axes = node.attr_ints("axes");
  }
  const size_t n = starts.size();
  if (axes.empty())
    for (size_t i = 0; i < n; ++i) axes.push_back(static_cast<int64_t>(i));
  if (steps.empty()) steps.assign(n, 1);
  EDGEOPT_CHECK_ARG(ends.size() == n && axes.size() == n && steps.size() == n,
                    "starts, ends, axes and steps must have the same length (got " + std::to_string(n) + ", " +
                        std::to_string(ends.size()) + ", " + std::to_string(axes.size()) + ", " +
                        std::to_string(steps.size()) + ")");
  SliceParams p;
  const size_t r = shape.rank();
  p.start.assign(r, 0);
  p.step.assign(r, 1);
  p.count = shape.dims();
  std::vector<bool> seen(r, false);
  for (size_t i = 0; i < n; ++i) {
    const size_t a = shape.normalize_axis(axes[i]);
    EDGEOPT_CHECK_ARG(!seen[a], "axis " + std::to_string(axes[i]) + " appears more than once");
    seen[a] = true;
    const int64_t d = shape[a], step = steps[i];
    EDGEOPT_CHECK_ARG(step != 0, "steps must not be 0 (axis " + std::to_string(axes[i]) + ")");
    int64_t s = starts[i], e = ends[i];
    if (s < 0) s += d;
    if (e < 0) e += d;
    // Counts as (span - 1) / |step| + 1 so that huge steps (INT64_MAX) cannot overflow.
    if (step > 0) {
      s = std::clamp<int64_t>(s, 0, d);
      e = std::clamp<int64_t>(e, 0, d);
      p.count[a] = e > s ? (e - s - 1) / step + 1 : 0;
    } else if (d == 0) {
      p.count[a] = 0;
    } else {
      const int64_t mag = step == INT64_MIN ? INT64_MAX : -step;
      s = std::clamp<int64_t>(s, 0, d - 1);
      e = std::clamp<int64_t>(e, -1, d - 1);
      p.count[a] = s > e ? (s - e - 1) / mag + 1 : 0;
    }
    p.start[a] = s;
    p.step[a] = step;
  }
  return p;
}

// For each output element in row-major order, calls f(out_flat, in_flat).
template <typename F>
void for_each_slice_element(const Shape& in_shape, const SliceParams& p, F f) {
  const size_t r = in_shape.rank();
  const std::vector<int64_t> strides = in_shape.strides();
  Shape out_shape(p.count);
  const int64_t n = out_shape.numel();
  int64_t off = 0;
  for (size_t d = 0; d < r; ++d) off += p.start[d] * strides[d];
  std::vector<int64_t> idx(r, 0);
  for (int64_t k = 0; k < n; ++k) {
    f(k, off);
    // Steps only between elements: past the last one step * stride may not fit in int64 (a
    // reversed axis with step INT64_MIN, found by UBSan), and it is never needed.
    for (size_t d = r; d-- > 0;) {
      if (++idx[d] < p.count[d]) {
        off += p.step[d] * strides[d];
        break;
      }
      if (p.count[d] > 1) off -= p.step[d] * strides[d] * (p.count[d] - 1);
      idx[d] = 0;
    }
  }
}

void slice_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  SliceParams p = slice_params(ctx.node, ctx.in, x.shape());
  Tensor& y = alloc_output(ctx, 0, x.dtype(), Shape(p.count));
  const size_t es = dtype_size(x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw());
  auto* dst = static_cast<uint8_t*>(y.raw());
  for_each_slice_element(x.shape(), p, [&](int64_t o, int64_t i) { std::memcpy(dst + o * es, src + i * es, es); });
}

void slice_grad(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || x.dtype() != DType::kF32) return;
  SliceParams p = slice_params(ctx.node, ctx.in, x.shape());
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  const float* pdy = ctx.grad_out[0].data<float>();
  float* pdx = dx.data<float>();
  for_each_slice_element(x.shape(), p, [&](int64_t o, int64_t i) { pdx[i] += pdy[o]; });
  ctx.grad_in[0] = dx;
}

}  // namespace

extern const OpDef kOpDef{
    .name = "Slice", .min_opset = 1, .max_opset = 18, .forward = slice_ref, .backward = slice_grad};

}  // namespace edgeopt::kernels::ops::slice

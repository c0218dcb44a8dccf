// Split: cuts the input along `axis` (default 0) into len(outputs) consecutive parts.
// https://onnx.ai/onnx/operators/onnx__Split.html
// Part sizes, in order of precedence: input 1 `split` (int64, opset 13+), attribute `split`
// (opsets 2-12), else equal parts: dim/n exactly before opset 18; with `num_outputs` (opset 18)
// every part is ceil(dim/n) and the last takes the remainder.
// Any dtype (bytes are copied). Gradient: the output grads concatenated back (zeros where a part
// got no gradient).
#include <algorithm>
#include <cstring>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::split {
namespace {

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

std::vector<int64_t> part_sizes(const Node& node, std::span<const Tensor> in, size_t n_out, int64_t dim) {
  std::vector<int64_t> sizes;
  if (in.size() > 1 && in[1].defined()) {
    EDGEOPT_CHECK_ARG(in[1].dtype() == DType::kI64 && in[1].rank() == 1,
                      "input 'split' must be a 1-D int64 tensor, got " + in[1].describe());
    sizes = in[1].to_i64_vector();
  } else if (node.has_attr("split")) {
    sizes = node.attr_ints("split");
  } else if (node.has_attr("num_outputs")) {
    const int64_t n = node.attr_int("num_outputs", 0);
    EDGEOPT_CHECK_ARG(
        n >= 1 && static_cast<size_t>(n) == n_out,
        "num_outputs=" + std::to_string(n) + " must equal the number of outputs " + std::to_string(n_out));
    const int64_t chunk = (dim + n - 1) / n;
    for (int64_t i = 0; i < n; ++i) sizes.push_back(std::max<int64_t>(0, std::min(chunk, dim - i * chunk)));
  } else {
    const auto n = static_cast<int64_t>(n_out);
    EDGEOPT_CHECK_ARG(n >= 1 && dim % n == 0, "cannot split dim " + std::to_string(dim) + " into " + std::to_string(n) +
                                                  " equal parts; give 'split' sizes");
    sizes.assign(n_out, dim / n);
  }
  EDGEOPT_CHECK_ARG(sizes.size() == n_out, "split " + ints_str(sizes) + " has " + std::to_string(sizes.size()) +
                                               " entries but the node has " + std::to_string(n_out) + " outputs");
  int64_t total = 0;
  for (int64_t s : sizes) {
    EDGEOPT_CHECK_ARG(s >= 0, "split " + ints_str(sizes) + " has a negative size");
    total += s;
  }
  EDGEOPT_CHECK_ARG(total == dim, "split " + ints_str(sizes) + " sums to " + std::to_string(total) +
                                      " but the split dim is " + std::to_string(dim));
  return sizes;
}

void outer_inner(const Shape& s, size_t axis, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (size_t i = 0; i < s.rank(); ++i)
    if (i < axis)
      outer *= s[i];
    else if (i > axis)
      inner *= s[i];
}

void split_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  EDGEOPT_CHECK_ARG(x.rank() > 0, "cannot split a scalar");
  const size_t axis = x.shape().normalize_axis(ctx.node.attr_int("axis", 0));
  const size_t n_out = ctx.node.outputs.size();
  std::vector<int64_t> sizes = part_sizes(ctx.node, ctx.in, n_out, x.shape()[axis]);
  int64_t outer, inner;
  outer_inner(x.shape(), axis, outer, inner);
  const size_t es = dtype_size(x.dtype());
  const int64_t in_row = x.shape()[axis] * inner;
  const auto* src = static_cast<const uint8_t*>(x.raw());
  int64_t col = 0;
  for (size_t i = 0; i < n_out; ++i) {
    const int64_t row = sizes[i] * inner;
    if (!ctx.node.outputs[i].empty()) {
      Shape s = x.shape();
      s[axis] = sizes[i];
      auto* dst = static_cast<uint8_t*>(alloc_output(ctx, i, x.dtype(), s).raw());
      for (int64_t o = 0; o < outer; ++o) std::memcpy(dst + o * row * es, src + (o * in_row + col) * es, row * es);
    }
    col += row;
  }
}

void split_grad(BackwardCtx& ctx) {
  const Tensor& x = ctx.in[0];
  if (x.dtype() != DType::kF32) return;
  const size_t axis = x.shape().normalize_axis(ctx.node.attr_int("axis", 0));
  int64_t outer, inner;
  outer_inner(x.shape(), axis, outer, inner);
  const int64_t in_row = x.shape()[axis] * inner;
  std::vector<int64_t> sizes = part_sizes(ctx.node, ctx.in, ctx.node.outputs.size(), x.shape()[axis]);
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  int64_t col = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const int64_t row = sizes[i] * inner;
    if (i < ctx.grad_out.size() && ctx.grad_out[i].defined())
      for (int64_t o = 0; o < outer; ++o)
        std::memcpy(dx.data<float>() + o * in_row + col, ctx.grad_out[i].data<float>() + o * row, row * sizeof(float));
    col += row;
  }
  ctx.grad_in[0] = dx;
}

}  // namespace

extern const OpDef kOpDef{
    .name = "Split", .min_opset = 2, .max_opset = 18, .forward = split_ref, .backward = split_grad};

}  // namespace edgeopt::kernels::ops::split

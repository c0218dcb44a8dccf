// Gather: picks slices of `data` along `axis` (default 0) by `indices` (int32/int64).
// https://onnx.ai/onnx/operators/onnx__Gather.html
//   out.shape = data.shape[:axis] + indices.shape + data.shape[axis+1:]
//   out[o, j..., i] = data[o, idx(j...), i]   with idx in [-d, d-1], negative counting from the end
// Viewed as data [outer, d, inner] and out [outer, n_idx, inner]. Any data dtype (bytes copied).
// Gradient w.r.t. data: dy scatter-added into zeros (repeated indices accumulate).
#include <cstring>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::gather {
namespace {

struct GatherPlan {
  size_t axis;
  int64_t outer, dim, inner;
  std::vector<int64_t> idx;  // normalized to [0, dim)
  Shape out_shape;
};

GatherPlan plan_gather(const Node& node, const Tensor& data, const Tensor& indices) {
  EDGEOPT_CHECK_ARG(data.rank() > 0, "data must have rank >= 1, got " + data.describe());
  EDGEOPT_CHECK_ARG(indices.dtype() == DType::kI64 || indices.dtype() == DType::kI32,
                    "indices must be int32 or int64, got " + indices.describe());
  GatherPlan p;
  p.axis = data.shape().normalize_axis(node.attr_int("axis", 0));
  p.dim = data.shape()[p.axis];
  p.outer = p.inner = 1;
  for (size_t i = 0; i < data.rank(); ++i)
    if (i < p.axis)
      p.outer *= data.shape()[i];
    else if (i > p.axis)
      p.inner *= data.shape()[i];
  p.idx = indices.to_i64_vector();
  for (int64_t& v : p.idx) {
    EDGEOPT_CHECK_ARG(v >= -p.dim && v < p.dim, "index " + std::to_string(v) + " is out of range [" +
                                                    std::to_string(-p.dim) + ", " + std::to_string(p.dim - 1) +
                                                    "] for axis " + std::to_string(p.axis) + " of data " +
                                                    data.describe());
    if (v < 0) v += p.dim;
  }
  std::vector<int64_t> dims(data.shape().dims().begin(), data.shape().dims().begin() + p.axis);
  dims.insert(dims.end(), indices.shape().dims().begin(), indices.shape().dims().end());
  dims.insert(dims.end(), data.shape().dims().begin() + p.axis + 1, data.shape().dims().end());
  p.out_shape = Shape(dims);
  return p;
}

void gather_ref(ForwardCtx& ctx) {
  const Tensor& data = required_input(ctx, 0);
  const Tensor& indices = required_input(ctx, 1);
  GatherPlan p = plan_gather(ctx.node, data, indices);
  Tensor& y = alloc_output(ctx, 0, data.dtype(), p.out_shape);
  const size_t row = static_cast<size_t>(p.inner) * dtype_size(data.dtype());
  const auto* src = static_cast<const uint8_t*>(data.raw());
  auto* dst = static_cast<uint8_t*>(y.raw());
  const auto n = static_cast<int64_t>(p.idx.size());
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t j = 0; j < n; ++j) std::memcpy(dst + (o * n + j) * row, src + (o * p.dim + p.idx[j]) * row, row);
}

void gather_grad(BackwardCtx& ctx) {
  const Tensor& data = ctx.in[0];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || data.dtype() != DType::kF32) return;
  GatherPlan p = plan_gather(ctx.node, data, ctx.in[1]);
  Tensor dx = Tensor::zeros(DType::kF32, data.shape());
  const float* pdy = ctx.grad_out[0].data<float>();
  float* pdx = dx.data<float>();
  const auto n = static_cast<int64_t>(p.idx.size());
  for (int64_t o = 0; o < p.outer; ++o)
    for (int64_t j = 0; j < n; ++j)
      for (int64_t i = 0; i < p.inner; ++i) pdx[(o * p.dim + p.idx[j]) * p.inner + i] += pdy[(o * n + j) * p.inner + i];
  ctx.grad_in[0] = dx;
}

}  // namespace

extern const OpDef kOpDef{
    .name = "Gather", .min_opset = 1, .max_opset = 18, .forward = gather_ref, .backward = gather_grad};

}  // namespace edgeopt::kernels::ops::gather

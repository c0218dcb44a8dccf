// Transpose: y.shape[i] = x.shape[perm[i]], y[i0..ir] = x at index j with j[perm[k]] = i[k].
// perm defaults to the reversal (r-1 .. 0). https://onnx.ai/onnx/operators/onnx__Transpose.html
// Any dtype: elements are moved as dtype_size bytes. Gradient: dy transposed by the inverse perm.
#include <cstring>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::transpose {
namespace {

std::vector<int64_t> read_perm(const Node& node, size_t rank) {
  std::vector<int64_t> perm = node.attr_ints("perm");
  if (!node.has_attr("perm")) {
    for (size_t i = rank; i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    return perm;
  }
  std::string s;
  for (int64_t p : perm) s += std::to_string(p) + " ";
  EDGEOPT_CHECK_ARG(perm.size() == rank, "perm [ " + s + "] has " + std::to_string(perm.size()) +
                                             " entries but the input has rank " + std::to_string(rank));
  std::vector<bool> seen(rank, false);
  for (int64_t p : perm) {
    EDGEOPT_CHECK_ARG(p >= 0 && p < static_cast<int64_t>(rank) && !seen[p],
                      "perm [ " + s + "] is not a permutation of 0.." + std::to_string(rank) + "-1");
    seen[p] = true;
  }
  return perm;
}

// Walks y in row-major order while stepping x by its stride of the permuted axis.
Tensor transpose_any_ref(const Tensor& x, const std::vector<int64_t>& perm) {
  const size_t r = x.rank();
  std::vector<int64_t> out_dims(r), in_strides = x.shape().strides(), step(r);
  for (size_t i = 0; i < r; ++i) {
    out_dims[i] = x.shape()[perm[i]];
    step[i] = in_strides[perm[i]];
  }
  Tensor y(x.dtype(), Shape(out_dims));
  const size_t es = dtype_size(x.dtype());
  const auto* src = static_cast<const uint8_t*>(x.raw());
  auto* dst = static_cast<uint8_t*>(y.raw());
  std::vector<int64_t> idx(r, 0);
  int64_t off = 0;
  for (int64_t k = 0; k < y.numel(); ++k) {
    std::memcpy(dst + k * es, src + off * es, es);
    for (size_t d = r; d-- > 0;) {
      off += step[d];
      if (++idx[d] < out_dims[d]) break;
      off -= step[d] * out_dims[d];
      idx[d] = 0;
    }
  }
  return y;
}

void transpose_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  ctx.out[0] = transpose_any_ref(x, read_perm(ctx.node, x.rank()));
}

// When the permutation only moves size-1 axes (an LSTM's [T, 1, H] <-> [1, T, H] at batch 1), the
// elements keep their order: one copy instead of the per-element index walk.
void transpose_fast(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const std::vector<int64_t> perm = read_perm(ctx.node, x.rank());
  int64_t last = -1;
  std::vector<int64_t> out_dims(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) {
    out_dims[i] = x.shape()[perm[i]];
    if (out_dims[i] == 1) continue;
    if (perm[i] < last) {
      ctx.out[0] = transpose_any_ref(x, perm);
      return;
    }
    last = perm[i];
  }
  ctx.out[0] = x.clone().reshaped(Shape(out_dims));
}

void transpose_grad(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || ctx.in[0].dtype() != DType::kF32) return;
  std::vector<int64_t> perm = read_perm(ctx.node, ctx.in[0].rank()), inv(perm.size());
  for (size_t i = 0; i < perm.size(); ++i) inv[perm[i]] = static_cast<int64_t>(i);
  ctx.grad_in[0] = transpose_any_ref(ctx.grad_out[0], inv);
}

}  // namespace

extern const OpDef kOpDef{
    .name = "Transpose", .min_opset = 1, .max_opset = 18, .forward = transpose_ref, .backward = transpose_grad,
    .forward_fast = transpose_fast};

}  // namespace edgeopt::kernels::ops::transpose

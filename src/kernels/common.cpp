#include "kernels/common.h"

namespace edgeopt::kernels {

Tensor& alloc_output(ForwardCtx& ctx, size_t i, DType dtype, Shape shape) {
  if (ctx.out.size() <= i) ctx.out.resize(i + 1);
  ctx.out[i] = Tensor(dtype, std::move(shape));
  return ctx.out[i];
}

const Tensor& required_input(const ForwardCtx& ctx, size_t i) {
  if (i >= ctx.in.size() || !ctx.in[i].defined())
    throw_error(ErrorCode::kInvalidArgument,
                "input " + std::to_string(i) + (i < ctx.node.inputs.size() ? " '" + ctx.node.inputs[i] + "'" : "") +
                    " is required");
  return ctx.in[i];
}

void require_f32(const ForwardCtx& ctx, size_t i) {
  const Tensor& t = required_input(ctx, i);
  if (t.dtype() != DType::kF32)
    throw_error(ErrorCode::kUnimplemented, "input " + std::to_string(i) + " '" + ctx.node.inputs[i] + "' is " +
                                               t.describe() + "; this kernel supports f32 only");
}

BroadcastIndex::BroadcastIndex(const Shape& a, const Shape& b, const Shape& out) {
  const size_t r = out.rank();
  const int64_t n = out.numel();
  auto padded_strides = [&](const Shape& s) {
    std::vector<int64_t> st(r, 0);
    auto own = s.strides();
    for (size_t i = 0; i < s.rank(); ++i) {
      size_t oi = r - s.rank() + i;
      st[oi] = s[i] == 1 ? 0 : own[i];
    }
    return st;
  };
  auto sa = padded_strides(a), sb = padded_strides(b);
  a_index.resize(static_cast<size_t>(n));
  b_index.resize(static_cast<size_t>(n));
  std::vector<int64_t> idx(r, 0);
  int64_t ia = 0, ib = 0;
  for (int64_t k = 0; k < n; ++k) {
    a_index[k] = ia;
    b_index[k] = ib;
    for (size_t d = r; d-- > 0;) {
      ++idx[d];
      ia += sa[d];
      ib += sb[d];
      if (idx[d] < out[d]) break;
      ia -= sa[d] * out[d];
      ib -= sb[d] * out[d];
      idx[d] = 0;
    }
  }
}

Tensor reduce_to_shape_f32(const Tensor& grad, const Shape& target) {
  if (grad.shape() == target) return grad.clone();
  Tensor out = Tensor::zeros(DType::kF32, target);
  BroadcastIndex bi(target, target, grad.shape());
  const float* g = grad.data<float>();
  float* o = out.data<float>();
  for (int64_t k = 0; k < grad.numel(); ++k) o[bi.a_index[k]] += g[k];
  return out;
}


}  // namespace edgeopt::kernels

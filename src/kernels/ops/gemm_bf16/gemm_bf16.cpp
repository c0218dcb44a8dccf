#include "kernels/ops/gemm_bf16/gemm_bf16.h"

#include <algorithm>

#include "core/dtype.h"
#include "kernels/common.h"

namespace edgeopt::kernels::ops::gemm_bf16 {

GemmBf16Dims gemm_bf16_dims(const ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const Shape& a = ctx.in[0].shape();
  const Shape& b = ctx.in[1].shape();
  EDGEOPT_CHECK_ARG(a.rank() >= 2, "input A has shape " + a.str() + ", but GemmBf16 needs rank >= 2");
  EDGEOPT_CHECK_ARG(b.rank() == 2, "input B has shape " + b.str() + ", but GemmBf16 needs a 2-D B");
  GemmBf16Dims d;
  d.trans_b = ctx.node.attr_int("transB", 0) != 0;
  d.k = a[a.rank() - 1];
  d.rows = 1;
  for (size_t i = 0; i + 1 < a.rank(); ++i) d.rows *= a[i];
  d.n = d.trans_b ? b[0] : b[1];
  const int64_t kb = d.trans_b ? b[1] : b[0];
  EDGEOPT_CHECK_ARG(kb == d.k, "inner dims differ: A " + a.str() + " gives K=" + std::to_string(d.k) + ", B " +
                                   b.str() + (d.trans_b ? " (transB)" : "") + " gives K=" + std::to_string(kb));
  std::vector<int64_t> y = a.dims();
  y.back() = d.n;
  d.y = Shape(y);
  return d;
}

const float* gemm_bf16_bias(const ForwardCtx& ctx) {
  if (!ctx.node.has_input(2) || ctx.in.size() <= 2 || !ctx.in[2].defined()) return nullptr;
  require_f32(ctx, 2);
  const Tensor& b = ctx.in[2];
  const Shape& w = ctx.in[1].shape();
  const int64_t n = ctx.node.attr_int("transB", 0) != 0 ? w[0] : w[1];
  EDGEOPT_CHECK_ARG(b.numel() == n, "bias " + b.describe() + " needs " + std::to_string(n) + " values (one per column)");
  return b.data<float>();
}

namespace {

// The oracle: y[r, j] = clamp(sum_p bf16(A[r, p]) bf16(op(B)[p, j]) + bias[j]) in f32, p in order.
void gemm_bf16_ref(ForwardCtx& ctx) {
  const GemmBf16Dims d = gemm_bf16_dims(ctx);
  const float* bias = gemm_bf16_bias(ctx);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, d.y);
  const float* pa = ctx.in[0].data<float>();
  const float* pb = ctx.in[1].data<float>();
  float* py = y.data<float>();
  const FusedActivation act = fused_activation(ctx.node);
  const auto r = [](float v) { return bf16_to_f32(f32_to_bf16(v)); };
  for (int64_t i = 0; i < d.rows; ++i)
    for (int64_t j = 0; j < d.n; ++j) {
      float s = 0.f;
      for (int64_t p = 0; p < d.k; ++p) s += r(pa[i * d.k + p]) * r(d.trans_b ? pb[j * d.k + p] : pb[p * d.n + j]);
      if (bias) s += bias[j];
      if (act.any()) s = std::min(std::max(s, act.lo), act.hi);
      py[i * d.n + j] = s;
    }
}

int64_t gemm_bf16_macs(const Node&, std::span<const Shape> in, std::span<const Shape> out) {
  if (in.empty() || out.empty() || in[0].rank() < 1) return 0;
  return out[0].numel() * in[0][in[0].rank() - 1];
}

}  // namespace

extern const OpDef kOpDef{.name = "GemmBf16", .min_opset = 1, .max_opset = 18, .forward = gemm_bf16_ref,
                          .macs = gemm_bf16_macs, .forward_fast = gemm_bf16_fast, .prepare = gemm_bf16_prepare};

}  // namespace edgeopt::kernels::ops::gemm_bf16

#include "kernels/ops/gemm/gemm_fast.h"

#include <vector>

#include "kernels/common.h"
#include "kernels/microkernels/gemm/gemm.h"

namespace edgeopt::kernels::ops::gemm {
namespace {

namespace mk = edgeopt::kernels::gemm;

struct FastGemmDims {
  int64_t m = 0, k = 0, n = 0;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
};

// The same validation (and messages) as the reference gemm_dims in gemm.cpp.
FastGemmDims fast_gemm_dims(const Node& node, const Shape& a, const Shape& b, const Tensor* c) {
  EDGEOPT_CHECK_ARG(a.rank() == 2, "input A has shape " + a.str() + ", but Gemm needs a 2-D A");
  EDGEOPT_CHECK_ARG(b.rank() == 2, "input B has shape " + b.str() + ", but Gemm needs a 2-D B");
  FastGemmDims d;
  d.trans_a = node.attr_int("transA", 0) != 0;
  d.trans_b = node.attr_int("transB", 0) != 0;
  d.alpha = node.attr_float("alpha", 1.f);
  d.beta = node.attr_float("beta", 1.f);
  d.m = d.trans_a ? a[1] : a[0];
  d.k = d.trans_a ? a[0] : a[1];
  d.n = d.trans_b ? b[0] : b[1];
  const int64_t kb = d.trans_b ? b[1] : b[0];
  EDGEOPT_CHECK_ARG(kb == d.k, "inner dims differ: A " + a.str() + (d.trans_a ? " (transA)" : "") + " gives K=" +
                                   std::to_string(d.k) + ", B " + b.str() + (d.trans_b ? " (transB)" : "") +
                                   " gives K=" + std::to_string(kb));
  if (c && c->defined()) {
    const Shape mn{d.m, d.n};
    bool ok = c->rank() <= 2;
    if (ok) ok = broadcast_shapes(c->shape(), mn) == mn;
    EDGEOPT_CHECK_ARG(ok, "input C has shape " + c->shape().str() + ", which does not broadcast to [M, N] = " +
                              mn.str());
  }
  return d;
}

bool has_c(std::span<const Tensor> in) { return in.size() > 2 && in[2].defined(); }

}  // namespace

void gemm_f32_fast(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const bool with_c = has_c(ctx.in);
  if (with_c) require_f32(ctx, 2);
  const Tensor& a = ctx.in[0];
  const Tensor& b = ctx.in[1];
  const FastGemmDims d = fast_gemm_dims(ctx.node, a.shape(), b.shape(), with_c ? &ctx.in[2] : nullptr);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, {d.m, d.n});
  if (y.numel() == 0) return;
  float* py = y.data<float>();
  mk::GemmEpilogue ep;
  const FusedActivation act = fused_activation(ctx.node);
  ep.clamp_min = act.lo;
  ep.clamp_max = act.hi;
  float beta = 0.f;
  std::vector<float> bias;  // beta * C as a row or column vector
  if (with_c && d.beta != 0.f) {
    const Tensor& c = ctx.in[2];
    const float* pc = c.data<float>();
    const Shape& cs = c.shape();
    const bool per_row = cs.rank() == 2 && cs[1] == 1 && cs[0] == d.m && d.m != 1;
    const bool full = cs.rank() == 2 && cs[0] == d.m && cs[1] == d.n && d.m != 1 && d.n != 1;
    if (full) {
      // Y starts as C and the GEMM accumulates onto it with beta.
      std::copy(pc, pc + c.numel(), py);
      beta = d.beta;
    } else if (per_row) {
      bias.resize(d.m);
      for (int64_t i = 0; i < d.m; ++i) bias[i] = d.beta * pc[i];
      ep.row_bias = bias.data();
    } else {
      // scalar, [1], [N], [1, 1] or [1, N]: one value per column.
      bias.resize(d.n);
      for (int64_t j = 0; j < d.n; ++j) bias[j] = d.beta * pc[c.numel() == 1 ? 0 : j];
      ep.col_bias = bias.data();
    }
  }
  mk::gemm_f32(d.trans_a, d.trans_b, d.m, d.n, d.k, d.alpha, a.data<float>(), a.shape()[1], b.data<float>(),
               b.shape()[1], beta, py, d.n, ep);
}

void gemm_f32_grad_fast(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& a = ctx.in[0];
  const Tensor& b = ctx.in[1];
  const bool with_c = has_c(ctx.in);
  const FastGemmDims d = fast_gemm_dims(ctx.node, a.shape(), b.shape(), with_c ? &ctx.in[2] : nullptr);
  Tensor da(DType::kF32, a.shape());
  Tensor db(DType::kF32, b.shape());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* pdy = dy.data<float>();
  const int64_t lda = a.shape()[1], ldb = b.shape()[1];
  // dA' = alpha dY B'^T; stored transposed when transA.
  if (!d.trans_a)
    mk::gemm_f32(false, !d.trans_b, d.m, d.k, d.n, d.alpha, pdy, d.n, pb, ldb, 0.f, da.data<float>(), d.k);
  else
    mk::gemm_f32(d.trans_b, true, d.k, d.m, d.n, d.alpha, pb, ldb, pdy, d.n, 0.f, da.data<float>(), d.m);
  // dB' = alpha A'^T dY; stored transposed when transB.
  if (!d.trans_b)
    mk::gemm_f32(!d.trans_a, false, d.k, d.n, d.m, d.alpha, pa, lda, pdy, d.n, 0.f, db.data<float>(), d.n);
  else
    mk::gemm_f32(true, d.trans_a, d.n, d.k, d.m, d.alpha, pdy, d.n, pa, lda, 0.f, db.data<float>(), d.k);
  ctx.grad_in[0] = da;
  ctx.grad_in[1] = db;
  if (with_c) {
    Tensor dc = reduce_to_shape_f32(dy, ctx.in[2].shape());
    float* pdc = dc.data<float>();
    for (int64_t e = 0; e < dc.numel(); ++e) pdc[e] *= d.beta;
    ctx.grad_in[2] = dc;
  }
}

}  // namespace edgeopt::kernels::ops::gemm

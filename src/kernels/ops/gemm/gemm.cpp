// Gemm (ONNX https://onnx.ai/onnx/operators/onnx__Gemm.html, opsets 7-18):
//   Y[M, N] = alpha * A' @ B' + beta * C,  A' = transA ? A^T : A  [M, K],  B' = transB ? B^T : B  [K, N]
// C is optional (opset 11+) and broadcasts unidirectionally to [M, N] (scalar, [N], [1, N], [M, 1], ...).
// Gradients: dA' = alpha * dY @ B'^T, dB' = alpha * A'^T @ dY (transposed back when trans*), and
// dC = beta * dY summed over the broadcast dims.
#include <algorithm>

#include "kernels/common.h"
#include "kernels/ops/gemm/gemm_fast.h"

namespace edgeopt::kernels::ops::gemm {
namespace {

struct GemmDims {
  int64_t m = 0, k = 0, n = 0;
  bool trans_a = false, trans_b = false;
  float alpha = 1.f, beta = 1.f;
};

GemmDims gemm_dims(const Node& node, const Shape& a, const Shape& b, const Tensor* c) {
  EDGEOPT_CHECK_ARG(a.rank() == 2, "input A has shape " + a.str() + ", but Gemm needs a 2-D A");
  EDGEOPT_CHECK_ARG(b.rank() == 2, "input B has shape " + b.str() + ", but Gemm needs a 2-D B");
  GemmDims d;
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
    // Unidirectional: C's dims, right-aligned against [M, N], are 1 or equal.
    const Shape& cs = c->shape();
    bool ok = cs.rank() <= 2;
    for (size_t i = 0; ok && i < cs.rank(); ++i) {
      const int64_t want = i + 2 - cs.rank() == 0 ? d.m : d.n;
      ok = cs[i] == 1 || cs[i] == want;
    }
    EDGEOPT_CHECK_ARG(ok, "input C has shape " + cs.str() + ", which does not broadcast to [M, N] = [" +
                              std::to_string(d.m) + "," + std::to_string(d.n) + "]");
  }
  return d;
}

float a_at(const float* a, const GemmDims& d, int64_t i, int64_t p) { return d.trans_a ? a[p * d.m + i] : a[i * d.k + p]; }
float b_at(const float* b, const GemmDims& d, int64_t p, int64_t j) { return d.trans_b ? b[j * d.k + p] : b[p * d.n + j]; }

bool has_c(const std::span<const Tensor> in) { return in.size() > 2 && in[2].defined(); }

void gemm_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const bool with_c = has_c(ctx.in);
  if (with_c) require_f32(ctx, 2);
  const GemmDims d = gemm_dims(ctx.node, ctx.in[0].shape(), ctx.in[1].shape(), with_c ? &ctx.in[2] : nullptr);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, {d.m, d.n});
  const float* pa = ctx.in[0].data<float>();
  const float* pb = ctx.in[1].data<float>();
  float* py = y.data<float>();
  for (int64_t i = 0; i < d.m; ++i)
    for (int64_t j = 0; j < d.n; ++j) {
      float acc = 0.f;
      for (int64_t p = 0; p < d.k; ++p) acc += a_at(pa, d, i, p) * b_at(pb, d, p, j);
      py[i * d.n + j] = d.alpha * acc;
    }
  if (with_c) {
    const Tensor& c = ctx.in[2];
    BroadcastIndex bi(c.shape(), y.shape(), y.shape());
    const float* pc = c.data<float>();
    for (int64_t e = 0; e < y.numel(); ++e) py[e] += d.beta * pc[bi.a_index[e]];
  }
  const FusedActivation act = fused_activation(ctx.node);
  if (act.any())
    for (int64_t e = 0; e < y.numel(); ++e) py[e] = std::min(std::max(py[e], act.lo), act.hi);
}

void gemm_f32_grad_ref(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& a = ctx.in[0];
  const Tensor& b = ctx.in[1];
  const bool with_c = has_c(ctx.in);
  const GemmDims d = gemm_dims(ctx.node, a.shape(), b.shape(), with_c ? &ctx.in[2] : nullptr);
  Tensor da = Tensor::zeros(DType::kF32, a.shape());
  Tensor db = Tensor::zeros(DType::kF32, b.shape());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* pdy = dy.data<float>();
  float* pda = da.data<float>();
  float* pdb = db.data<float>();
  for (int64_t i = 0; i < d.m; ++i)
    for (int64_t j = 0; j < d.n; ++j) {
      const float g = d.alpha * pdy[i * d.n + j];
      for (int64_t p = 0; p < d.k; ++p) {
        // The same index maps as the forward, so the transposes take care of themselves.
        (d.trans_a ? pda[p * d.m + i] : pda[i * d.k + p]) += g * b_at(pb, d, p, j);
        (d.trans_b ? pdb[j * d.k + p] : pdb[p * d.n + j]) += g * a_at(pa, d, i, p);
      }
    }
  ctx.grad_in[0] = da;
  ctx.grad_in[1] = db;
  if (with_c) {
    Tensor dc = reduce_to_shape_f32(dy, ctx.in[2].shape());
    float* pdc = dc.data<float>();
    for (int64_t e = 0; e < dc.numel(); ++e) pdc[e] *= d.beta;
    ctx.grad_in[2] = dc;
  }
}

// M * N * K.
int64_t gemm_macs(const Node& node, std::span<const Shape> in, std::span<const Shape> out) {
  if (in.empty() || out.empty() || in[0].rank() != 2) return 0;
  const int64_t k = node.attr_int("transA", 0) ? in[0][0] : in[0][1];
  return out[0].numel() * k;
}

}  // namespace

extern const OpDef kOpDef{.name = "Gemm", .min_opset = 7, .max_opset = 18, .forward = gemm_f32_ref,
                          .backward = gemm_f32_grad_fast, .macs = gemm_macs,
                          .forward_fast = gemm_f32_fast, .backward_ref = gemm_f32_grad_ref};

}  // namespace edgeopt::kernels::ops::gemm

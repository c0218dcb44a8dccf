#include "kernels/ops/sparse/sparse.h"

#include <algorithm>
#include <vector>

#include "kernels/common.h"
#include "kernels/microkernels/conv/im2col.h"
#include "kernels/microkernels/sparse/spmm_csr.h"
#include "kernels/ops/conv/conv_geometry.h"

namespace edgeopt::kernels::ops::sparse {

using microkernels::CsrViewF32;

// The CSR weight from inputs 1..3, checked against weight_shape [rows, ...] (cols = the rest).
static CsrViewF32 csr_weight(const ForwardCtx& ctx, const std::vector<int64_t>& wshape) {
  EDGEOPT_CHECK_ARG(wshape.size() >= 2, "attribute weight_shape must have rank >= 2, got " +
                                            conv::ints_str(wshape));
  const Tensor& v = required_input(ctx, 1);
  const Tensor& ci = required_input(ctx, 2);
  const Tensor& rp = required_input(ctx, 3);
  require_f32(ctx, 1);
  EDGEOPT_CHECK_ARG(ci.dtype() == DType::kI32 && rp.dtype() == DType::kI32,
                    "col_idx and row_ptr must be int32, got " + ci.describe() + " and " + rp.describe());
  CsrViewF32 w;
  w.rows = wshape[0];
  w.cols = 1;
  for (size_t i = 1; i < wshape.size(); ++i) w.cols *= wshape[i];
  EDGEOPT_CHECK_ARG(rp.numel() == w.rows + 1 && ci.numel() == v.numel(),
                    "CSR arrays do not fit weight_shape " + conv::ints_str(wshape) + ": values " + v.describe() +
                        ", col_idx " + ci.describe() + ", row_ptr " + rp.describe());
  w.values = v.data<float>();
  w.col_idx = ci.data<int32_t>();
  w.row_ptr = rp.data<int32_t>();
  EDGEOPT_CHECK_ARG(w.row_ptr[0] == 0 && w.row_ptr[w.rows] == v.numel(), "row_ptr must run from 0 to nnz");
  return w;
}

static const float* bias_of(const ForwardCtx& ctx, int64_t rows) {
  if (!ctx.node.has_input(4) || ctx.in.size() <= 4 || !ctx.in[4].defined()) return nullptr;
  require_f32(ctx, 4);
  EDGEOPT_CHECK_ARG(ctx.in[4].numel() == rows, "bias " + ctx.in[4].describe() + " needs " + std::to_string(rows) +
                                                   " values (one per output channel)");
  return ctx.in[4].data<float>();
}

void sparse_conv_f32(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const std::vector<int64_t> wshape = ctx.node.attr_ints("weight_shape");
  const CsrViewF32 w = csr_weight(ctx, wshape);
  EDGEOPT_CHECK_ARG(ctx.node.attr_int("group", 1) == 1, "SparseConv supports group 1 only");
  const conv::ConvDims d = conv::conv_dims(ctx.node, ctx.in[0].shape(), Shape(wshape), nullptr);
  const float* bias = bias_of(ctx, d.m);
  std::vector<int64_t> out_dims{d.n, d.m};
  for (int64_t s : d.win.real(d.win.small)) out_dims.push_back(s);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(out_dims));
  const FusedActivation act = fused_activation(ctx.node);
  const microkernels::Im2colGeometry geo = conv::im2col_geometry(d.win);
  const bool pointwise = conv::pointwise_window(d.win);
  const int64_t in_sz = d.win.big_numel(), out_sz = d.win.small_numel();
  std::vector<float> col(pointwise ? 0 : static_cast<size_t>(w.cols * out_sz));
  for (int64_t i = 0; i < d.n; ++i) {
    const float* x = ctx.in[0].data<float>() + i * d.c * in_sz;
    if (!pointwise) microkernels::im2col_f32(geo, d.c, x, col.data());
    microkernels::spmm_csr_f32(w, pointwise ? x : col.data(), out_sz, bias, act.lo, act.hi,
                               y.data<float>() + i * d.m * out_sz);
  }
}

void sparse_gemm_f32(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const CsrViewF32 w = csr_weight(ctx, ctx.node.attr_ints("weight_shape"));
  const Shape& a = ctx.in[0].shape();
  EDGEOPT_CHECK_ARG(a.rank() == 2 && a[1] == w.cols, "input A has shape " + a.str() + ", but the sparse weight needs [M, " +
                                                         std::to_string(w.cols) + "]");
  const float* bias = bias_of(ctx, w.rows);
  const int64_t m = a[0];
  Tensor& y = alloc_output(ctx, 0, DType::kF32, {m, w.rows});
  const FusedActivation act = fused_activation(ctx.node);
  const float* pa = ctx.in[0].data<float>();
  float* py = y.data<float>();
  if (m <= 4) {  // latency case: gathered dot products per row
    for (int64_t i = 0; i < m; ++i) microkernels::spmv_csr_f32(w, pa + i * w.cols, bias, act.lo, act.hi, py + i * w.rows);
    return;
  }
  // Batches: Y^T[N, M] = W @ A^T makes the inner loop an axpy over M contiguous floats.
  std::vector<float> at(static_cast<size_t>(w.cols * m)), yt(static_cast<size_t>(w.rows * m));
  for (int64_t i = 0; i < m; ++i)
    for (int64_t k = 0; k < w.cols; ++k) at[k * m + i] = pa[i * w.cols + k];
  microkernels::spmm_csr_f32(w, at.data(), m, bias, act.lo, act.hi, yt.data());
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t i = 0; i < m; ++i) py[i * w.rows + r] = yt[r * m + i];
}

static int64_t nnz_of(std::span<const Shape> in) { return in.size() > 1 ? in[1].numel() : 0; }

// Only the stored non-zeros are multiplied.
int64_t sparse_conv_macs(const Node&, std::span<const Shape> in, std::span<const Shape> out) {
  if (out.empty() || out[0].rank() < 2) return 0;
  return nnz_of(in) * (out[0].numel() / out[0][1]);
}

int64_t sparse_gemm_macs(const Node&, std::span<const Shape> in, std::span<const Shape> out) {
  if (out.empty() || out[0].rank() != 2) return 0;
  return nnz_of(in) * out[0][0];
}

}  // namespace edgeopt::kernels::ops::sparse

namespace edgeopt::kernels::ops::sparse_conv {
extern const OpDef kOpDef{.name = "SparseConv", .min_opset = 1, .max_opset = 18,
                          .forward = sparse::sparse_conv_f32, .macs = sparse::sparse_conv_macs};
}
namespace edgeopt::kernels::ops::sparse_gemm {
extern const OpDef kOpDef{.name = "SparseGemm", .min_opset = 1, .max_opset = 18,
                          .forward = sparse::sparse_gemm_f32, .macs = sparse::sparse_gemm_macs};
}

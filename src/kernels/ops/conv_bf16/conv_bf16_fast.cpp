// ConvBf16's fast kernel: Y_n = W [M, C*k] @ im2col(X_n) on the bf16 GEMM, W packed once as A.
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/microkernels/gemm_bf16/gemm_bf16.h"
#include "kernels/ops/conv/conv_geometry.h"
#include "kernels/ops/conv_bf16/conv_bf16.h"

namespace edgeopt::kernels::ops::conv_bf16 {
namespace {

namespace bf = gemm_bf16;

struct ConvBf16State final : OpState {
  const void* w_storage = nullptr;  // what it was built from: a forward with other weights ignores it
  Shape w_shape;
  bf::PackedBf16 w;  // W [M, C*prod(kernel)] as the GEMM's A
};

bool has_bias(const ForwardCtx& ctx) { return ctx.node.has_input(2) && ctx.in.size() > 2 && ctx.in[2].defined(); }

bf::PackedBf16 pack_weights(const Tensor& w) {
  const int64_t m = w.shape()[0], kdim = w.numel() / m;
  return bf::pack_a_bf16(m, kdim, w.data<float>(), kdim);
}

}  // namespace

std::shared_ptr<const OpState> conv_bf16_prepare(const PrepareCtx& ctx) {
  if (ctx.in.size() < 2 || !ctx.in[1].defined() || ctx.in[1].dtype() != DType::kF32) return nullptr;
  const Tensor& w = ctx.in[1];
  if (w.rank() < 3 || w.shape()[0] <= 0 || ctx.node.attr_int("group", 1) != 1) return nullptr;  // forward reports it
  auto st = std::make_shared<ConvBf16State>();
  st->w_storage = w.raw();
  st->w_shape = w.shape();
  st->w = pack_weights(w);
  return st;
}

void conv_bf16_fast(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const bool has_b = has_bias(ctx);
  if (has_b) require_f32(ctx, 2);
  const int64_t group = ctx.node.attr_int("group", 1);
  EDGEOPT_CHECK_ARG(group == 1, "ConvBf16 supports group 1 only, got group " + std::to_string(group));
  const Tensor& x = ctx.in[0];
  const Tensor& w = ctx.in[1];
  const conv::ConvDims d = conv::conv_dims(ctx.node, x.shape(), w.shape(), has_b ? &ctx.in[2] : nullptr);
  std::vector<int64_t> y_dims{d.n, d.m};
  for (int64_t o : d.win.real(d.win.small)) y_dims.push_back(o);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(y_dims));
  if (y.numel() == 0) return;
  const auto* st = dynamic_cast<const ConvBf16State*>(ctx.state);
  if (st && (st->w_storage != w.raw() || st->w_shape != w.shape())) st = nullptr;
  bf::PackedBf16 local;
  if (!st) local = pack_weights(w);
  const bf::PackedBf16& pw = st ? st->w : local;

  const FusedActivation act = fused_activation(ctx.node);
  gemm::GemmEpilogue ep;
  ep.row_bias = has_b ? ctx.in[2].data<float>() : nullptr;
  ep.clamp_min = act.lo;
  ep.clamp_max = act.hi;
  // A residual fused by the runtime: Y starts as R and the GEMM accumulates onto it.
  const float* pr = conv::conv_residual(ctx, y.shape());
  const int64_t in_sz = d.win.big_numel(), out_sz = d.win.small_numel(), kdim = pw.cols();
  const bool pointwise = conv::pointwise_window(d.win);
  const microkernels::Im2colGeometry geo = conv::im2col_geometry(d.win);
  thread_local std::vector<float> col;
  thread_local bf::PackedBf16 xb;
  if (!pointwise && col.size() < static_cast<size_t>(kdim * out_sz)) col.resize(static_cast<size_t>(kdim * out_sz));
  for (int64_t n = 0; n < d.n; ++n) {
    const float* xn = x.data<float>() + n * d.c * in_sz;
    if (!pointwise) microkernels::im2col_f32(geo, d.c, xn, col.data());
    bf::pack_b_bf16_into(xb, kdim, out_sz, pointwise ? xn : col.data(), out_sz, false);
    float* yn = y.data<float>() + n * d.m * out_sz;
    if (pr) std::memcpy(yn, pr + n * d.m * out_sz, static_cast<size_t>(d.m * out_sz) * sizeof(float));
    bf::gemm_bf16_packed(pw, xb, yn, out_sz, ep, &default_pool(), pr != nullptr);
  }
}

}  // namespace edgeopt::kernels::ops::conv_bf16

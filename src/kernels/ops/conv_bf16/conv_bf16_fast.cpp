// ConvBf16's fast kernel: Y_n = W [M, C*k] @ im2col(X_n) on the bf16 GEMM, W packed once as A.
#include <algorithm>
#include <cstring>
#include <mutex>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/microkernels/conv/im2col.h"
#include "kernels/microkernels/gemm_bf16/gemm_bf16.h"
#include "kernels/ops/conv/conv_geometry.h"
#include "kernels/ops/conv_bf16/conv_bf16.h"

namespace edgeopt::kernels::ops::conv_bf16 {
namespace {

namespace bf = gemm_bf16;

bf::PackedBf16 pack_weights_t(const Tensor& w) {
  const int64_t m = w.shape()[0], kdim = w.numel() / m;
  return bf::pack_b_bf16(kdim, m, w.data<float>(), kdim, true);
}

struct ConvBf16State final : OpState {
  const void* w_storage = nullptr;  // what it was built from: a forward with other weights ignores it
  Shape w_shape;
  bf::PackedBf16 w;  // W [M, C*prod(kernel)] as the GEMM's A
  // W^T as the GEMM's B for the pixel-rows form, packed on first use: the input's size, which
  // picks the form, is only known at run time (most convs never need it).
  mutable std::once_flag wt_once;
  mutable bf::PackedBf16 wt;
  const bf::PackedBf16& transposed(const Tensor& weights) const {
    std::call_once(wt_once, [&] { wt = pack_weights_t(weights); });
    return wt;
  }
};

// Output pixels as the GEMM's rows (8 per tile) and channels as its columns (48 per tile) when that
// pads at least 25% less than the other way round: a 7x7 plane is 49 columns, two 48-wide panels
// (42% less as rows). Below 25% the transposed write-back costs more than the padding (MobileNetV2's
// 14x14 expansions: 17% less padding, 1.7x slower).
bool pixel_rows_better(int64_t m, int64_t npx) {
  const auto up = [](int64_t v, int64_t t) { return (v + t - 1) / t * t; };
  return up(npx, bf::kMr) * up(m, bf::kNr) * 4 < up(m, bf::kMr) * up(npx, bf::kNr) * 3;
}

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
  // im2col rows made a chunk at a time (an even count, ~16 KB: packed while in L1, no col matrix;
  // one call per chunk, not per pair, for small planes).
  const int64_t chunk = std::clamp<int64_t>(4096 / std::max<int64_t>(out_sz, 1) / 2 * 2, 2, 64);
  thread_local std::vector<float> rows;
  thread_local bf::PackedBf16 xp;
  thread_local std::vector<float> yt;  // the pixel-rows form's [pixels, M] result
  if (!pointwise && rows.size() < static_cast<size_t>(chunk * out_sz)) rows.resize(static_cast<size_t>(chunk * out_sz));
  // Calls pack(q, r0, r1) for every K-pair q of image n's im2col matrix (the image itself for a
  // pointwise conv): rows 2q and 2q + 1 (null past K).
  const auto for_each_pair = [&](const float* xn, const auto& pack) {
    for (int64_t c0 = 0; c0 < kdim; c0 += chunk) {
      const int64_t kc = std::min(chunk, kdim - c0);
      const float* base = xn + c0 * out_sz;
      if (!pointwise) {
        microkernels::im2col_pack_panels_f32(geo, xn, c0, kc, 0, out_sz, out_sz, rows.data());
        base = rows.data();
      }
      for (int64_t t = 0; t < kc; t += 2) pack((c0 + t) / 2, base + t * out_sz, t + 1 < kc ? base + (t + 1) * out_sz : nullptr);
    }
  };
  const bool px_rows = pixel_rows_better(d.m, out_sz);
  bf::PackedBf16 local_t;
  if (px_rows && !st) local_t = pack_weights_t(w);
  const bf::PackedBf16* wt = px_rows ? (st ? &st->transposed(w) : &local_t) : nullptr;
  gemm::GemmEpilogue ept;  // the pixel-rows form: the bias per column, the clamp after the residual
  ept.col_bias = ep.row_bias;
  if (!pr) ept = ept.with_clamp(act.lo, act.hi);
  for (int64_t n = 0; n < d.n; ++n) {
    const float* xn = x.data<float>() + n * d.c * in_sz;
    float* yn = y.data<float>() + n * d.m * out_sz;
    if (!px_rows) {
      xp.reshape(false, kdim, out_sz);
      for_each_pair(xn, [&](int64_t q, const float* r0, const float* r1) { bf::pack_b_bf16_pair(xp, q, r0, r1); });
      if (pr) std::memcpy(yn, pr + n * d.m * out_sz, static_cast<size_t>(d.m * out_sz) * sizeof(float));
      bf::gemm_bf16_packed(pw, xp, yn, out_sz, ep, &default_pool(), pr != nullptr);
      continue;
    }
    xp.reshape(true, out_sz, kdim);
    for_each_pair(xn, [&](int64_t q, const float* r0, const float* r1) { bf::pack_a_bf16_pair(xp, q, r0, r1); });
    if (yt.size() < static_cast<size_t>(out_sz * d.m)) yt.resize(static_cast<size_t>(out_sz * d.m));
    bf::gemm_bf16_packed(xp, *wt, yt.data(), d.m, ept, &default_pool());
    const float* rn = pr ? pr + n * d.m * out_sz : nullptr;
    for (int64_t ch = 0; ch < d.m; ++ch)
      for (int64_t i = 0; i < out_sz; ++i) {
        const float v = yt[i * d.m + ch];
        yn[ch * out_sz + i] = rn ? std::min(std::max(v + rn[ch * out_sz + i], act.lo), act.hi) : v;
      }
  }
}

}  // namespace edgeopt::kernels::ops::conv_bf16

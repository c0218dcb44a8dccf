// GemmBf16's fast kernel: the weight packed once as the bf16 GEMM's B, the activations per run as A.
#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/microkernels/gemm_bf16/gemm_bf16.h"
#include "kernels/ops/gemm_bf16/gemm_bf16.h"

namespace edgeopt::kernels::ops::gemm_bf16 {
namespace {

namespace bf = kernels::gemm_bf16;

struct GemmBf16State final : OpState {
  const void* w_storage = nullptr;  // what it was built from: a forward with other weights ignores it
  Shape w_shape;
  bool trans_b = false;
  bf::PackedBf16 w;
};

bf::PackedBf16 pack_weight(const Tensor& w, bool trans_b) {
  const int64_t k = trans_b ? w.shape()[1] : w.shape()[0], n = trans_b ? w.shape()[0] : w.shape()[1];
  return bf::pack_b_bf16(k, n, w.data<float>(), w.shape()[1], trans_b);
}

}  // namespace

std::shared_ptr<const OpState> gemm_bf16_prepare(const PrepareCtx& ctx) {
  if (ctx.in.size() < 2 || !ctx.in[1].defined() || ctx.in[1].dtype() != DType::kF32 || ctx.in[1].rank() != 2)
    return nullptr;  // the forward reports it
  auto st = std::make_shared<GemmBf16State>();
  st->w_storage = ctx.in[1].raw();
  st->w_shape = ctx.in[1].shape();
  st->trans_b = ctx.node.attr_int("transB", 0) != 0;
  st->w = pack_weight(ctx.in[1], st->trans_b);
  return st;
}

void gemm_bf16_fast(ForwardCtx& ctx) {
  const GemmBf16Dims d = gemm_bf16_dims(ctx);
  const float* bias = gemm_bf16_bias(ctx);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, d.y);
  if (y.numel() == 0) return;
  const Tensor& w = ctx.in[1];
  const auto* st = dynamic_cast<const GemmBf16State*>(ctx.state);
  if (st && (st->w_storage != w.raw() || st->w_shape != w.shape() || st->trans_b != d.trans_b)) st = nullptr;
  bf::PackedBf16 local;
  if (!st) local = pack_weight(w, d.trans_b);
  thread_local bf::PackedBf16 a;
  bf::pack_a_bf16_into(a, d.rows, d.k, ctx.in[0].data<float>(), d.k);
  const FusedActivation act = fused_activation(ctx.node);
  gemm::GemmEpilogue ep;
  ep.col_bias = bias;
  ep.clamp_min = act.lo;
  ep.clamp_max = act.hi;
  bf::gemm_bf16_packed(a, st ? st->w : local, y.data<float>(), d.n, ep, &default_pool());
}

}  // namespace edgeopt::kernels::ops::gemm_bf16

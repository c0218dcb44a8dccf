// ConvMaxPool (edgeopt-internal, made by runtime/passes fuse_conv_maxpool; never exported): a Conv,
// with the activation fuse_conv_gemm_activation gave it, followed by MaxPool 2x2 stride 2
// (unpadded, floor mode, values only).
//
//   X [N, C, H, W], W [M, C, kh, kw], B [M]  ->  Y [N, M, floor(H'/2), floor(W'/2)]
//   Y = MaxPool2x2s2(act(Conv(X, W, B)))     with the Conv's attributes; H', W' its output size
//
// The reference is literally that composition of the two reference kernels. The fast forward runs
// the fused kernels of conv_pool_fp32.h for 2-D, group-1, stride-1, dilation-1 convs (Winograd
// F(2x2,3x3) for 3x3 kernels with >= kWinogradMinChannels inputs, direct otherwise), and the
// fast Conv then the fast MaxPool for anything else.
#include <algorithm>
#include <cmath>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/ops/conv/conv_geometry.h"
#include "kernels/ops/conv/conv_pool_fp32.h"

namespace edgeopt::kernels::ops {
namespace conv {
extern const OpDef kOpDef;
}
namespace maxpool {
extern const OpDef kOpDef;
}

namespace conv_maxpool {
namespace {

// Below this many input channels the Winograd transforms cost more than the multiplies they save
// (a Cin = 1 first layer), so the direct kernel runs.
constexpr int64_t kWinogradMinChannels = 8;

Node conv_part(const Node& n) {
  Node c = n;
  c.op_type = "Conv";
  return c;
}

Node pool_part(const Node& n) {
  Node p;
  p.name = n.name;
  p.op_type = "MaxPool";
  p.inputs = {n.outputs.empty() ? std::string() : n.outputs[0]};
  p.outputs = n.outputs;
  p.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
  p.set_attr("strides", std::vector<int64_t>{2, 2});
  return p;
}

// Conv then MaxPool through the given forwards of each op.
void run_composed(ForwardCtx& ctx, ForwardFn conv_fwd, ForwardFn pool_fwd) {
  const Node conv = conv_part(ctx.node);
  std::vector<Tensor> y(1);
  ForwardCtx cctx{conv, ctx.in, y};
  cctx.opset = ctx.opset;
  conv_fwd(cctx);
  const Node pool = pool_part(ctx.node);
  const std::vector<Tensor> pin{y[0]};
  ForwardCtx pctx{pool, pin, ctx.out};
  pctx.opset = ctx.opset;
  pool_fwd(pctx);
}

void conv_maxpool_f32_ref(ForwardCtx& ctx) { run_composed(ctx, conv::kOpDef.forward, maxpool::kOpDef.forward); }

bool has_bias(const ForwardCtx& ctx) { return ctx.node.has_input(2) && ctx.in.size() > 2 && ctx.in[2].defined(); }

// What the fused kernels handle: 2-D, group 1, stride 1, dilation 1, no fused residual, and at
// least one pooled output per axis.
bool fusable(const Node& node, const conv::ConvDims& d) {
  if (d.win.nd != 2 || d.group != 1 || node.has_attr("residual")) return false;
  for (size_t i = 1; i < conv::kMaxSpatial; ++i)
    if (d.win.stride[i] != 1 || d.win.dilation[i] != 1 || d.win.small[i] < 2) return false;
  return true;
}

bool use_winograd(const Shape& w) { return w[2] == 3 && w[3] == 3 && w[1] >= kWinogradMinChannels; }

std::vector<float> pack_weights(const Tensor& w) {
  const Shape& s = w.shape();
  return use_winograd(s) ? conv::conv3x3_pool_f32_pack_winograd(w.data<float>(), s[0], s[1])
                         : conv::conv_pool_f32_pack_direct(w.data<float>(), s[0], s[1], s[2], s[3]);
}

struct ConvPoolState final : OpState {
  const void* w_storage = nullptr;  // what it was built from: a forward with other weights ignores it
  Shape w_shape;
  std::vector<float> packed;
};

std::shared_ptr<const OpState> conv_maxpool_f32_prepare(const PrepareCtx& ctx) {
  if (ctx.in.size() < 2 || !ctx.in[1].defined() || ctx.in[1].dtype() != DType::kF32 || ctx.in[1].rank() != 4)
    return nullptr;
  if (ctx.node.attr_int("group", 1) != 1) return nullptr;
  auto st = std::make_shared<ConvPoolState>();
  st->w_storage = ctx.in[1].raw();
  st->w_shape = ctx.in[1].shape();
  st->packed = pack_weights(ctx.in[1]);
  return st;
}

void conv_maxpool_f32_fast(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const bool has_b = has_bias(ctx);
  if (has_b) require_f32(ctx, 2);
  const Tensor& x = ctx.in[0];
  const Tensor& w = ctx.in[1];
  const conv::ConvDims d = conv::conv_dims(ctx.node, x.shape(), w.shape(), has_b ? &ctx.in[2] : nullptr);
  if (!fusable(ctx.node, d)) {
    run_composed(ctx, conv::kOpDef.forward_fast, maxpool::kOpDef.forward_fast);
    return;
  }
  conv::ConvPoolGeometry g;
  g.c = d.c, g.m = d.m, g.ih = d.win.big[1], g.iw = d.win.big[2], g.kh = w.shape()[2], g.kw = w.shape()[3];
  g.pad_t = d.win.pad_begin[1], g.pad_l = d.win.pad_begin[2], g.ph = d.win.small[1] / 2, g.pw = d.win.small[2] / 2;
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape({d.n, d.m, g.ph, g.pw}));
  if (y.numel() == 0) return;
  const auto* st = dynamic_cast<const ConvPoolState*>(ctx.state);
  if (st && (st->w_storage != w.raw() || st->w_shape != w.shape())) st = nullptr;
  std::vector<float> packed_here;
  if (!st) packed_here = pack_weights(w);
  const float* packed = st ? st->packed.data() : packed_here.data();
  const FusedActivation act = fused_activation(ctx.node);
  ThreadPool& pool = default_pool();
  ThreadPool* p = pool.num_threads() > 1 ? &pool : nullptr;
  const bool wino = use_winograd(w.shape());
  for (int64_t n = 0; n < d.n; ++n) {
    const float* xn = x.data<float>() + n * d.c * g.ih * g.iw;
    float* yn = y.data<float>() + n * d.m * g.ph * g.pw;
    const float* pb = has_b ? ctx.in[2].data<float>() : nullptr;
    if (wino) {
      conv::conv3x3_f32_bias_act_maxpool2_winograd(g, packed, xn, pb, act.lo, act.hi, yn, p);
    } else {
      conv::conv_f32_bias_act_maxpool2_direct(g, packed, xn, pb, act.lo, act.hi, yn, p);
    }
  }
}

// The conv outputs the pool reads: 4 per pooled output, each C * kh * kw multiply-adds.
int64_t conv_maxpool_macs(const Node&, std::span<const Shape> in, std::span<const Shape> out) {
  if (in.size() < 2 || out.empty() || in[1].rank() < 1 || in[1][0] <= 0) return 0;
  return 4 * out[0].numel() * (in[1].numel() / in[1][0]);
}

}  // namespace

extern const OpDef kOpDef{.name = "ConvMaxPool", .min_opset = 1, .max_opset = 18, .forward = conv_maxpool_f32_ref,
                          .macs = conv_maxpool_macs, .forward_fast = conv_maxpool_f32_fast,
                          .prepare = conv_maxpool_f32_prepare};

}  // namespace conv_maxpool
}  // namespace edgeopt::kernels::ops

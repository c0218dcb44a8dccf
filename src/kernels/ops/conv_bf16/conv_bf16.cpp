#include "kernels/ops/conv_bf16/conv_bf16.h"

#include "core/dtype.h"
#include "kernels/common.h"

namespace edgeopt::kernels::ops {
namespace conv {
extern const OpDef kOpDef;
}

namespace conv_bf16 {
namespace {

// The oracle: the fp32 Conv reference on bf16-rounded X and W (same validation and messages).
void conv_bf16_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const int64_t group = ctx.node.attr_int("group", 1);
  EDGEOPT_CHECK_ARG(group == 1, "ConvBf16 supports group 1 only, got group " + std::to_string(group));
  std::vector<Tensor> in(ctx.in.begin(), ctx.in.end());
  const auto to_bf16 = [](float v) { return bf16_to_f32(f32_to_bf16(v)); };
  in[0] = unary_f32(ctx.in[0], to_bf16);
  in[1] = unary_f32(ctx.in[1], to_bf16);
  ForwardCtx inner{ctx.node, in, ctx.out};
  inner.opset = ctx.opset;
  conv::kOpDef.forward(inner);
}

// Output elements * C * prod(kernel) (group 1).
int64_t conv_bf16_macs(const Node&, std::span<const Shape> in, std::span<const Shape> out) {
  if (in.size() < 2 || out.empty() || in[1].rank() < 1 || in[1][0] <= 0) return 0;
  return out[0].numel() * (in[1].numel() / in[1][0]);
}

}  // namespace

extern const OpDef kOpDef{.name = "ConvBf16", .min_opset = 1, .max_opset = 18, .forward = conv_bf16_ref,
                          .macs = conv_bf16_macs, .forward_fast = conv_bf16_fast, .prepare = conv_bf16_prepare};

}  // namespace conv_bf16
}  // namespace edgeopt::kernels::ops

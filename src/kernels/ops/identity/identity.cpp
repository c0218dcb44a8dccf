// Identity: y = x, any dtype (tensors only; the optional/sequence forms of opset 16 are not
// supported). https://onnx.ai/onnx/operators/onnx__Identity.html  Gradient: dx = dy.
#include "kernels/common.h"

namespace edgeopt::kernels::ops::identity {
namespace {

void identity_ref(ForwardCtx& ctx) { ctx.out[0] = required_input(ctx, 0).clone(); }

void identity_grad(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || ctx.in[0].dtype() != DType::kF32) return;
  ctx.grad_in[0] = ctx.grad_out[0].clone();
}

}  // namespace

extern const OpDef kOpDef{
    .name = "Identity", .min_opset = 1, .max_opset = 18, .forward = identity_ref, .backward = identity_grad};

}  // namespace edgeopt::kernels::ops::identity

// Dropout (ONNX https://onnx.ai/onnx/operators/onnx__Dropout.html, opsets 7-18).
//   inference: Y = X, mask = all true
//   training:  mask[i] = u_i >= ratio, Y[i] = mask[i] ? X[i] / (1 - ratio) : 0
// Training is ctx.training or the opset 12+ `training_mode` input; ratio is an attribute before
// opset 12 and an optional scalar input from 12 (default 0.5). u_i in [0, 1) comes from a
// counter-based hash of (ctx.seed, the `seed` attribute, i), so a node's mask is reproducible from
// its seed alone. The mask output is bool from opset 10, and X's type (1.0/0.0) before.
// Gradient: dX = dY * mask / (1 - ratio) with the mask the training forward saved; identity when
// nothing was saved (inference).
#include "kernels/common.h"

namespace edgeopt::kernels::ops::dropout {
namespace {

uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ull;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// u in [0, 1) from the top 24 bits, exact in f32.
float dropout_uniform(uint64_t seed, int64_t i) {
  return static_cast<float>(splitmix64(seed ^ splitmix64(static_cast<uint64_t>(i))) >> 40) * (1.f / 16777216.f);
}

bool named(const Node& node, size_t i) { return node.outputs.size() > i && !node.outputs[i].empty(); }

void dropout_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  float ratio = ctx.node.attr_float("ratio", 0.5f);
  if (ctx.in.size() > 1 && ctx.in[1].defined()) {
    EDGEOPT_CHECK_ARG(ctx.in[1].numel() == 1, "input ratio has shape " + ctx.in[1].shape().str() + ", expected a scalar");
    ratio = static_cast<float>(ctx.in[1].at(0));
  }
  bool training = ctx.training;
  if (ctx.in.size() > 2 && ctx.in[2].defined()) {
    EDGEOPT_CHECK_ARG(ctx.in[2].numel() == 1,
                      "input training_mode has shape " + ctx.in[2].shape().str() + ", expected a scalar");
    training = training || ctx.in[2].at(0) != 0;
  }
  const DType mask_type = ctx.opset < 10 ? x.dtype() : DType::kBool;
  if (!training || ratio == 0.f) {
    alloc_output(ctx, 0, x.dtype(), x.shape()) = x.clone();
    if (named(ctx.node, 1)) {
      Tensor ones = Tensor::zeros(DType::kBool, x.shape());
      for (int64_t i = 0; i < ones.numel(); ++i) ones.data<bool>()[i] = true;
      alloc_output(ctx, 1, mask_type, x.shape()) = ones.cast(mask_type);
    }
    return;
  }
  require_f32(ctx, 0);
  EDGEOPT_CHECK_ARG(ratio >= 0.f && ratio < 1.f, "ratio is " + std::to_string(ratio) + ", must be in [0, 1)");
  const uint64_t seed = ctx.seed ^ splitmix64(static_cast<uint64_t>(ctx.node.attr_int("seed", 0)));
  const float scale = 1.f / (1.f - ratio);
  Tensor mask(DType::kBool, x.shape());
  Tensor& y = alloc_output(ctx, 0, DType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) {
    const bool keep = dropout_uniform(seed, i) >= ratio;
    mask.data<bool>()[i] = keep;
    y.data<float>()[i] = keep ? x.data<float>()[i] * scale : 0.f;
  }
  if (named(ctx.node, 1)) alloc_output(ctx, 1, mask_type, x.shape()) = mask.cast(mask_type);
  if (ctx.saved) {
    ctx.saved->push_back(mask);
    ctx.saved->push_back(Tensor::scalar_f32(scale));
  }
}

void dropout_f32_grad(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  if (ctx.saved.size() < 2) {
    ctx.grad_in[0] = dy.clone();
    return;
  }
  const bool* mask = ctx.saved[0].data<bool>();
  const float scale = ctx.saved[1].data<float>()[0];
  Tensor dx(DType::kF32, dy.shape());
  for (int64_t i = 0; i < dy.numel(); ++i) dx.data<float>()[i] = mask[i] ? dy.data<float>()[i] * scale : 0.f;
  ctx.grad_in[0] = dx;
}

}  // namespace

extern const OpDef kOpDef{.name = "Dropout", .min_opset = 7, .max_opset = 18, .forward = dropout_ref,
                          .backward = dropout_f32_grad};

}  // namespace edgeopt::kernels::ops::dropout

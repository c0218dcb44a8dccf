// ConstantOfShape (ONNX https://onnx.ai/onnx/operators/onnx__ConstantOfShape.html, opsets 9-18):
//   input: a 1-D int64 shape tensor;  Y = a tensor of that shape, every element = `value`
// `value` is a one-element tensor attribute (its dtype is Y's dtype); absent, Y is f32 zeros.
// PyTorch's LSTM/GRU export builds the zero initial states with it. Not differentiable.
#include <cstring>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::constant_of_shape {
namespace {

void constant_of_shape_ref(ForwardCtx& ctx) {
  const Tensor& s = required_input(ctx, 0);
  EDGEOPT_CHECK_ARG(s.dtype() == DType::kI64 && s.rank() == 1,
                    "input 'input' must be a 1-D int64 shape tensor, got " + s.describe());
  const std::vector<int64_t> dims = s.to_i64_vector();
  for (int64_t d : dims)
    EDGEOPT_CHECK_ARG(d >= 0, "input 'input' holds a negative dim " + std::to_string(d) + " in " + s.describe());
  Tensor value = Tensor::scalar_f32(0.f);
  if (ctx.node.has_attr("value")) {
    const Tensor* v = ctx.node.attr_tensor("value");
    EDGEOPT_CHECK_ARG(v && v->defined() && v->numel() == 1,
                      "attribute 'value' must be a one-element tensor, got " + (v ? v->describe() : std::string("none")));
    value = *v;
  }
  Tensor& y = alloc_output(ctx, 0, value.dtype(), Shape(dims));
  const size_t esz = dtype_size(value.dtype());
  auto* dst = static_cast<uint8_t*>(y.raw());
  for (int64_t i = 0; i < y.numel(); ++i) std::memcpy(dst + i * esz, value.raw(), esz);
}

}  // namespace

extern const OpDef kOpDef{.name = "ConstantOfShape", .min_opset = 9, .max_opset = 18, .forward = constant_of_shape_ref};

}  // namespace edgeopt::kernels::ops::constant_of_shape

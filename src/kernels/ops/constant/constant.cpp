// Constant: outputs the tensor held in exactly one of its attributes: `value` (a tensor),
// `value_float`, `value_floats`, `value_int`, `value_ints` (opset 12+; scalars are rank 0, lists
// rank 1). `sparse_value` and the string forms have no edgeopt dtype and are rejected.
// https://onnx.ai/onnx/operators/onnx__Constant.html  Not differentiable.
#include "kernels/common.h"

namespace edgeopt::kernels::ops::constant {
namespace {

void constant_ref(ForwardCtx& ctx) {
  const Node& n = ctx.node;
  for (const char* unsupported : {"sparse_value", "value_string", "value_strings"})
    EDGEOPT_CHECK(!n.has_attr(unsupported), ErrorCode::kUnimplemented,
                  std::string("Constant with attribute '") + unsupported + "' is not supported (no such dtype)");
  int set = 0;
  for (const char* k : {"value", "value_float", "value_floats", "value_int", "value_ints"}) set += n.has_attr(k);
  EDGEOPT_CHECK_ARG(set == 1,
                    "Constant needs exactly one of value, value_float(s), value_int(s); got " + std::to_string(set));
  if (n.has_attr("value")) {
    const Tensor* t = n.attr_tensor("value");
    EDGEOPT_CHECK_ARG(t && t->defined(), "attribute 'value' holds no tensor");
    ctx.out[0] = t->clone();
  } else if (n.has_attr("value_float")) {
    ctx.out[0] = Tensor::scalar_f32(n.attr_float("value_float", 0.f));
  } else if (n.has_attr("value_floats")) {
    std::vector<float> v = n.attr_floats("value_floats");
    ctx.out[0] = Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  } else if (n.has_attr("value_int")) {
    ctx.out[0] = Tensor::from_vector<int64_t>({}, {n.attr_int("value_int", 0)});
  } else {
    std::vector<int64_t> v = n.attr_ints("value_ints");
    ctx.out[0] = Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  }
}

}  // namespace

extern const OpDef kOpDef{.name = "Constant", .min_opset = 1, .max_opset = 18, .forward = constant_ref};

}  // namespace edgeopt::kernels::ops::constant

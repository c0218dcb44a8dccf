// Reshape: x -> the same elements in row-major order under a new shape.
// https://onnx.ai/onnx/operators/onnx__Reshape.html
// The target comes from input 1 (int64, opset 5+) or, for opset 1-4 models, the `shape` attribute.
//   0  copies x's dim at that position (unless allowzero=1, opset 14: then 0 is a literal 0),
//  -1  is inferred from the element count (at most one).
// Any dtype: bytes are copied unchanged. Gradient: dy reshaped back to x's shape.
#include <algorithm>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::reshape {
namespace {

std::string ints_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(v[i]);
  }
  return s + "]";
}

Shape resolve_shape(const Shape& in, const std::vector<int64_t>& target, bool allowzero) {
  std::vector<int64_t> dims(target.size());
  int64_t infer_at = -1, known = 1;
  for (size_t i = 0; i < target.size(); ++i) {
    int64_t d = target[i];
    if (d == -1) {
      EDGEOPT_CHECK_ARG(infer_at < 0, "shape " + ints_str(target) + " has more than one -1");
      infer_at = static_cast<int64_t>(i);
      continue;
    }
    EDGEOPT_CHECK_ARG(d >= 0, "shape " + ints_str(target) + " has the invalid dim " + std::to_string(d));
    if (d == 0 && !allowzero) {
      EDGEOPT_CHECK_ARG(i < in.rank(), "shape " + ints_str(target) + " has 0 at position " + std::to_string(i) +
                                           " (copy the input dim), but the input is " + in.str());
      d = in[i];
    }
    dims[i] = d;
    known *= d;
  }
  const int64_t n = in.numel();
  if (infer_at >= 0) {
    EDGEOPT_CHECK_ARG(known != 0 && n % known == 0, "cannot infer the -1 in shape " + ints_str(target) + " for input " +
                                                        in.str() + " (" + std::to_string(n) + " elements)");
    dims[infer_at] = n / known;
  }
  Shape out(dims);
  EDGEOPT_CHECK_ARG(out.numel() == n, "cannot reshape input " + in.str() + " (" + std::to_string(n) +
                                          " elements) to shape " + ints_str(target) + " = " + out.str());
  return out;
}

void reshape_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  std::vector<int64_t> target;
  if (ctx.in.size() > 1 && ctx.in[1].defined()) {
    const Tensor& s = ctx.in[1];
    EDGEOPT_CHECK_ARG(s.dtype() == DType::kI64 && s.rank() == 1,
                      "input 'shape' must be a 1-D int64 tensor, got " + s.describe());
    target = s.to_i64_vector();
  } else {
    EDGEOPT_CHECK_ARG(ctx.node.has_attr("shape"), "Reshape needs input 1 'shape' (or the opset<5 attribute)");
    target = ctx.node.attr_ints("shape");
  }
  const bool allowzero = ctx.node.attr_int("allowzero", 0) != 0;
  auto has = [&](int64_t v) { return std::find(target.begin(), target.end(), v) != target.end(); };
  EDGEOPT_CHECK_ARG(!(allowzero && has(-1) && has(0)),
                    "shape " + ints_str(target) + " has both -1 and 0, which allowzero=1 forbids");
  ctx.out[0] = x.clone().reshaped(resolve_shape(x.shape(), target, allowzero));
}

void reshape_grad(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || ctx.in[0].dtype() != DType::kF32) return;
  ctx.grad_in[0] = ctx.grad_out[0].clone().reshaped(ctx.in[0].shape());
}

}  // namespace

extern const OpDef kOpDef{
    .name = "Reshape", .min_opset = 1, .max_opset = 18, .forward = reshape_ref, .backward = reshape_grad};

}  // namespace edgeopt::kernels::ops::reshape

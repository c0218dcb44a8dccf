// Cast: y = x converted to the dtype named by attribute `to` (an ONNX TensorProto.DataType number).
// ONNX: https://onnx.ai/onnx/operators/onnx__Cast.html (opsets 6-18; opset 19 added saturate for
// float8 types, which edgeopt does not have).
//   inputs  x (f32, f16, bf16, i8, u8, i32, i64, bool)
//   attrs   to (required): 1 FLOAT, 2 UINT8, 3 INT8, 6 INT32, 7 INT64, 9 BOOL, 10 FLOAT16, 16 BFLOAT16
// edgeopt's use: weights stored as f16/bf16 initializers followed by Cast(to=FLOAT), so the model
// file is half the size while every other op computes in f32 (quantize/lowp_weights.h).
// f32 -> f16/bf16 rounds to nearest even; f16/bf16 -> f32 is exact. Float -> integer truncates
// toward zero and saturates at the target's limits (NaN -> 0): ONNX leaves out-of-range values
// undefined and a plain C++ conversion would be undefined behaviour.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/common.h"

namespace edgeopt::kernels::ops::cast {
namespace {

DType dtype_from_onnx(int64_t to) {
  switch (to) {
    case 1: return DType::kF32;
    case 2: return DType::kU8;
    case 3: return DType::kI8;
    case 6: return DType::kI32;
    case 7: return DType::kI64;
    case 9: return DType::kBool;
    case 10: return DType::kF16;
    case 16: return DType::kBF16;
    default:
      throw_error(ErrorCode::kUnimplemented,
                  "attribute to = " + std::to_string(to) +
                      " is not supported (supported: 1 FLOAT, 2 UINT8, 3 INT8, 6 INT32, 7 INT64, 9 BOOL, 10 FLOAT16, "
                      "16 BFLOAT16)");
  }
}

bool is_float(DType t) { return t == DType::kF32 || t == DType::kF16 || t == DType::kBF16; }

template <typename I>
I saturate_to(double v) {
  if (std::isnan(v)) return 0;
  v = std::trunc(v);
  if (v <= static_cast<double>(std::numeric_limits<I>::lowest())) return std::numeric_limits<I>::lowest();
  if (v >= static_cast<double>(std::numeric_limits<I>::max())) return std::numeric_limits<I>::max();
  return static_cast<I>(v);
}

void cast_any_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  EDGEOPT_CHECK_ARG(ctx.node.has_attr("to"), "attribute 'to' is required");
  const DType to = dtype_from_onnx(ctx.node.attr_int("to", 0));
  Tensor& y = alloc_output(ctx, 0, to, x.shape());
  const int64_t n = x.numel();
  if (to == x.dtype()) {
    std::memcpy(y.raw(), x.raw(), x.nbytes());
  } else if (x.dtype() == DType::kF16 && to == DType::kF32) {  // the weight-storage path: exact, direct
    for (int64_t i = 0; i < n; ++i) y.data<float>()[i] = f16_to_f32(x.data_u16()[i]);
  } else if (x.dtype() == DType::kBF16 && to == DType::kF32) {
    for (int64_t i = 0; i < n; ++i) y.data<float>()[i] = bf16_to_f32(x.data_u16()[i]);
  } else if (x.dtype() == DType::kF32 && to == DType::kF16) {  // direct, no double rounding via double
    for (int64_t i = 0; i < n; ++i) y.data_u16()[i] = f32_to_f16(x.data<float>()[i]);
  } else if (x.dtype() == DType::kF32 && to == DType::kBF16) {
    for (int64_t i = 0; i < n; ++i) y.data_u16()[i] = f32_to_bf16(x.data<float>()[i]);
  } else if (is_float(x.dtype()) && !is_float(to) && to != DType::kBool) {
    for (int64_t i = 0; i < n; ++i) {
      const double v = x.at(i);
      switch (to) {
        case DType::kI8: y.data<int8_t>()[i] = saturate_to<int8_t>(v); break;
        case DType::kU8: y.data<uint8_t>()[i] = saturate_to<uint8_t>(v); break;
        case DType::kI32: y.data<int32_t>()[i] = saturate_to<int32_t>(v); break;
        default: y.data<int64_t>()[i] = saturate_to<int64_t>(v); break;
      }
    }
  } else {
    // Integer/bool sources and the remaining float pairs: Tensor::cast (exact for every value of
    // these dtypes except i64 beyond 2^53 into floats, which rounds).
    Tensor c = x.cast(to);
    std::memcpy(y.raw(), c.raw(), c.nbytes());
  }
}

}  // namespace

extern const OpDef kOpDef{.name = "Cast", .min_opset = 6, .max_opset = 18, .forward = cast_any_ref};

}  // namespace edgeopt::kernels::ops::cast

// Add, Sub, Mul, Div: elementwise with numpy broadcasting (ONNX opset 7+; 1-6 had axis/broadcast
// attributes). https://onnx.ai/onnx/operators/onnx__Add.html (and Sub, Mul, Div).
//   y[i] = a[ia(i)] (op) b[ib(i)]   with ia/ib the broadcast index maps
// Dtypes: f32, i32, i64, i8, u8. Integer Add/Sub/Mul wrap (two's complement, like numpy and ORT);
// integer Div truncates toward zero (C semantics, what ORT computes and the uint8 test data holds)
// and throws on division by zero.
// Gradients (f32), summed back to each operand's shape (the reverse of broadcasting):
//   Add: da = dy, db = dy      Sub: da = dy, db = -dy
//   Mul: da = dy*b, db = dy*a  Div: da = dy/b, db = -dy*a/b^2
#include <limits>
#include <type_traits>

#include "kernels/common.h"
#include "kernels/ops/binary/binary_fast.h"

namespace edgeopt::kernels::ops {
namespace binary {
namespace {

template <typename T>
T apply_int(Kind k, T a, T b) {
  // Wrapping arithmetic through the unsigned type avoids signed-overflow UB.
  using U = std::make_unsigned_t<T>;
  switch (k) {
    case Kind::kAdd:
      return static_cast<T>(static_cast<U>(a) + static_cast<U>(b));
    case Kind::kSub:
      return static_cast<T>(static_cast<U>(a) - static_cast<U>(b));
    case Kind::kMul:
      return static_cast<T>(static_cast<U>(a) * static_cast<U>(b));
    case Kind::kDiv:
      EDGEOPT_CHECK_ARG(b != 0, "integer division by zero");
      if constexpr (std::is_signed_v<T>)
        if (a == std::numeric_limits<T>::min() && b == -1) return a;  // wraps, as two's complement does
      return static_cast<T>(a / b);
  }
  return 0;
}

float apply_f32(Kind k, float a, float b) {
  switch (k) {
    case Kind::kAdd:
      return a + b;
    case Kind::kSub:
      return a - b;
    case Kind::kMul:
      return a * b;
    case Kind::kDiv:
      return a / b;
  }
  return 0.f;
}

template <typename T>
void binary_ref(Kind k, const Tensor& a, const Tensor& b, Tensor& y) {
  BroadcastIndex bi(a.shape(), b.shape(), y.shape());
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  T* py = y.data<T>();
  for (int64_t i = 0; i < y.numel(); ++i) {
    if constexpr (std::is_same_v<T, float>)
      py[i] = apply_f32(k, pa[bi.a_index[i]], pb[bi.b_index[i]]);
    else
      py[i] = apply_int<T>(k, pa[bi.a_index[i]], pb[bi.b_index[i]]);
  }
}

}  // namespace

void binary_forward(ForwardCtx& ctx, Kind k) {
  const Tensor& a = required_input(ctx, 0);
  const Tensor& b = required_input(ctx, 1);
  EDGEOPT_CHECK_ARG(a.dtype() == b.dtype(),
                    "inputs A " + a.describe() + " and B " + b.describe() + " must have the same dtype");
  Shape out_shape = broadcast_shapes(a.shape(), b.shape());
  Tensor& y = alloc_output(ctx, 0, a.dtype(), out_shape);
  switch (a.dtype()) {
    case DType::kF32:
      return binary_ref<float>(k, a, b, y);
    case DType::kI32:
      return binary_ref<int32_t>(k, a, b, y);
    case DType::kI64:
      return binary_ref<int64_t>(k, a, b, y);
    case DType::kI8:
      return binary_ref<int8_t>(k, a, b, y);
    case DType::kU8:
      return binary_ref<uint8_t>(k, a, b, y);
    default:
      throw_error(ErrorCode::kUnimplemented, std::string(ctx.node.op_type) + " has no kernel for dtype " +
                                                 dtype_name(a.dtype()) + " (available: f32, i32, i64, i8, u8)");
  }
}

void binary_grad(BackwardCtx& ctx, Kind k) {
  const Tensor& a = ctx.in[0];
  const Tensor& b = ctx.in[1];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || a.dtype() != DType::kF32) return;
  const Tensor& dy = ctx.grad_out[0];
  if (k == Kind::kAdd || k == Kind::kSub) {
    ctx.grad_in[0] = reduce_to_shape_f32(dy, a.shape());
    Tensor db = reduce_to_shape_f32(dy, b.shape());
    if (k == Kind::kSub)
      for (int64_t i = 0; i < db.numel(); ++i) db.data<float>()[i] = -db.data<float>()[i];
    ctx.grad_in[1] = db;
    return;
  }
  // Mul/Div: the per-element partials at broadcast shape, then reduce.
  BroadcastIndex bi(a.shape(), b.shape(), dy.shape());
  Tensor da(DType::kF32, dy.shape()), db(DType::kF32, dy.shape());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* pdy = dy.data<float>();
  for (int64_t i = 0; i < dy.numel(); ++i) {
    float av = pa[bi.a_index[i]], bv = pb[bi.b_index[i]];
    if (k == Kind::kMul) {
      da.data<float>()[i] = pdy[i] * bv;
      db.data<float>()[i] = pdy[i] * av;
    } else {
      da.data<float>()[i] = pdy[i] / bv;
      db.data<float>()[i] = -pdy[i] * av / (bv * bv);
    }
  }
  ctx.grad_in[0] = reduce_to_shape_f32(da, a.shape());
  ctx.grad_in[1] = reduce_to_shape_f32(db, b.shape());
}

}  // namespace binary

namespace add {
namespace {
void add_ref(ForwardCtx& ctx) { binary::binary_forward(ctx, binary::Kind::kAdd); }
void add_grad(BackwardCtx& ctx) { binary::binary_grad(ctx, binary::Kind::kAdd); }
void add_fast(ForwardCtx& ctx) { binary::binary_forward_fast(ctx, binary::Kind::kAdd); }
void add_grad_fast(BackwardCtx& ctx) { binary::binary_grad_fast(ctx, binary::Kind::kAdd); }
}  // namespace
extern const OpDef kOpDef{.name = "Add", .min_opset = 7, .max_opset = 18, .forward = add_ref,
                          .backward = add_grad_fast, .forward_fast = add_fast, .backward_ref = add_grad};
}  // namespace add

namespace sub {
namespace {
void sub_ref(ForwardCtx& ctx) { binary::binary_forward(ctx, binary::Kind::kSub); }
void sub_grad(BackwardCtx& ctx) { binary::binary_grad(ctx, binary::Kind::kSub); }
void sub_fast(ForwardCtx& ctx) { binary::binary_forward_fast(ctx, binary::Kind::kSub); }
void sub_grad_fast(BackwardCtx& ctx) { binary::binary_grad_fast(ctx, binary::Kind::kSub); }
}  // namespace
extern const OpDef kOpDef{.name = "Sub", .min_opset = 7, .max_opset = 18, .forward = sub_ref,
                          .backward = sub_grad_fast, .forward_fast = sub_fast, .backward_ref = sub_grad};
}  // namespace sub

namespace mul {
namespace {
void mul_ref(ForwardCtx& ctx) { binary::binary_forward(ctx, binary::Kind::kMul); }
void mul_grad(BackwardCtx& ctx) { binary::binary_grad(ctx, binary::Kind::kMul); }
void mul_fast(ForwardCtx& ctx) { binary::binary_forward_fast(ctx, binary::Kind::kMul); }
void mul_grad_fast(BackwardCtx& ctx) { binary::binary_grad_fast(ctx, binary::Kind::kMul); }
}  // namespace
extern const OpDef kOpDef{.name = "Mul", .min_opset = 7, .max_opset = 18, .forward = mul_ref,
                          .backward = mul_grad_fast, .forward_fast = mul_fast, .backward_ref = mul_grad};
}  // namespace mul

namespace div {
namespace {
void div_ref(ForwardCtx& ctx) { binary::binary_forward(ctx, binary::Kind::kDiv); }
void div_grad(BackwardCtx& ctx) { binary::binary_grad(ctx, binary::Kind::kDiv); }
void div_fast(ForwardCtx& ctx) { binary::binary_forward_fast(ctx, binary::Kind::kDiv); }
void div_grad_fast(BackwardCtx& ctx) { binary::binary_grad_fast(ctx, binary::Kind::kDiv); }
}  // namespace
extern const OpDef kOpDef{.name = "Div", .min_opset = 7, .max_opset = 18, .forward = div_ref,
                          .backward = div_grad_fast, .forward_fast = div_fast, .backward_ref = div_grad};
}  // namespace div

}  // namespace edgeopt::kernels::ops

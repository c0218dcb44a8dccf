// Elementwise math ops, f32 unless noted (ONNX opsets 6-18; 1-5 only differ by the legacy
// consumed_inputs attribute). https://onnx.ai/onnx/operators/onnx__Exp.html (and Log, Sqrt, Neg,
// Abs, Erf, Pow).
//   Exp  y = e^x                    dx = dy * y
//   Log  y = ln x                   dx = dy / x
//   Sqrt y = sqrt x                 dx = dy / (2 y)
//   Neg  y = -x   (f32, i8, i32, i64; integers wrap)            dx = -dy
//   Abs  y = |x|  (f32, i8, u8, i32, i64)                       dx = dy * sign(x)  (0 at 0)
//   Erf  y = erf x                  dx = dy * 2/sqrt(pi) * e^(-x^2)
//   Pow  y = a^b with numpy broadcasting; a f32/i32/i64, b f32/i32/i64 (opset 12+ mixes them), y
//        has a's dtype; computed in double, integers truncated toward zero.
//        da = dy * b * a^(b-1),  db = dy * y * ln a  (0 where a <= 0), summed back to each shape.
#include <cmath>
#include <limits>
#include <type_traits>

#include "kernels/common.h"

namespace edgeopt::kernels::ops {
namespace unary_math {
namespace {

// dx[i] = dy[i] * d(x[i], y[i]) for f32.
template <typename F>
void pointwise_grad(BackwardCtx& ctx, F d) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || ctx.in[0].dtype() != DType::kF32) return;
  const Tensor& x = ctx.in[0];
  const float* px = x.data<float>();
  const float* py = ctx.out[0].data<float>();
  const float* pdy = ctx.grad_out[0].data<float>();
  Tensor dx(DType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) dx.data<float>()[i] = pdy[i] * d(px[i], py[i]);
  ctx.grad_in[0] = dx;
}

// y = f(x) over the dtypes the op lists.
template <typename F>
void map_any(ForwardCtx& ctx, F f, std::initializer_list<DType> allowed, const char* allowed_names) {
  const Tensor& x = required_input(ctx, 0);
  bool ok = false;
  for (DType t : allowed) ok = ok || x.dtype() == t;
  EDGEOPT_CHECK(ok, ErrorCode::kUnimplemented, ctx.node.op_type + " has no kernel for dtype " +
                                                   dtype_name(x.dtype()) + " (available: " + allowed_names + ")");
  Tensor& y = alloc_output(ctx, 0, x.dtype(), x.shape());
  auto run = [&](auto tag) {
    using T = decltype(tag);
    const T* px = x.data<T>();
    T* py = y.data<T>();
    for (int64_t i = 0; i < x.numel(); ++i) py[i] = f(px[i]);
  };
  switch (x.dtype()) {
    case DType::kF32: return run(float{});
    case DType::kI8: return run(int8_t{});
    case DType::kU8: return run(uint8_t{});
    case DType::kI32: return run(int32_t{});
    case DType::kI64: return run(int64_t{});
    default: break;
  }
}

}  // namespace
}  // namespace unary_math

using unary_math::map_any;
using unary_math::pointwise_grad;

namespace exp {
namespace {
void exp_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  ctx.out[0] = unary_f32(ctx.in[0], [](float v) { return std::exp(v); });
}
void exp_f32_grad(BackwardCtx& ctx) { pointwise_grad(ctx, [](float, float y) { return y; }); }
}  // namespace
extern const OpDef kOpDef{.name = "Exp", .min_opset = 1, .max_opset = 18, .forward = exp_f32_ref,
                          .backward = exp_f32_grad};
}  // namespace exp

namespace log {
namespace {
void log_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  ctx.out[0] = unary_f32(ctx.in[0], [](float v) { return std::log(v); });
}
void log_f32_grad(BackwardCtx& ctx) { pointwise_grad(ctx, [](float x, float) { return 1.f / x; }); }
}  // namespace
extern const OpDef kOpDef{.name = "Log", .min_opset = 1, .max_opset = 18, .forward = log_f32_ref,
                          .backward = log_f32_grad};
}  // namespace log

namespace sqrt {
namespace {
void sqrt_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  ctx.out[0] = unary_f32(ctx.in[0], [](float v) { return std::sqrt(v); });
}
void sqrt_f32_grad(BackwardCtx& ctx) { pointwise_grad(ctx, [](float, float y) { return 0.5f / y; }); }
}  // namespace
extern const OpDef kOpDef{.name = "Sqrt", .min_opset = 1, .max_opset = 18, .forward = sqrt_f32_ref,
                          .backward = sqrt_f32_grad};
}  // namespace sqrt

namespace erf {
namespace {
void erf_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  ctx.out[0] = unary_f32(ctx.in[0], [](float v) { return std::erf(v); });
}
void erf_f32_grad(BackwardCtx& ctx) {
  const float k = 2.f / std::sqrt(static_cast<float>(M_PI));
  pointwise_grad(ctx, [k](float x, float) { return k * std::exp(-x * x); });
}
}  // namespace
extern const OpDef kOpDef{.name = "Erf", .min_opset = 9, .max_opset = 18, .forward = erf_f32_ref,
                          .backward = erf_f32_grad};
}  // namespace erf

namespace neg {
namespace {
void neg_ref(ForwardCtx& ctx) {
  map_any(
      ctx,
      [](auto v) {
        using T = decltype(v);
        if constexpr (std::is_integral_v<T>)  // wraps (two's complement), no signed-overflow UB
          return static_cast<T>(-static_cast<std::make_unsigned_t<T>>(v));
        else
          return -v;
      },
      {DType::kF32, DType::kI8, DType::kI32, DType::kI64}, "f32, i8, i32, i64");
}
void neg_f32_grad(BackwardCtx& ctx) { pointwise_grad(ctx, [](float, float) { return -1.f; }); }
}  // namespace
extern const OpDef kOpDef{.name = "Neg", .min_opset = 1, .max_opset = 18, .forward = neg_ref,
                          .backward = neg_f32_grad};
}  // namespace neg

namespace abs {
namespace {
void abs_ref(ForwardCtx& ctx) {
  map_any(
      ctx,
      [](auto v) {
        using T = decltype(v);
        if constexpr (std::is_unsigned_v<T>)
          return v;
        else if constexpr (std::is_integral_v<T>)  // |lowest| wraps to lowest, as numpy
          return v < 0 ? static_cast<T>(-static_cast<std::make_unsigned_t<T>>(v)) : v;
        else
          return std::fabs(v);
      },
      {DType::kF32, DType::kI8, DType::kU8, DType::kI32, DType::kI64}, "f32, i8, u8, i32, i64");
}
void abs_f32_grad(BackwardCtx& ctx) {
  pointwise_grad(ctx, [](float x, float) { return x > 0.f ? 1.f : (x < 0.f ? -1.f : 0.f); });
}
}  // namespace
extern const OpDef kOpDef{.name = "Abs", .min_opset = 1, .max_opset = 18, .forward = abs_ref,
                          .backward = abs_f32_grad};
}  // namespace abs

namespace pow {
namespace {

double element(const Tensor& t, int64_t i) {
  switch (t.dtype()) {
    case DType::kF32: return t.data<float>()[i];
    case DType::kI32: return t.data<int32_t>()[i];
    default: return static_cast<double>(t.data<int64_t>()[i]);
  }
}

void check_pow_dtype(const Tensor& t, const char* name) {
  const DType d = t.dtype();
  EDGEOPT_CHECK(d == DType::kF32 || d == DType::kI32 || d == DType::kI64, ErrorCode::kUnimplemented,
                std::string("Pow input ") + name + " is " + t.describe() + "; supported dtypes are f32, i32, i64");
}

void pow_ref(ForwardCtx& ctx) {
  const Tensor& a = required_input(ctx, 0);
  const Tensor& b = required_input(ctx, 1);
  check_pow_dtype(a, "X");
  check_pow_dtype(b, "Y");
  const Shape out = broadcast_shapes(a.shape(), b.shape());
  Tensor& y = alloc_output(ctx, 0, a.dtype(), out);
  BroadcastIndex bi(a.shape(), b.shape(), out);
  for (int64_t i = 0; i < y.numel(); ++i) {
    const double v = std::pow(element(a, bi.a_index[i]), element(b, bi.b_index[i]));
    switch (a.dtype()) {
      case DType::kF32: y.data<float>()[i] = static_cast<float>(v); break;
      case DType::kI32: y.data<int32_t>()[i] = static_cast<int32_t>(v); break;
      default: y.data<int64_t>()[i] = static_cast<int64_t>(v); break;
    }
  }
}

void pow_f32_grad(BackwardCtx& ctx) {
  const Tensor& a = ctx.in[0];
  const Tensor& b = ctx.in[1];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || a.dtype() != DType::kF32) return;
  const Tensor& dy = ctx.grad_out[0];
  const Tensor& y = ctx.out[0];
  BroadcastIndex bi(a.shape(), b.shape(), dy.shape());
  Tensor da(DType::kF32, dy.shape()), db(DType::kF32, dy.shape());
  for (int64_t i = 0; i < dy.numel(); ++i) {
    const double av = a.data<float>()[bi.a_index[i]], bv = element(b, bi.b_index[i]), g = dy.data<float>()[i];
    da.data<float>()[i] = static_cast<float>(g * bv * std::pow(av, bv - 1.0));
    db.data<float>()[i] = av > 0 ? static_cast<float>(g * y.data<float>()[i] * std::log(av)) : 0.f;
  }
  ctx.grad_in[0] = reduce_to_shape_f32(da, a.shape());
  if (b.dtype() == DType::kF32) ctx.grad_in[1] = reduce_to_shape_f32(db, b.shape());
}

}  // namespace
extern const OpDef kOpDef{.name = "Pow", .min_opset = 1, .max_opset = 18, .forward = pow_ref,
                          .backward = pow_f32_grad};
}  // namespace pow

}  // namespace edgeopt::kernels::ops

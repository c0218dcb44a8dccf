// Max and Min (ONNX https://onnx.ai/onnx/operators/onnx__Max.html and onnx__Min.html, opsets
// 6-18): elementwise max/min of 1 or more inputs with numpy broadcasting (opset 8+), dtypes f32,
// f16 (through f32: exact, the result is an input), i32, i64, i8, u8 (opset 12 added the
// integers). A NaN in any input gives NaN (numpy maximum).
//   Y[i] = max_k X_k[idx_k(i)]
// Gradient (f32): dY[i] goes to the first input holding the result (ties are not split), summed
// back to that input's shape.
#include <cmath>
#include <type_traits>

#include "kernels/common.h"

namespace edgeopt::kernels::ops {
namespace max_min {
namespace {

Shape variadic_shape(const ForwardCtx& ctx) {
  EDGEOPT_CHECK_ARG(!ctx.in.empty(), ctx.node.op_type + " needs at least one input");
  const Tensor& x0 = required_input(ctx, 0);
  Shape out = x0.shape();
  for (size_t k = 1; k < ctx.in.size(); ++k) {
    const Tensor& x = required_input(ctx, k);
    EDGEOPT_CHECK_ARG(x.dtype() == x0.dtype(),
                      "input " + std::to_string(k) + " is " + x.describe() + " but input 0 is " + x0.describe() +
                          "; all inputs must have the same dtype");
    out = broadcast_shapes(out, x.shape());
  }
  return out;
}

// Whether v replaces the running result r (NaN wins and then sticks).
template <bool kMax, typename T>
bool takes(T v, T r) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(r)) return false;
    if (std::isnan(v)) return true;
  }
  return kMax ? v > r : v < r;
}

// Per output element: the index of the input holding the result.
template <bool kMax, typename T>
void extreme_ref(std::span<const Tensor> in, const Shape& out, T* py, std::vector<uint32_t>* which) {
  const int64_t n = out.numel();
  if (which) which->assign(static_cast<size_t>(n), 0);
  for (size_t k = 0; k < in.size(); ++k) {
    BroadcastIndex bi(in[k].shape(), in[k].shape(), out);
    const T* px = in[k].data<T>();
    for (int64_t i = 0; i < n; ++i) {
      const T v = px[bi.a_index[i]];
      if (k == 0 || takes<kMax>(v, py[i])) {
        py[i] = v;
        if (which) (*which)[i] = static_cast<uint32_t>(k);
      }
    }
  }
}

template <bool kMax>
void max_min_ref(ForwardCtx& ctx) {
  const Shape out = variadic_shape(ctx);
  const DType dt = ctx.in[0].dtype();
  if (dt == DType::kF16) {
    // The result is one of the inputs, so computing in f32 and converting back is exact.
    std::vector<Tensor> in32;
    for (const Tensor& t : ctx.in) in32.push_back(t.cast(DType::kF32));
    Tensor y32(DType::kF32, out);
    extreme_ref<kMax>(std::span<const Tensor>(in32), out, y32.data<float>(), nullptr);
    alloc_output(ctx, 0, DType::kF16, out) = y32.cast(DType::kF16);
    return;
  }
  Tensor& y = alloc_output(ctx, 0, dt, out);
  switch (dt) {
    case DType::kF32: return extreme_ref<kMax>(ctx.in, out, y.data<float>(), nullptr);
    case DType::kI32: return extreme_ref<kMax>(ctx.in, out, y.data<int32_t>(), nullptr);
    case DType::kI64: return extreme_ref<kMax>(ctx.in, out, y.data<int64_t>(), nullptr);
    case DType::kI8: return extreme_ref<kMax>(ctx.in, out, y.data<int8_t>(), nullptr);
    case DType::kU8: return extreme_ref<kMax>(ctx.in, out, y.data<uint8_t>(), nullptr);
    default:
      throw_error(ErrorCode::kUnimplemented, ctx.node.op_type + " has no kernel for dtype " +
                                                 std::string(dtype_name(dt)) + " (available: f32, f16, i32, i64, i8, u8)");
  }
}

template <bool kMax>
void max_min_f32_grad(BackwardCtx& ctx) {
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || ctx.in[0].dtype() != DType::kF32) return;
  const Tensor& dy = ctx.grad_out[0];
  std::vector<uint32_t> which;
  Tensor y(DType::kF32, dy.shape());
  extreme_ref<kMax>(ctx.in, dy.shape(), y.data<float>(), &which);
  for (size_t k = 0; k < ctx.in.size(); ++k) {
    Tensor g = Tensor::zeros(DType::kF32, dy.shape());
    for (int64_t i = 0; i < dy.numel(); ++i)
      if (which[i] == k) g.data<float>()[i] = dy.data<float>()[i];
    ctx.grad_in[k] = reduce_to_shape_f32(g, ctx.in[k].shape());
  }
}

}  // namespace
}  // namespace max_min

namespace max {
extern const OpDef kOpDef{.name = "Max", .min_opset = 1, .max_opset = 18, .forward = max_min::max_min_ref<true>,
                          .backward = max_min::max_min_f32_grad<true>};
}  // namespace max

namespace min {
extern const OpDef kOpDef{.name = "Min", .min_opset = 1, .max_opset = 18, .forward = max_min::max_min_ref<false>,
                          .backward = max_min::max_min_f32_grad<false>};
}  // namespace min

}  // namespace edgeopt::kernels::ops

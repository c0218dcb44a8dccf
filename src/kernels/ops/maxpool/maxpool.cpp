// MaxPool (ONNX https://onnx.ai/onnx/operators/onnx__MaxPool.html, opsets 1-18): 1D/2D/3D NCHW,
// kernel_shape, strides, pads (padding never wins), auto_pad, dilations, ceil_mode, storage_order,
// optional Indices output; f32, u8 and i8.
//   Y[n, c, o] = max_{k: tap inside X} X[n, c, o*s - pb + k*d]
//   Indices[n, c, o] = flat index of that max in X: ((n*C + c) * prod(in)) + spatial index, the
//   spatial index row-major (storage_order 0) or column-major (storage_order 1). Ties keep the
//   first tap. A window lying wholly in the padding yields lowest(T) and index -1.
// Gradient: dX[argmax] += dY (the argmax recomputed from X, ties as in the forward).
#include <limits>

#include "kernels/common.h"
#include "kernels/ops/conv/conv_geometry.h"
#include "kernels/ops/maxpool/maxpool_fast.h"

namespace edgeopt::kernels::ops::maxpool {
namespace {

using conv::Window;

// Per (n, c) plane: the position in the plane of each output's max, -1 when the window is empty.
template <typename T>
void maxpool_argmax_plane(const T* x, const Window& w, std::vector<int64_t>& arg) {
  arg.assign(static_cast<size_t>(w.small_numel()), -1);
  conv::for_each_tap(w, [&](int64_t s, int64_t, int64_t b) {
    if (arg[s] < 0 || x[b] > x[arg[s]]) arg[s] = b;
  });
}

// Row-major position in the (3-padded) big grid -> column-major over the real spatial dims.
int64_t column_major(const Window& w, int64_t b) {
  const int64_t b2 = b % w.big[2], b1 = (b / w.big[2]) % w.big[1], b0 = b / (w.big[2] * w.big[1]);
  return b0 + w.big[0] * (b1 + w.big[1] * b2);
}

template <typename T>
void maxpool_nchw_ref(ForwardCtx& ctx, const Window& w) {
  const Tensor& x = ctx.in[0];
  const int64_t storage_order = ctx.node.attr_int("storage_order", 0);
  EDGEOPT_CHECK_ARG(storage_order == 0 || storage_order == 1,
                    "attribute storage_order is " + std::to_string(storage_order) + ", expected 0 or 1");
  std::vector<int64_t> y_dims{x.shape()[0], x.shape()[1]};
  for (int64_t o : w.real(w.small)) y_dims.push_back(o);
  Tensor& y = alloc_output(ctx, 0, x.dtype(), Shape(y_dims));
  const bool want_idx = ctx.node.outputs.size() > 1 && !ctx.node.outputs[1].empty();
  int64_t* pi = want_idx ? alloc_output(ctx, 1, DType::kI64, Shape(y_dims)).data<int64_t>() : nullptr;
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = w.big_numel(), out_sz = w.small_numel();
  const T* px = x.data<T>();
  T* py = y.data<T>();
  std::vector<int64_t> arg;
  for (int64_t p = 0; p < planes; ++p) {
    const T* xp = px + p * in_sz;
    maxpool_argmax_plane(xp, w, arg);
    for (int64_t s = 0; s < out_sz; ++s) {
      const int64_t a = arg[s];
      py[p * out_sz + s] = a < 0 ? std::numeric_limits<T>::lowest() : xp[a];
      if (pi) pi[p * out_sz + s] = a < 0 ? -1 : p * in_sz + (storage_order ? column_major(w, a) : a);
    }
  }
}

}  // namespace

void maxpool_ref(ForwardCtx& ctx) {
  const Tensor& x = required_input(ctx, 0);
  const Window w = conv::pool_window(ctx.node, x.shape());
  switch (x.dtype()) {
    case DType::kF32: return maxpool_nchw_ref<float>(ctx, w);
    case DType::kU8: return maxpool_nchw_ref<uint8_t>(ctx, w);
    case DType::kI8: return maxpool_nchw_ref<int8_t>(ctx, w);
    default:
      throw_error(ErrorCode::kUnimplemented,
                  "input X is " + x.describe() + "; MaxPool supports f32, u8 and i8");
  }
}

void maxpool_f32_grad(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& x = ctx.in[0];
  const Window w = conv::pool_window(ctx.node, x.shape());
  Tensor dx = Tensor::zeros(DType::kF32, x.shape());
  const int64_t planes = x.shape()[0] * x.shape()[1], in_sz = w.big_numel(), out_sz = w.small_numel();
  std::vector<int64_t> arg;
  for (int64_t p = 0; p < planes; ++p) {
    maxpool_argmax_plane(x.data<float>() + p * in_sz, w, arg);
    for (int64_t s = 0; s < out_sz; ++s)
      if (arg[s] >= 0) dx.data<float>()[p * in_sz + arg[s]] += dy.data<float>()[p * out_sz + s];
  }
  ctx.grad_in[0] = dx;
}

namespace {

// One compare per output element and kernel tap.
int64_t maxpool_macs(const Node& node, std::span<const Shape>, std::span<const Shape> out) {
  if (out.empty()) return 0;
  int64_t k = 1;
  for (int64_t v : node.attr_ints("kernel_shape")) k *= v;
  return out[0].numel() * k;
}

}  // namespace

extern const OpDef kOpDef{.name = "MaxPool", .min_opset = 1, .max_opset = 18, .forward = maxpool_ref,
                          .backward = maxpool_f32_grad_fast, .macs = maxpool_macs, .forward_fast = maxpool_fast,
                          .backward_ref = maxpool_f32_grad};

}  // namespace edgeopt::kernels::ops::maxpool

// GlobalAveragePool (ONNX https://onnx.ai/onnx/operators/onnx__GlobalAveragePool.html, opsets 1-18):
//   X [N, C, *spatial] -> Y [N, C, 1, ..., 1],  Y[n, c] = mean over spatial of X[n, c, ...]
// Gradient: dX[n, c, ...] = dY[n, c] / prod(spatial).
#include "kernels/common.h"
#include "kernels/ops/global_average_pool/global_average_pool_fast.h"

namespace edgeopt::kernels::ops::global_average_pool {
namespace {

void check_rank(const Shape& x) {
  EDGEOPT_CHECK_ARG(x.rank() >= 2, "input X has shape " + x.str() + ", but GlobalAveragePool needs [N, C, ...]");
}

}  // namespace

void global_average_pool_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  const Tensor& x = ctx.in[0];
  check_rank(x.shape());
  std::vector<int64_t> y_dims(x.rank(), 1);
  y_dims[0] = x.shape()[0];
  y_dims[1] = x.shape()[1];
  Tensor& y = alloc_output(ctx, 0, DType::kF32, Shape(y_dims));
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const int64_t sz = planes > 0 ? x.numel() / planes : 0;
  for (int64_t p = 0; p < planes; ++p) {
    const float* xp = x.data<float>() + p * sz;
    float acc = 0.f;
    for (int64_t i = 0; i < sz; ++i) acc += xp[i];
    y.data<float>()[p] = sz > 0 ? acc / static_cast<float>(sz) : 0.f;
  }
}

void global_average_pool_f32_grad(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& x = ctx.in[0];
  Tensor dx(DType::kF32, x.shape());
  const int64_t planes = x.shape()[0] * x.shape()[1];
  const int64_t sz = planes > 0 ? x.numel() / planes : 0;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t i = 0; i < sz; ++i) dx.data<float>()[p * sz + i] = dy.data<float>()[p] / static_cast<float>(sz);
  ctx.grad_in[0] = dx;
}

namespace {

// One add per input element.
int64_t global_average_pool_macs(const Node&, std::span<const Shape> in, std::span<const Shape>) {
  return in.empty() ? 0 : in[0].numel();
}

}  // namespace

extern const OpDef kOpDef{.name = "GlobalAveragePool", .min_opset = 1, .max_opset = 18,
                          .forward = global_average_pool_f32_ref, .backward = global_average_pool_f32_grad_fast,
                          .macs = global_average_pool_macs, .forward_fast = global_average_pool_f32_fast,
                          .backward_ref = global_average_pool_f32_grad};

}  // namespace edgeopt::kernels::ops::global_average_pool

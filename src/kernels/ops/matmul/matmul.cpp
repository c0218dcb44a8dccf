// MatMul (ONNX https://onnx.ai/onnx/operators/onnx__MatMul.html, opsets 1-18), numpy semantics:
// a 1-D A is promoted to [1, K] and a 1-D B to [K, 1] (the added dim is removed from Y); the batch
// dims (all but the last two) broadcast.
//   Y[..., i, j] = sum_p A[..., i, p] * B[..., p, j]
// Gradients: dA = dY @ B^T, dB = A^T @ dY, each summed over the batch dims its operand broadcast.
#include "kernels/common.h"
#include "kernels/ops/matmul/matmul_fast.h"

namespace edgeopt::kernels::ops::matmul {
namespace {

struct MatMulDims {
  Shape a_batch, b_batch, y_batch;
  int64_t m = 0, k = 0, n = 0;
  Shape y_shape;  // with the promoted dims removed
};

MatMulDims matmul_dims(const Shape& a, const Shape& b) {
  EDGEOPT_CHECK_ARG(a.rank() >= 1 && b.rank() >= 1,
                    "MatMul needs inputs of rank >= 1, got A " + a.str() + " and B " + b.str());
  MatMulDims d;
  std::vector<int64_t> ad = a.dims(), bd = b.dims();
  if (a.rank() == 1) ad.insert(ad.begin(), 1);
  if (b.rank() == 1) bd.push_back(1);
  d.m = ad[ad.size() - 2];
  d.k = ad.back();
  d.n = bd.back();
  EDGEOPT_CHECK_ARG(bd[bd.size() - 2] == d.k, "inner dims differ: A " + a.str() + " has K=" + std::to_string(d.k) +
                                                  ", B " + b.str() + " has K=" + std::to_string(bd[bd.size() - 2]));
  d.a_batch = Shape(std::vector<int64_t>(ad.begin(), ad.end() - 2));
  d.b_batch = Shape(std::vector<int64_t>(bd.begin(), bd.end() - 2));
  d.y_batch = broadcast_shapes(d.a_batch, d.b_batch);
  std::vector<int64_t> yd = d.y_batch.dims();
  if (a.rank() > 1) yd.push_back(d.m);
  if (b.rank() > 1) yd.push_back(d.n);
  d.y_shape = Shape(yd);
  return d;
}

void matmul_f32_ref(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const MatMulDims d = matmul_dims(ctx.in[0].shape(), ctx.in[1].shape());
  Tensor& y = alloc_output(ctx, 0, DType::kF32, d.y_shape);
  BroadcastIndex bi(d.a_batch, d.b_batch, d.y_batch);
  const float* pa = ctx.in[0].data<float>();
  const float* pb = ctx.in[1].data<float>();
  float* py = y.data<float>();
  for (int64_t t = 0; t < d.y_batch.numel(); ++t) {
    const float* a = pa + bi.a_index[t] * d.m * d.k;
    const float* b = pb + bi.b_index[t] * d.k * d.n;
    float* yt = py + t * d.m * d.n;
    for (int64_t i = 0; i < d.m; ++i)
      for (int64_t j = 0; j < d.n; ++j) {
        float acc = 0.f;
        for (int64_t p = 0; p < d.k; ++p) acc += a[i * d.k + p] * b[p * d.n + j];
        yt[i * d.n + j] = acc;
      }
  }
}

void matmul_f32_grad_ref(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& a = ctx.in[0];
  const Tensor& b = ctx.in[1];
  const MatMulDims d = matmul_dims(a.shape(), b.shape());
  BroadcastIndex bi(d.a_batch, d.b_batch, d.y_batch);
  Tensor da = Tensor::zeros(DType::kF32, a.shape());
  Tensor db = Tensor::zeros(DType::kF32, b.shape());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* pdy = dy.data<float>();
  for (int64_t t = 0; t < d.y_batch.numel(); ++t) {
    const float* at = pa + bi.a_index[t] * d.m * d.k;
    const float* bt = pb + bi.b_index[t] * d.k * d.n;
    float* dat = da.data<float>() + bi.a_index[t] * d.m * d.k;
    float* dbt = db.data<float>() + bi.b_index[t] * d.k * d.n;
    const float* g = pdy + t * d.m * d.n;
    for (int64_t i = 0; i < d.m; ++i)
      for (int64_t j = 0; j < d.n; ++j)
        for (int64_t p = 0; p < d.k; ++p) {
          dat[i * d.k + p] += g[i * d.n + j] * bt[p * d.n + j];
          dbt[p * d.n + j] += g[i * d.n + j] * at[i * d.k + p];
        }
  }
  ctx.grad_in[0] = da;
  ctx.grad_in[1] = db;
}

// Y.numel (promoted) * K.
int64_t matmul_macs(const Node&, std::span<const Shape> in, std::span<const Shape> out) {
  if (in.empty() || out.empty() || in[0].rank() < 1) return 0;
  return out[0].numel() * in[0][in[0].rank() - 1];
}

}  // namespace

extern const OpDef kOpDef{.name = "MatMul", .min_opset = 1, .max_opset = 18, .forward = matmul_f32_ref,
                          .backward = matmul_f32_grad_fast, .macs = matmul_macs,
                          .forward_fast = matmul_f32_fast, .backward_ref = matmul_f32_grad_ref};

}  // namespace edgeopt::kernels::ops::matmul

#include "kernels/ops/matmul/matmul_fast.h"

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/microkernels/gemm/gemm.h"

namespace edgeopt::kernels::ops::matmul {
namespace {

namespace mk = edgeopt::kernels::gemm;

struct FastMatMulDims {
  Shape a_batch, b_batch, y_batch;
  int64_t m = 0, k = 0, n = 0;
  Shape y_shape;
};

// The same validation (and messages) as the reference matmul_dims in matmul.cpp.
FastMatMulDims fast_matmul_dims(const Shape& a, const Shape& b) {
  EDGEOPT_CHECK_ARG(a.rank() >= 1 && b.rank() >= 1,
                    "MatMul needs inputs of rank >= 1, got A " + a.str() + " and B " + b.str());
  FastMatMulDims d;
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

// B is one matrix shared by every batch entry and A's batch is the output's: fold into M.
bool folds_into_m(const FastMatMulDims& d) { return d.b_batch.numel() == 1 && d.a_batch == d.y_batch; }

}  // namespace

void matmul_f32_fast(ForwardCtx& ctx) {
  require_f32(ctx, 0);
  require_f32(ctx, 1);
  const FastMatMulDims d = fast_matmul_dims(ctx.in[0].shape(), ctx.in[1].shape());
  Tensor& y = alloc_output(ctx, 0, DType::kF32, d.y_shape);
  if (y.numel() == 0) return;
  const float* pa = ctx.in[0].data<float>();
  const float* pb = ctx.in[1].data<float>();
  float* py = y.data<float>();
  const int64_t batch = d.y_batch.numel();
  if (folds_into_m(d)) {
    mk::gemm_f32(false, false, batch * d.m, d.n, d.k, 1.f, pa, d.k, pb, d.n, 0.f, py, d.n);
    return;
  }
  BroadcastIndex bi(d.a_batch, d.b_batch, d.y_batch);
  // Enough independent products to fill the pool: one per thread, else each GEMM splits itself.
  const bool outer = batch >= 2 * num_threads();
  auto one = [&](int64_t t, ThreadPool* pool) {
    mk::gemm_f32(false, false, d.m, d.n, d.k, 1.f, pa + bi.a_index[t] * d.m * d.k, d.k,
                 pb + bi.b_index[t] * d.k * d.n, d.n, 0.f, py + t * d.m * d.n, d.n, {}, pool);
  };
  if (outer)
    parallel_for(batch, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) one(t, nullptr);
    });
  else
    for (int64_t t = 0; t < batch; ++t) one(t, nullptr);
}

void matmul_f32_grad_fast(BackwardCtx& ctx) {
  const Tensor& dy = ctx.grad_out[0];
  if (!dy.defined()) return;
  const Tensor& a = ctx.in[0];
  const Tensor& b = ctx.in[1];
  const FastMatMulDims d = fast_matmul_dims(a.shape(), b.shape());
  Tensor da = Tensor::zeros(DType::kF32, a.shape());
  Tensor db = Tensor::zeros(DType::kF32, b.shape());
  const float* pa = a.data<float>();
  const float* pb = b.data<float>();
  const float* pdy = dy.data<float>();
  float* pda = da.data<float>();
  float* pdb = db.data<float>();
  const int64_t batch = d.y_batch.numel();
  if (folds_into_m(d)) {
    const int64_t rows = batch * d.m;
    mk::gemm_f32(false, true, rows, d.k, d.n, 1.f, pdy, d.n, pb, d.n, 0.f, pda, d.k);  // dA = dY B^T
    mk::gemm_f32(true, false, d.k, d.n, rows, 1.f, pa, d.k, pdy, d.n, 0.f, pdb, d.n);  // dB = A^T dY
  } else {
    // Broadcast operands accumulate over the batch entries that read them, in batch order.
    BroadcastIndex bi(d.a_batch, d.b_batch, d.y_batch);
    for (int64_t t = 0; t < batch; ++t) {
      const float* g = pdy + t * d.m * d.n;
      mk::gemm_f32(false, true, d.m, d.k, d.n, 1.f, g, d.n, pb + bi.b_index[t] * d.k * d.n, d.n, 1.f,
                   pda + bi.a_index[t] * d.m * d.k, d.k);
      mk::gemm_f32(true, false, d.k, d.n, d.m, 1.f, pa + bi.a_index[t] * d.m * d.k, d.k, g, d.n, 1.f,
                   pdb + bi.b_index[t] * d.k * d.n, d.n);
    }
  }
  ctx.grad_in[0] = da;
  ctx.grad_in[1] = db;
}

}  // namespace edgeopt::kernels::ops::matmul

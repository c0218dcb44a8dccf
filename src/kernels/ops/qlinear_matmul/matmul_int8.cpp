#include "kernels/ops/qlinear_matmul/matmul_int8.h"

#include "kernels/quant/qop_inputs.h"

namespace edgeopt::kernels::ops::qlinear_matmul {

MatMulInt8Inputs read_matmul_int8_inputs(const Tensor& a, const Tensor& a_zp, const Tensor& b, const Tensor& b_zp,
                                         const Tensor* bias, const char* a_zp_name, const char* b_zp_name) {
  quant::check_8bit(a, "a");
  quant::check_8bit(b, "b");
  MatMulInt8Inputs in;
  in.a = &a;
  in.b = &b;
  const size_t ra = a.rank(), rb = b.rank();
  EDGEOPT_CHECK_ARG(ra >= 2, "input a has shape " + a.shape().str() + "; it must be [..., M, K] (rank >= 2)");
  EDGEOPT_CHECK(rb == 2 || rb == ra, ErrorCode::kUnimplemented,
                "input b has shape " + b.shape().str() + " and a " + a.shape().str() +
                    "; supported: b [K, N], or b with a's rank and batch dims");
  in.m = a.shape()[ra - 2];
  in.k = a.shape()[ra - 1];
  in.n = b.shape()[rb - 1];
  EDGEOPT_CHECK_ARG(b.shape()[rb - 2] == in.k, "input b has shape " + b.shape().str() + ", but a " + a.shape().str() +
                                                   " needs b.shape[-2] == K = " + std::to_string(in.k));
  in.b_batched = rb > 2;
  for (size_t i = 0; i + 2 < ra; ++i) {
    in.batch *= a.shape()[i];
    if (in.b_batched)
      EDGEOPT_CHECK(b.shape()[i] == a.shape()[i], ErrorCode::kUnimplemented,
                    "input b has shape " + b.shape().str() + ", but a " + a.shape().str() +
                        "; batch dims must be equal (broadcasting is not supported)");
  }
  in.y_dims.assign(a.shape().dims().begin(), a.shape().dims().end() - 1);
  in.y_dims.push_back(in.n);
  in.a_zp = quant::scalar_zero_point(a_zp, a.dtype(), a_zp_name);
  in.b_zp = quant::read_zero_points(b_zp, b.dtype(), in.n, b_zp_name);
  if (bias && bias->defined()) {
    EDGEOPT_CHECK_ARG(bias->dtype() == DType::kI32, "input bias is " + bias->describe() + "; it must be i32");
    EDGEOPT_CHECK_ARG(bias->shape() == Shape({in.n}), "input bias has shape " + bias->shape().str() +
                                                          ", but it must be [N] = [" + std::to_string(in.n) + "]");
    in.bias = bias;
  }
  return in;
}

namespace {

template <typename TA, typename TB>
void matmul_acc(const MatMulInt8Inputs& in, int32_t* acc) {
  const TA* pa = in.a->data<TA>();
  const TB* pb = in.b->data<TB>();
  const int32_t* bias = in.bias ? in.bias->data<int32_t>() : nullptr;
  for (int64_t bt = 0; bt < in.batch; ++bt) {
    const TA* a = pa + bt * in.m * in.k;
    const TB* b = pb + (in.b_batched ? bt * in.k * in.n : 0);
    for (int64_t i = 0; i < in.m; ++i)
      for (int64_t j = 0; j < in.n; ++j) {
        uint32_t s = bias ? static_cast<uint32_t>(bias[j]) : 0u;  // unsigned: defined wrapping
        for (int64_t kk = 0; kk < in.k; ++kk)
          s += static_cast<uint32_t>((int32_t{a[i * in.k + kk]} - in.a_zp) *
                                     (int32_t{b[kk * in.n + j]} - in.b_zp_of(j)));
        acc[(bt * in.m + i) * in.n + j] = static_cast<int32_t>(s);
      }
  }
}

}  // namespace

Tensor matmul_int8_acc_ref(const MatMulInt8Inputs& in) {
  Tensor acc(DType::kI32, Shape(in.y_dims));
  const bool au = in.a->dtype() == DType::kU8, bu = in.b->dtype() == DType::kU8;
  int32_t* p = acc.data<int32_t>();
  if (au && bu) matmul_acc<uint8_t, uint8_t>(in, p);
  if (au && !bu) matmul_acc<uint8_t, int8_t>(in, p);
  if (!au && bu) matmul_acc<int8_t, uint8_t>(in, p);
  if (!au && !bu) matmul_acc<int8_t, int8_t>(in, p);
  return acc;
}

}  // namespace edgeopt::kernels::ops::qlinear_matmul

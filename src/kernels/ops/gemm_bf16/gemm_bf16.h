// GemmBf16: a Gemm or MatMul with a constant 2-D weight computed in bf16 with f32 accumulation (the
// AVX512-BF16 GEMM, kernels/microkernels/gemm_bf16). An edgeopt-internal op that only the runtime's
// use_bf16_compute pass creates, on the Session's private graph; never exported to ONNX.
//
//   GemmBf16(A, B[, bias]) -> Y[..., N] = act(bf16(A)[rows, K] @ op(bf16(B)) + bias)
//
// A has rank >= 2 and its leading dims are rows (a Gemm's [M, K], or a MatMul's [..., M, K] against
// a 2-D B); B is [K, N], or [N, K] with transB = 1; bias is [N] (a Gemm's beta * C when C is one
// value per column) or absent; the fused activation attributes as Gemm's. A and B are rounded to
// bf16; bias and the sums stay f32. The fast kernel packs B once (prepare) and A per run.
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::gemm_bf16 {

struct GemmBf16Dims {
  int64_t rows = 0, k = 0, n = 0;
  bool trans_b = false;
  Shape y;
};
// Validates the shapes (rank, inner dims, bias length) and returns the GEMM's. Throws InvalidArgument.
GemmBf16Dims gemm_bf16_dims(const ForwardCtx& ctx);
const float* gemm_bf16_bias(const ForwardCtx& ctx);  // null when absent

void gemm_bf16_fast(ForwardCtx& ctx);
std::shared_ptr<const OpState> gemm_bf16_prepare(const PrepareCtx& ctx);

}  // namespace edgeopt::kernels::ops::gemm_bf16

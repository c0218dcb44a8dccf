// Fast f32 MatMul forward/backward through the packed GEMM; the reference in matmul.cpp stays the
// oracle (matmul_fast_test.cpp compares them). When B has no batch dims and A is a stack of
// matrices, the batch folds into M (one [batch*M, K] x [K, N] GEMM, one weight packing).
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::matmul {

void matmul_f32_fast(ForwardCtx& ctx);
void matmul_f32_grad_fast(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::matmul

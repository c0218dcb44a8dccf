// Fast f32 Gemm forward/backward through the packed GEMM (kernels/microkernels/gemm); the
// reference in gemm.cpp stays the oracle (gemm_fast_test.cpp compares them).
//   forward:  Y = alpha*A'B' + beta*C, with C as a fused row/column bias when it is a vector
//   backward: dA' = alpha dY B'^T, dB' = alpha A'^T dY (as GEMMs on the stored layouts), dC = beta*sum dY
#pragma once
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::gemm {

void gemm_f32_fast(ForwardCtx& ctx);
void gemm_f32_grad_fast(BackwardCtx& ctx);

}  // namespace edgeopt::kernels::ops::gemm

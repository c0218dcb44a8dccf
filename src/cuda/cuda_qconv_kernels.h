// The int8 CNN kernels of the CUDA backend (cuda_qconv_kernels.cu): QLinearConv and QLinearAdd,
// bit-exact with the CPU int8 kernels (src/kernels/ops/qlinear_conv, qlinear_add).
//
// QLinearConv, group == 1: im2col to s8 (u8 codes shifted by 128, padding taps = the x zero point,
// K padded with zeros to a multiple of 4 so cuBLASLt's IMMA rules hold), the s8 x s8 -> s32 GEMM
// of cuda_kernels.h (S[pixel, m]), then launch_qconv_epilogue: the exact zero-point correction
//   acc = S - zb[m] * rowsum[pixel] - za * colsum[m] + K * za * zb[m] + bias[m]   (wrapping s32)
// and quant::requantize per output channel into NCHW codes. Grouped and depthwise convs: one
// direct kernel, acc = bias + sum (x - zx) * (w - zw) as conv_int8.h's reference, same requantize.
// Both optionally max-pool the codes 2x2/2 (floor), QLinearConv's edgeopt-internal `maxpool` = 2.
//
// What each thread computes is one inline function of cuda_qconv_math.h, compiled for the host
// too, so cuda_test checks the very arithmetic against the CPU kernels on machines without a GPU.
#pragma once
#include <cstdint>

#include "cuda/cuda_qconv_math.h"

namespace edgeopt::cuda {

int launch_im2col_s8(const void* x, bool x_u8, int8_t* a, const QConvGeom& g, int32_t za_s8, int64_t k_pad,
                     cudaStream_t stream);
int launch_qconv_epilogue(const QConvGemmTerms& t, void* y, const QConvGeom& g, cudaStream_t stream);
int launch_qconv_direct(const QConvDirect& d, void* y, const QConvGeom& g, cudaStream_t stream);
int launch_qlinear_add(const void* a, const void* b, void* c, const BroadcastShape& s, const QAddParams& p,
                       cudaStream_t stream);

}  // namespace edgeopt::cuda

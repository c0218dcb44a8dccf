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
#pragma once
#include <cstdint>

#include "cuda/cuda_kernels.h"

namespace edgeopt::cuda {

// 2-D geometry (1-D convs pass ih = oh = kh = 1) and the requantization of one QLinearConv.
struct QConvGeom {
  int64_t batch = 0, c = 0, m = 0, group = 1;
  int64_t ih = 1, iw = 1, oh = 1, ow = 1, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  bool pool2x2 = false;  // y is [N, M, oh/2, ow/2], the max of each 2x2 block of codes
  // Requantization, per output channel [M].
  const int32_t* multiplier = nullptr;
  const int32_t* shift = nullptr;
  const int32_t* bias = nullptr;  // or null
  int32_t y_zp = 0, qmin = 0, qmax = 255;
  bool y_u8 = true;
};

// A [batch * oh * ow, k_pad] s8: column c*kh*kw + ky*kw + kx holds x[n, c, iy, ix] on the s8 scale
// (x - 128 when x_u8), za_s8 for taps in the padding, 0 for columns >= c*kh*kw.
int launch_im2col_s8(const void* x, bool x_u8, int8_t* a, const QConvGeom& g, int32_t za_s8, int64_t k_pad,
                     cudaStream_t stream);

// The GEMM path's epilogue. s: [batch * oh * ow, M] s32; zb/col_sum: [M] on the s8 scale; k: the
// true K = C * kh * kw.
struct QConvGemmTerms {
  const int32_t* s = nullptr;
  const int32_t* row_sum = nullptr;  // [batch * oh * ow]
  const int32_t* col_sum = nullptr;
  const int32_t* zb = nullptr;
  int32_t za = 0;
  int64_t k = 0;
};
int launch_qconv_epilogue(const QConvGemmTerms& t, void* y, const QConvGeom& g, cudaStream_t stream);

// Direct conv for any group count: x raw codes (u8 or i8 per x_u8), w raw [M, C/group, kh, kw]
// (u8 or i8 per w_u8), w_zp [M] (raw scale), x_zp raw scale.
int launch_qconv_direct(const void* x, bool x_u8, int32_t x_zp, const void* w, bool w_u8, const int32_t* w_zp,
                        void* y, const QConvGeom& g, cudaStream_t stream);

// QLinearAdd: c = quantize_f32(clamp(dequantize_f32(a) + dequantize_f32(b), lo, hi)), with the
// very f32 operations of the CPU kernel (no FMA contraction), numpy broadcasting as launch_binary.
struct QAddParams {
  float sa = 1, sb = 1, sc = 1, lo = 0, hi = 0;
  int32_t za = 0, zb = 0, zc = 0, qmin = 0, qmax = 255;
  bool a_u8 = true, b_u8 = true, c_u8 = true;
};
int launch_qlinear_add(const void* a, const void* b, void* c, const BroadcastShape& s, const QAddParams& p,
                       cudaStream_t stream);

}  // namespace edgeopt::cuda

// Depthwise 2-D int8 conv, "row-quad" form for AVX512-VNNI (vpdpbusd), requantization fused:
//
//   x4[phase][i, j] = (P[j*sw], P[j*sw + dw], P[j*sw + 2dw], P[j*sw + 3dw])   P: padded input row i*sh + phase
//   acc[r, c] = bias - zx * sum(w) + sum_a vpdpbusd(x4[(a*dh) % sh][r + (a*dh) / sh, c], w[a, 0..3])
//
// Each u8 quad holds one kernel row's taps (a 4th, zero-weighted one for 3x3), so one vpdpbusd does
// a kernel row for 16 outputs, and the quad planes are indexed by the output position itself: the
// whole plane is one flat run of oh * ow outputs (7x7 planes fill the vectors as well as 112x112).
// The sums then go through x86::requantize16 straight to the output plane, with no s32 round trip.
// Bit-exact with conv_int8_acc_ref + quant::requantize (same s32 sums, wrapping; same rounding).
//
//   if (dwconv_q8_rowquad_applies(in, ep)) dwconv_q8_rowquad(in, ep, y, 0, n * c);
#pragma once
#include <cstdint>

#include "kernels/ops/qlinear_conv/conv_int8.h"

namespace edgeopt::kernels::ops::qlinear_conv {

// True on x86 when the int8 ISA is avx512vnni, the conv is depthwise 2-D (or 1-D) with kernel
// width <= 4, its weights are s8 with zero point 0 or u8 with zero point 128 (every channel), and
// for u8/s8 output every shift is a right shift of 0..31 (every real scale < 1).
bool dwconv_q8_rowquad_applies(const ConvInt8Inputs& in, const gemm_int8::Epilogue& ep);

// Planes [p_begin, p_end) of the N * C output planes into y (u8/s8/s32 per ep.out; ep.multiplier
// and ep.shift per channel; ep.bias unused: the conv's bias comes from in.bias). Only where
// dwconv_q8_rowquad_applies; thread-safe for disjoint plane ranges (per-thread scratch).
void dwconv_q8_rowquad(const ConvInt8Inputs& in, const gemm_int8::Epilogue& ep, void* y, int64_t p_begin,
                       int64_t p_end);

}  // namespace edgeopt::kernels::ops::qlinear_conv

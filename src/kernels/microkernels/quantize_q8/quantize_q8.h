// Array forms of quant::quantize_f32 (f32 -> u8/s8 codes) for the int8 path's hot loops
// (QuantizeLinear on a per-tensor scale, QLinearAdd without AVX-512): AVX-512 when the CPU has it
// (the 16-lane form, quantize_q8_avx512.h, which QLinearAdd's one-pass kernel also calls), else the
// scalar routine itself. Bit-exact with quant::quantize_f32 for every input, NaN and
// +-inf included (tested per ISA).
//
//   quantize_f32_to_q8(x, n, 0.02f, 128, 0, 255, /*is_signed=*/false, y_u8);
#pragma once
#include <cstdint>

#include "kernels/microkernels/gemm_int8/gemm_int8.h"

namespace edgeopt::kernels::quantize_q8 {

// y[i] = quant::quantize_f32(x[i], scale, zero_point, qmin, qmax) as u8 (is_signed: s8) bytes.
void quantize_f32_to_q8(const float* x, int64_t n, float scale, int32_t zero_point, int32_t qmin, int32_t qmax,
                        bool is_signed, void* y, gemm_int8::Isa isa = gemm_int8::default_isa());

}  // namespace edgeopt::kernels::quantize_q8

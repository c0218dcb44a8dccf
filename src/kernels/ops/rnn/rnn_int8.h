// What the int8-weight recurrent ops (LSTMDynamicInt8, GRUDynamicInt8) share: their W/R codes and
// scales, the reference's dequantized integer dot product, and the fast path's dynamically
// quantized product on gemm_int8.
//
//   Int8Weights q = read_int8_weights(in, 8, 9, 4 * H);         // throws naming W_scale / R_scale
//   float v = dequantized_dot(qx, w + k * I, I, px, q.w_scale_of(k));          // the reference
//   PackedInt8Rows pw = pack_int8_rows(w, 4 * H, I);                           // fast: once
//   gemm_dynamic_int8(x, rows, I, I, pw, q.w_scale, q.w_per_row, bias, xw, scratch);  // per call
//
// Semantics of the dynamic product of a block A [m, k] (f32) with int8 rows W [n, k] (zero point 0):
//   p = quant::dynamic_u8_params(A);  qa = quantize(A, p)   (u8, one range for the whole block)
//   out[i, j] = (sum_k qa[i, k] W[j, k] - p.zero_point sum_k W[j, k]) * (p.scale * s_W[j]) (+ bias[j])
// with exact s32 sums, so the reference and the fast path differ by nothing but their callers' f32.
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/op_def.h"
#include "kernels/quant/dynamic_quant.h"

namespace edgeopt::kernels::recurrent {

struct Int8Weights {
  const int8_t* w = nullptr;  // [dirs, rows, input]
  const int8_t* r = nullptr;  // [dirs, rows, hidden]
  const float* w_scale = nullptr;
  const float* r_scale = nullptr;
  bool w_per_row = false, r_per_row = false;  // one scale per gate row (shared by the directions)
  float w_scale_of(int64_t k) const { return w_scale[w_per_row ? k : 0]; }
  float r_scale_of(int64_t k) const { return r_scale[r_per_row ? k : 0]; }
};

// W (input 1) and R (input 2) as i8 codes (read_rnn_config checked them) and the scales at inputs
// w_scale / r_scale: f32, 1 value or `rows` (= gates * hidden), finite and > 0. Throws
// InvalidArgument naming W_scale or R_scale.
Int8Weights read_int8_weights(std::span<const Tensor> in, size_t w_scale, size_t r_scale, int64_t rows);

// The references' activation codes: the contiguous block v [rows, n] (rows * n floats) quantized to
// u8 with one dynamic range (quant::dynamic_u8_params); q[i] the code of v[i]. Returns the range.
quant::DynamicQ8Params quantize_block_u8(const float* v, int64_t rows, int64_t n, int32_t* q);

// The reference's gate product: (sum_i q[i] w[i] - p.zero_point sum_i w[i]) * (p.scale * w_scale).
float dequantized_dot(const int32_t* q, const int8_t* w, int64_t n, const quant::DynamicQ8Params& p, float w_scale);

// int8 rows W [n, k] as gemm_int8's signed right operand (W^T [k, n]) with each row's code sum.
struct PackedInt8Rows {
  int64_t n = 0, k = 0;
  std::vector<uint8_t> packed;
  std::vector<int32_t> sums;
};
PackedInt8Rows pack_int8_rows(const int8_t* w, int64_t n, int64_t k);

// Whether a prepare can pack this node's weights: W and R constant i8 (and B constant f32 when the
// node names it) with consistent shapes for `gates` gates. False when any is fed at run time or
// malformed (the forward then reports it).
bool int8_weights_constant(const PrepareCtx& ctx, int64_t gates);

// The W, R and B tensors a packed state was built from: a fast forward uses the state only for
// those very tensors (same storage and shapes).
struct Int8WeightsKey {
  const void* w = nullptr;
  const void* r = nullptr;
  const void* b = nullptr;  // null: no bias input
  Shape w_shape, r_shape;
  static Int8WeightsKey of(std::span<const Tensor> in);
  bool operator==(const Int8WeightsKey&) const = default;
};

// Per-call buffers of gemm_dynamic_int8 (grown as needed, so a step loop allocates once).
struct DynamicInt8Scratch {
  std::vector<uint8_t> codes, packed;
  std::vector<int32_t> acc;
};

// out[i, j] (row stride ldo) for the m x k block at a (row stride lda), as above; the scale of W's
// row j is scale[per_row ? j : 0]; bias may be null. Single-threaded; dispatches on default_isa().
void gemm_dynamic_int8(const float* a, int64_t m, int64_t lda, const PackedInt8Rows& w, const float* scale,
                       bool per_row, const float* bias, float* out, int64_t ldo, DynamicInt8Scratch& scratch);

}  // namespace edgeopt::kernels::recurrent

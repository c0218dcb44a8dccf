// GRUDynamicInt8 (edgeopt-internal, made by runtime/passes fuse_dq_recurrent from
// DequantizeLinear(int8 W), DequantizeLinear(int8 R) -> GRU; never exported): a GRU whose W and R
// stay int8 codes and whose gate products run in integers on activations quantized per call to u8
// (rnn_int8.h), as LSTMDynamicInt8 does for the LSTM.
//
//   inputs  X, W (i8 [dirs, 3H, I]), R (i8 [dirs, 3H, H]), B, sequence_lens, initial_h as GRU, then
//           W_scale and R_scale: f32, one value or one per gate row ([3H], shared by the directions);
//           the weights' zero points are 0. Gate order [z, r, h].
//   X is quantized once (one dynamic u8 range for all of it), h before every step (one range over
//   the batch rows), and with dyn(v) W_k = the dequantized integer product of rnn_int8.h:
//     xw[k] = dyn(x) W_k + Wb[k] + Rb[k]           (no Rb_h when linear_before_reset != 0)
//     z = f(clip(xw_z + dyn(h) R_z)),  r = f(clip(xw_r + dyn(h) R_r))
//     linear_before_reset != 0:  hh = g(clip(xw_h + r * (dyn(h) R_h + Rb_h)))
//     linear_before_reset == 0:  u = r * h (0 on finished rows), quantized per step over the batch
//                                rows like h;  hh = g(clip(xw_h + dyn(u) R_h))
//     h' = (1 - z) hh + z h
//   Attributes, sequence_lens and outputs Y, Y_h as GRU. Inference only (no backward).
//
// Reference: gru_dynamic_int8_ref (gru_int8.cpp), plain loops. Fast (gru_int8_fast.cpp): W and R
// packed once for gemm_int8, the input projection of all time steps as one GEMM, one GEMM per step
// for h R_zr^T (and one for u R_h^T, or one for all of h R^T with linear_before_reset), GRU's
// vectorized gate steps; equal to the reference up to those steps' f32 rounding.
#pragma once
#include <memory>
#include <span>

#include "kernels/op_def.h"
#include "kernels/ops/rnn/rnn_common.h"
#include "kernels/ops/rnn/rnn_int8.h"

namespace edgeopt::kernels::ops::gru_dynamic_int8 {

inline constexpr size_t kWScale = 6, kRScale = 7;  // input indices of W_scale and R_scale

struct GruInt8Inputs {
  recurrent::RnnConfig cfg;
  bool lbr = false;  // linear_before_reset
  recurrent::Int8Weights q;
};

// Validates every input (GRU's rules with W and R as i8, and the scales); throws InvalidArgument
// naming the input.
GruInt8Inputs read_gru_int8_inputs(const Node& node, std::span<const Tensor> in);

void gru_dynamic_int8_fast(ForwardCtx& ctx);                                   // gru_int8_fast.cpp
std::shared_ptr<const OpState> gru_dynamic_int8_prepare(const PrepareCtx& ctx);  // gru_int8_fast.cpp

}  // namespace edgeopt::kernels::ops::gru_dynamic_int8

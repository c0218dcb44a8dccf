// LSTMDynamicInt8 (edgeopt-internal, made by runtime/passes fuse_dq_recurrent from
// DequantizeLinear(int8 W), DequantizeLinear(int8 R) -> LSTM; never exported): an LSTM whose W and
// R stay int8 codes and whose gate products run in integers on activations quantized per call to
// u8, what ONNX Runtime's DynamicQuantizeLSTM does.
//
//   inputs  X, W (i8 [dirs, 4H, I]), R (i8 [dirs, 4H, H]), B, sequence_lens, initial_h, initial_c, P
//           as LSTM, then W_scale and R_scale: f32, one value or one per gate row ([4H], shared by
//           the directions: DequantizeLinear's axis 1); the weights' zero points are 0.
//   X is quantized once (all time steps and batch rows: one dynamic u8 range, quant/dynamic_quant.h),
//   h before every step (all batch rows of the direction together), then with exact s32 sums
//     xw[k] = s_x s_W[k] (sum_i qx_i W[k, i] - zp_x sum_i W[k, i]) + Wb[k] + Rb[k]
//     hr[k] = s_h s_R[k] (sum_j qh_j R[k, j] - zp_h sum_j R[k, j])
//   and gates = xw + hr go through LSTM's own cell (lstm_cell.h): same attributes (direction,
//   layout, clip, activations, input_forget), peepholes, sequence_lens and outputs Y, Y_h, Y_c.
// Against LSTM on the dequantized weights the difference is the activations' rounding, at most
// half a step (s_x / 2, s_h / 2) per input value. Inference only (no backward).
//
// The dynamic products are rnn_int8.h's. Reference: lstm_dynamic_int8_ref (lstm_int8.cpp), plain loops. Fast (lstm_int8_fast.cpp): W and R
// packed once for gemm_int8 (u8 activations x s8 codes, AVX512-VNNI / AVX2 / NEON / scalar), the
// input projection of all time steps as one GEMM, one GEMM per step for h R^T, and LSTM's
// vectorized cell; it equals the reference up to f32 rounding of the cell's activations.
#pragma once
#include <memory>
#include <span>

#include "kernels/op_def.h"
#include "kernels/ops/rnn/rnn_common.h"
#include "kernels/ops/rnn/rnn_int8.h"

namespace edgeopt::kernels::ops::lstm_dynamic_int8 {

inline constexpr size_t kWScale = 8, kRScale = 9;  // input indices of W_scale and R_scale

struct LstmInt8Inputs {
  recurrent::RnnConfig cfg;
  bool input_forget = false;
  recurrent::Int8Weights q;
};

// Validates every input (LSTM's rules with W and R as i8, and the scales: f32, 1 or 4H values,
// finite and > 0); throws InvalidArgument naming the input.
LstmInt8Inputs read_lstm_int8_inputs(const Node& node, std::span<const Tensor> in);

void lstm_dynamic_int8_fast(ForwardCtx& ctx);                                   // lstm_int8_fast.cpp
std::shared_ptr<const OpState> lstm_dynamic_int8_prepare(const PrepareCtx& ctx);  // lstm_int8_fast.cpp

}  // namespace edgeopt::kernels::ops::lstm_dynamic_int8

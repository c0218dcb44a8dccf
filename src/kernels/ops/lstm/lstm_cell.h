// What the LSTM folder's ops share (internal): LSTM (lstm.cpp, lstm_fast.cpp) and its int8-weight
// form LSTMDynamicInt8 (lstm_int8.cpp, lstm_int8_fast.cpp) differ only in how the gate
// pre-activations are computed; the attributes, the cell update and the fast step are the same code.
#pragma once
#include <cstdint>
#include <span>

#include "kernels/ops/rnn/rnn_common.h"

namespace edgeopt::kernels::ops::lstm {

inline constexpr int64_t kGates = 4;  // [i, o, f, c] in W, R and B

// read_rnn_config for LSTM (W and R of dtype `weights`) plus the input_forget check.
recurrent::RnnConfig lstm_config(const Node& node, std::span<const Tensor> in, DType weights = DType::kF32);

// One step of one batch row, the reference way: `gates` holds the pre-activations [i, o, f, c]
// (x W^T + h R^T + Wb + Rb, 4H values); applies the peepholes p ([i, o, f] x H, or null), clip and
// direction d's activations, updates c and h ([H]) in place and leaves the post-activation gates in
// `gates` (what the backward saves).
void lstm_cell_f32_ref(const recurrent::RnnConfig& cfg, int64_t d, bool input_forget, const float* p, float* gates,
                       float* c, float* h);

// The fast cell for the default activations (no peepholes, clip or input_forget), Highway-dispatched
// (lstm_fast.cpp): B rows, xw row b at xw + b * xs and a row b at a + b * 4H hold the two halves of
// the pre-activations (gates = xw + a); c and h are [B, hs] rows updated in place. Every buffer needs
// one vector (64 floats) of slack after its last row's elements.
void lstm_step_f32(const float* xw, int64_t xs, const float* a, float* c, float* h, int64_t B, int64_t H, int64_t hs);

// h and c rows (row stride hs) of every batch row of direction d set to initial_h / initial_c
// (inputs 5 and 6), or zeros where absent.
void lstm_init_state(const recurrent::RnnConfig& cfg, std::span<const Tensor> in, int64_t d, int64_t hs, float* h,
                     float* c);

// The outputs Y, Y_h, Y_c of one forward. Y (zeros: the padding past sequence_lens) only with_y.
struct LstmOutputs {
  Tensor y, y_h, y_c;
  LstmOutputs(const recurrent::RnnConfig& cfg, bool with_y);
  // Y_h / Y_c of direction d from the final h and c rows (row stride hs) of every batch row.
  void store_state(const recurrent::RnnConfig& cfg, int64_t d, int64_t hs, const float* h, const float* c);
  // Into ctx.out, for every output the node names.
  void publish(ForwardCtx& ctx) const;
};

}  // namespace edgeopt::kernels::ops::lstm

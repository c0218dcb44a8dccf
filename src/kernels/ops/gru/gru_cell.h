// What the GRU folder's ops share (internal): GRU (gru.cpp, gru_fast.cpp) and its int8-weight form
// GRUDynamicInt8 (gru_int8.cpp, gru_int8_fast.cpp): the attributes and the fast gate steps.
#pragma once
#include <cstdint>
#include <span>

#include "kernels/ops/rnn/rnn_common.h"

namespace edgeopt::kernels::ops::gru {

inline constexpr int64_t kGates = 3;  // [z, r, h] in W, R and B

// read_rnn_config for GRU with W and R of dtype `weights`.
recurrent::RnnConfig gru_config(const Node& node, std::span<const Tensor> in, DType weights = DType::kF32);

// The fast gate steps for the default activations (Sigmoid, Tanh), Highway-dispatched
// (gru_fast.cpp), over B rows; xw rows at stride xs, a rows at stride as, z/u/h rows at stride hs,
// every buffer with one vector (64 floats) of slack after its last row.
// z and u: z = sigmoid(xw_z + a_z), r = sigmoid(xw_r + a_r), u = lbr ? r : r * h.
void gru_zr_step_f32(const float* xw, int64_t xs, const float* a, int64_t as, const float* h, float* z, float* u,
                     int64_t B, int64_t H, int64_t hs, bool lbr);
// hh = tanh(xw_h + (lbr ? u * a_h : a_h)), h = (1 - z) hh + z h (as hh + z (h - hh)).
void gru_h_step_f32(const float* xw_h, int64_t xs, const float* a_h, int64_t as, const float* z, const float* u,
                    float* h, int64_t B, int64_t H, int64_t hs, bool lbr);

}  // namespace edgeopt::kernels::ops::gru

// What RNN, GRU and LSTM share: attribute parsing (direction, layout, hidden_size, clip,
// activations with activation_alpha/beta), input validation and the layout-aware offsets.
//
//   RnnConfig cfg = read_rnn_config(node, in, /*gates=*/4, "LSTM");   // throws on bad input
//   for (int64_t d = 0; d < cfg.dirs; ++d)
//     for (int64_t b = 0; b < cfg.batch; ++b)
//       for (int64_t s = 0; s < cfg.lens[b]; ++s) { int64_t t = cfg.time_of(s, b, d); ... cfg.x_off(t, b) ... }
//
// Layouts (opset 14 `layout`): 0 = X [seq, batch, input], Y [seq, dirs, batch, H],
// Y_h/Y_c/initial_h/initial_c [dirs, batch, H]; 1 = X [batch, seq, input], Y [batch, seq, dirs, H],
// Y_h/... [batch, dirs, H]. Weights are always W [dirs, G*H, input], R [dirs, G*H, H],
// B [dirs, 2*G*H] (Wb then Rb), for G gates.
// A step index s counts in processing order: direction d processes time t = s (forward) or
// t = lens[b]-1-s (reverse), for s < lens[b] (sequence_lens; the full sequence when absent).
#pragma once
#include <span>
#include <string>
#include <vector>

#include "kernels/op_def.h"

namespace edgeopt::kernels::recurrent {

// The ONNX RNN activation functions (case-insensitive names; alpha/beta defaults as the
// corresponding ONNX ops).
struct Activation {
  enum class Kind { kRelu, kTanh, kSigmoid, kAffine, kLeakyRelu, kThresholdedRelu, kScaledTanh, kHardSigmoid,
                    kElu, kSoftsign, kSoftplus };
  Kind kind = Kind::kTanh;
  float alpha = 0.f, beta = 0.f;
  float operator()(float x) const;
};

struct RnnConfig {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1;
  int64_t layout = 0;
  bool reverse_only = false;  // direction == "reverse"
  float clip = 0.f;           // 0: no clipping; else gate pre-activations are clamped to [-clip, clip]
  std::vector<int64_t> lens;  // per batch entry, in [0, seq]
  // activations[d * per_dir + k]: the k-th activation (f, g, h order) of direction d.
  std::vector<Activation> activations;
  size_t per_dir = 0;

  bool is_reverse(int64_t d) const { return reverse_only || d == 1; }
  int64_t time_of(int64_t s, int64_t b, int64_t d) const { return is_reverse(d) ? lens[b] - 1 - s : s; }
  const Activation& act(int64_t d, size_t k) const { return activations[static_cast<size_t>(d) * per_dir + k]; }
  // Flat element offsets of the first element of a row of X, Y and the [dirs,batch,H] states.
  int64_t x_off(int64_t t, int64_t b) const { return (layout == 0 ? t * batch + b : b * seq + t) * input; }
  int64_t y_off(int64_t t, int64_t d, int64_t b) const {
    return (layout == 0 ? (t * dirs + d) * batch + b : (b * seq + t) * dirs + d) * hidden;
  }
  int64_t state_off(int64_t d, int64_t b) const { return (layout == 0 ? d * batch + b : b * dirs + d) * hidden; }
  Shape y_shape() const { return layout == 0 ? Shape{seq, dirs, batch, hidden} : Shape{batch, seq, dirs, hidden}; }
  Shape state_shape() const { return layout == 0 ? Shape{dirs, batch, hidden} : Shape{batch, dirs, hidden}; }
  float clipped(float v) const { return clip > 0.f ? (v < -clip ? -clip : (v > clip ? clip : v)) : v; }
};

// Validates inputs X (0), W (1), R (2), B (3), sequence_lens (4), initial_h (5) and, for LSTM,
// initial_c (6) and P (7) of an op with `gates` gates whose default activations are
// `default_acts` (one direction's list). Throws InvalidArgument with the rule and the values.
// `weights` is the dtype W and R must have: f32, or i8 for the int8-weight LSTM (its codes).
RnnConfig read_rnn_config(const Node& node, std::span<const Tensor> in, int64_t gates,
                          const std::vector<std::string>& default_acts, DType weights = DType::kF32);

// True when direction d uses exactly the given activation kinds with no alpha/beta effect
// (the backward supports only the default activations).
bool activations_are(const RnnConfig& cfg, std::initializer_list<Activation::Kind> kinds);

// Multiply-accumulates of an RNN/GRU/LSTM node: the gate products, per step and direction
// gates*H*(input + H), for W and R of any dtype (the MacsFn of those ops and their int8 forms).
int64_t gate_product_macs(const Node& node, std::span<const Shape> in, std::span<const Shape> out);

// Input i when present (defined), else nullptr.
inline const Tensor* optional_input(std::span<const Tensor> in, size_t i) {
  return i < in.size() && in[i].defined() ? &in[i] : nullptr;
}

// dot(a, b) over n floats, accumulated in f32 in index order (the reference's summation order).
inline float dot_f32(const float* a, const float* b, int64_t n) {
  float s = 0.f;
  for (int64_t k = 0; k < n; ++k) s += a[k] * b[k];
  return s;
}

}  // namespace edgeopt::kernels::recurrent

// LSTMDynamicInt8 fast forward (contract and math in lstm_int8.h). Per direction:
//   XW[T*B, 4H] = dyn(X) W^T + (Wb + Rb)     one gemm_int8 over all time steps
//   per step:   A[B, 4H] = dyn(h) R^T;  LSTM's vectorized cell on XW_t + A
// (dyn: rnn_int8.h's dynamically quantized product). W^T and R^T are packed once (prepare) as
// gemm_int8's signed right operand with each gate row's code sum. The s32 sums are exact on every
// ISA and the scale-back is the reference's expression, so this equals the reference up to the
// cell's vectorized activations (Highway Exp/Tanh). Peepholes, clip, input_forget, other
// activations and training go to the reference.
#include <vector>

#include "kernels/common.h"
#include "kernels/ops/lstm/lstm_cell.h"
#include "kernels/ops/lstm/lstm_int8.h"

namespace edgeopt::kernels::ops::lstm_dynamic_int8 {

extern const OpDef kOpDef;  // lstm_int8.cpp: the reference forward for the cases not handled here

namespace {

using recurrent::Activation;
using recurrent::RnnConfig;

constexpr int64_t kSlack = 64;  // floats after each f32 buffer's last row: one vector of any target

struct PackedDirection {
  recurrent::PackedInt8Rows w, r;  // W [4H, I], R [4H, H]
  std::vector<float> bias;         // Wb + Rb [4H]; zeros without B
};

struct LstmInt8State final : OpState {
  recurrent::Int8WeightsKey key;
  std::vector<PackedDirection> dirs;
};

// W [dirs, G, I], R [dirs, G, H] (i8) and B [dirs, 2G] or absent, shapes already consistent.
std::shared_ptr<LstmInt8State> pack_weights(std::span<const Tensor> in) {
  const Tensor &w = in[1], &r = in[2];
  const Tensor* b = recurrent::optional_input(in, 3);
  auto st = std::make_shared<LstmInt8State>();
  st->key = recurrent::Int8WeightsKey::of(in);
  const int64_t dirs = w.shape()[0], G = w.shape()[1], I = w.shape()[2], H = r.shape()[2];
  for (int64_t d = 0; d < dirs; ++d) {
    PackedDirection p{recurrent::pack_int8_rows(w.data<int8_t>() + d * G * I, G, I),
                      recurrent::pack_int8_rows(r.data<int8_t>() + d * G * H, G, H),
                      std::vector<float>(static_cast<size_t>(G), 0.f)};
    if (b) {
      const float* bd = b->data<float>() + d * 2 * G;
      for (int64_t k = 0; k < G; ++k) p.bias[k] = bd[k] + bd[G + k];
    }
    st->dirs.push_back(std::move(p));
  }
  return st;
}

bool fast_path_ok(const ForwardCtx& ctx, const LstmInt8Inputs& args) {
  const RnnConfig& cfg = args.cfg;
  if (ctx.training || recurrent::optional_input(ctx.in, 7) || cfg.clip != 0.f || args.input_forget) return false;
  if (!recurrent::activations_are(cfg, {Activation::Kind::kSigmoid, Activation::Kind::kTanh, Activation::Kind::kTanh}))
    return false;
  return cfg.seq > 0 && cfg.batch > 0 && cfg.input > 0;
}

}  // namespace

std::shared_ptr<const OpState> lstm_dynamic_int8_prepare(const PrepareCtx& ctx) {
  return recurrent::int8_weights_constant(ctx, lstm::kGates) ? pack_weights(ctx.in) : nullptr;
}

void lstm_dynamic_int8_fast(ForwardCtx& ctx) {
  const LstmInt8Inputs args = read_lstm_int8_inputs(ctx.node, ctx.in);
  if (!fast_path_ok(ctx, args)) return kOpDef.forward(ctx);
  const RnnConfig& cfg = args.cfg;
  const recurrent::Int8Weights& q = args.q;
  const auto* st = dynamic_cast<const LstmInt8State*>(ctx.state);
  std::shared_ptr<LstmInt8State> local;
  if (!st || !(st->key == recurrent::Int8WeightsKey::of(ctx.in))) {
    local = pack_weights(ctx.in);
    st = local.get();
  }
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, B = cfg.batch, G = lstm::kGates * H;
  const int64_t hs = H + kSlack;  // h and c row stride
  const float* x = ctx.in[0].data<float>();
  const bool want_y = !ctx.node.outputs.empty() && !ctx.node.outputs[0].empty();
  lstm::LstmOutputs out(cfg, want_y);  // Y zeros past sequence_lens

  recurrent::DynamicInt8Scratch scratch;
  std::vector<float> xw(static_cast<size_t>(S * B * G + kSlack)), a(static_cast<size_t>(B * G + kSlack));
  std::vector<float> h(static_cast<size_t>(B * hs), 0.f), c(static_cast<size_t>(B * hs), 0.f);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const PackedDirection& pd = st->dirs[static_cast<size_t>(d)];
    // Rows of X (and so of XW) are (t, b) in layout 0 and (b, t) in layout 1.
    recurrent::gemm_dynamic_int8(x, S * B, I, pd.w, q.w_scale, q.w_per_row, pd.bias.data(), xw.data(), G, scratch);
    lstm::lstm_init_state(cfg, ctx.in, d, hs, h.data(), c.data());
    for (int64_t s = 0; s < S; ++s) {
      // h of every batch row (finished ones included) shares one range per step, as in the reference.
      recurrent::gemm_dynamic_int8(h.data(), B, hs, pd.r, q.r_scale, q.r_per_row, nullptr, a.data(), G, scratch);
      for (int64_t b = 0; b < B; ++b) {
        if (s >= cfg.lens[b]) continue;  // finished: its state stays the last valid one
        const int64_t t = cfg.time_of(s, b, d);
        lstm::lstm_step_f32(xw.data() + cfg.x_off(t, b) / I * G, G, a.data() + b * G, c.data() + b * hs,
                            h.data() + b * hs, 1, H, hs);
        if (want_y) std::copy_n(h.data() + b * hs, H, out.y.data<float>() + cfg.y_off(t, d, b));
      }
    }
    out.store_state(cfg, d, hs, h.data(), c.data());
  }
  out.publish(ctx);
}

}  // namespace edgeopt::kernels::ops::lstm_dynamic_int8

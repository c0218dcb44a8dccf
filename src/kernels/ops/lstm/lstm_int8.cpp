// LSTMDynamicInt8: validation and the reference forward (the contract is in lstm_int8.h).
#include "kernels/ops/lstm/lstm_int8.h"

#include <vector>

#include "kernels/common.h"
#include "kernels/ops/lstm/lstm_cell.h"
#include "kernels/quant/dynamic_quant.h"

namespace edgeopt::kernels::ops::lstm_dynamic_int8 {
using recurrent::RnnConfig;

LstmInt8Inputs read_lstm_int8_inputs(const Node& node, std::span<const Tensor> in) {
  LstmInt8Inputs q;
  q.cfg = lstm::lstm_config(node, in, DType::kI8);
  q.input_forget = node.attr_int("input_forget", 0) != 0;
  q.q = recurrent::read_int8_weights(in, kWScale, kRScale, lstm::kGates * q.cfg.hidden);
  return q;
}

namespace {

// The oracle: per direction, step and batch row, the two integer dot products of every gate row,
// scaled back and summed in the order the fast kernel does ((xw + bias) + hr), then LSTM's cell.
void lstm_dynamic_int8_ref(ForwardCtx& ctx) {
  const LstmInt8Inputs args = read_lstm_int8_inputs(ctx.node, ctx.in);
  const RnnConfig& cfg = args.cfg;
  const recurrent::Int8Weights& q = args.q;
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, B = cfg.batch, G = lstm::kGates * H;
  const float* x = ctx.in[0].data<float>();
  const Tensor* b_in = recurrent::optional_input(ctx.in, 3);
  const Tensor* p_in = recurrent::optional_input(ctx.in, 7);
  lstm::LstmOutputs out(cfg, true);

  // X's codes, all rows at once (one range for the whole tensor).
  std::vector<int32_t> qx(static_cast<size_t>(S * B * I));
  const quant::DynamicQ8Params px = recurrent::quantize_block_u8(x, S * B, I, qx.data());

  std::vector<float> h(B * H), c(B * H), gates(G);
  std::vector<int32_t> qh(B * H);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const int8_t* w = q.w + d * G * I;
    const int8_t* r = q.r + d * G * H;
    const float* bias = b_in ? b_in->data<float>() + d * 2 * G : nullptr;
    const float* p = p_in ? p_in->data<float>() + d * 3 * H : nullptr;
    lstm::lstm_init_state(cfg, ctx.in, d, H, h.data(), c.data());
    for (int64_t s = 0; s < S; ++s) {
      // h of every batch row (finished ones included) shares one range per step.
      const quant::DynamicQ8Params ph = recurrent::quantize_block_u8(h.data(), B, H, qh.data());
      for (int64_t b = 0; b < B; ++b) {
        if (s >= cfg.lens[b]) continue;
        const int64_t t = cfg.time_of(s, b, d);
        const int32_t* xq = qx.data() + cfg.x_off(t, b);
        const int32_t* hq = qh.data() + b * H;
        for (int64_t k = 0; k < G; ++k) {
          float xw = recurrent::dequantized_dot(xq, w + k * I, I, px, q.w_scale_of(k));
          if (bias) xw += bias[k] + bias[G + k];
          gates[k] = xw + recurrent::dequantized_dot(hq, r + k * H, H, ph, q.r_scale_of(k));
        }
        lstm::lstm_cell_f32_ref(cfg, d, args.input_forget, p, gates.data(), c.data() + b * H, h.data() + b * H);
        std::copy_n(h.data() + b * H, H, out.y.data<float>() + cfg.y_off(t, d, b));
      }
    }
    out.store_state(cfg, d, H, h.data(), c.data());
  }
  out.publish(ctx);
}

}  // namespace

extern const OpDef kOpDef{.name = "LSTMDynamicInt8", .min_opset = 7, .max_opset = 18,
                          .forward = lstm_dynamic_int8_ref, .macs = recurrent::gate_product_macs,
                          .forward_fast = lstm_dynamic_int8_fast, .prepare = lstm_dynamic_int8_prepare};

}  // namespace edgeopt::kernels::ops::lstm_dynamic_int8

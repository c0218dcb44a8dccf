// LSTMDynamicInt8: validation and the reference forward (the contract is in lstm_int8.h).
#include "kernels/ops/lstm/lstm_int8.h"

#include <cmath>
#include <string>
#include <vector>

#include "kernels/common.h"
#include "kernels/ops/lstm/lstm_cell.h"
#include "kernels/quant/dynamic_quant.h"

namespace edgeopt::kernels::ops::lstm_dynamic_int8 {
namespace {

using recurrent::RnnConfig;

// A weight scale: f32 with 1 or `rows` values, each finite and > 0. Returns whether it is per row.
bool read_scale(std::span<const Tensor> in, size_t i, const char* name, int64_t rows) {
  EDGEOPT_CHECK_ARG(i < in.size() && in[i].defined(), std::string("input ") + name + " (input " +
                                                          std::to_string(i) + ") is required");
  const Tensor& s = in[i];
  EDGEOPT_CHECK_ARG(s.dtype() == DType::kF32, std::string("input ") + name + " is " + s.describe() + "; it must be f32");
  EDGEOPT_CHECK_ARG(s.numel() == 1 || (s.rank() == 1 && s.numel() == rows),
                    std::string("input ") + name + " has shape " + s.shape().str() +
                        "; it must hold 1 value or one per gate row ([" + std::to_string(rows) + "] = 4*hidden_size)");
  const float* p = s.data<float>();
  for (int64_t k = 0; k < s.numel(); ++k)
    EDGEOPT_CHECK_ARG(std::isfinite(p[k]) && p[k] > 0.f, std::string("input ") + name + "[" + std::to_string(k) +
                                                              "] = " + std::to_string(p[k]) +
                                                              "; scales must be finite and > 0");
  return s.numel() != 1;
}

}  // namespace

LstmInt8Inputs read_lstm_int8_inputs(const Node& node, std::span<const Tensor> in) {
  LstmInt8Inputs q;
  q.cfg = lstm::lstm_config(node, in, DType::kI8);
  q.input_forget = node.attr_int("input_forget", 0) != 0;
  const int64_t G = lstm::kGates * q.cfg.hidden;
  q.w_per_row = read_scale(in, kWScale, "W_scale", G);
  q.r_per_row = read_scale(in, kRScale, "R_scale", G);
  q.w = in[1].data<int8_t>();
  q.r = in[2].data<int8_t>();
  q.w_scale = in[kWScale].data<float>();
  q.r_scale = in[kRScale].data<float>();
  return q;
}

namespace {

// The oracle: per direction, step and batch row, the two integer dot products of every gate row,
// scaled back and summed in the order the fast kernel does ((xw + bias) + hr), then LSTM's cell.
void lstm_dynamic_int8_ref(ForwardCtx& ctx) {
  const LstmInt8Inputs q = read_lstm_int8_inputs(ctx.node, ctx.in);
  const RnnConfig& cfg = q.cfg;
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, B = cfg.batch, G = lstm::kGates * H;
  const float* x = ctx.in[0].data<float>();
  const Tensor* b_in = recurrent::optional_input(ctx.in, 3);
  const Tensor* p_in = recurrent::optional_input(ctx.in, 7);
  lstm::LstmOutputs out(cfg, true);

  // X's codes, all rows at once (one range for the whole tensor).
  const quant::DynamicQ8Params px = quant::dynamic_u8_params(x, S * B, I, I);
  std::vector<int32_t> qx(static_cast<size_t>(S * B * I));
  for (size_t i = 0; i < qx.size(); ++i) qx[i] = quant::quantize_f32(x[i], px.scale, px.zero_point, 0, 255);

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
      const quant::DynamicQ8Params ph = quant::dynamic_u8_params(h.data(), B, H, H);
      for (size_t i = 0; i < qh.size(); ++i) qh[i] = quant::quantize_f32(h[i], ph.scale, ph.zero_point, 0, 255);
      for (int64_t b = 0; b < B; ++b) {
        if (s >= cfg.lens[b]) continue;
        const int64_t t = cfg.time_of(s, b, d);
        const int32_t* xq = qx.data() + cfg.x_off(t, b);
        const int32_t* hq = qh.data() + b * H;
        for (int64_t k = 0; k < G; ++k) {
          int32_t ax = 0, sum_w = 0, ah = 0, sum_r = 0;
          for (int64_t i = 0; i < I; ++i) {
            ax += xq[i] * w[k * I + i];
            sum_w += w[k * I + i];
          }
          for (int64_t j = 0; j < H; ++j) {
            ah += hq[j] * r[k * H + j];
            sum_r += r[k * H + j];
          }
          float xw = static_cast<float>(ax - px.zero_point * sum_w) * (px.scale * q.w_scale_of(k));
          if (bias) xw += bias[k] + bias[G + k];
          gates[k] = xw + static_cast<float>(ah - ph.zero_point * sum_r) * (ph.scale * q.r_scale_of(k));
        }
        lstm::lstm_cell_f32_ref(cfg, d, q.input_forget, p, gates.data(), c.data() + b * H, h.data() + b * H);
        std::copy_n(h.data() + b * H, H, out.y.data<float>() + cfg.y_off(t, d, b));
      }
    }
    out.store_state(cfg, d, H, h.data(), c.data());
  }
  out.publish(ctx);
}

}  // namespace

extern const OpDef kOpDef{.name = "LSTMDynamicInt8", .min_opset = 7, .max_opset = 18,
                          .forward = lstm_dynamic_int8_ref, .macs = lstm::lstm_macs,
                          .forward_fast = lstm_dynamic_int8_fast, .prepare = lstm_dynamic_int8_prepare};

}  // namespace edgeopt::kernels::ops::lstm_dynamic_int8

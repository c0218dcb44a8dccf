// LSTM, one layer. ONNX: https://onnx.ai/onnx/operators/onnx__LSTM.html (opsets 7-14+; opset 14
// added `layout`). Gate order [i, o, f, c] in W, R, B and [i, o, f] in P. Per step, with
// f, g, h the activations (default Sigmoid, Tanh, Tanh) and clip() bounding pre-activations:
//   i  = f(clip(x W_i^T + h R_i^T + Wb_i + Rb_i + P_i * c))
//   fg = f(clip(x W_f^T + h R_f^T + Wb_f + Rb_f + P_f * c))     (1 - i when input_forget)
//   gc = g(clip(x W_c^T + h R_c^T + Wb_c + Rb_c))
//   c' = fg * c + i * gc
//   o  = f(clip(x W_o^T + h R_o^T + Wb_o + Rb_o + P_o * c'))
//   h' = o * h(c')
// Inputs X, W, R, B, sequence_lens, initial_h, initial_c, P; outputs Y, Y_h, Y_c (any subset).
// Batch entries with sequence_lens[b] < seq stop early: Y is 0 past the end, Y_h/Y_c hold the last
// valid state (the initial state when the length is 0). Layouts and offsets: rnn_common.h.
//
// Backward (BPTT) for the default activations without peepholes, clip or input_forget, any
// direction, layout and sequence_lens. Training-mode forward saves, per direction and batch entry,
// the post-activation gates [i, o, f, gc] per step and the cell/hidden states before each step.
#include <cmath>

#include "kernels/common.h"
#include "kernels/ops/lstm/lstm_cell.h"

namespace edgeopt::kernels::ops::lstm {

using recurrent::Activation;
using recurrent::RnnConfig;

namespace {
enum Gate : int64_t { kI = 0, kO = 1, kF = 2, kC = 3 };
}  // namespace

RnnConfig lstm_config(const Node& node, std::span<const Tensor> in, DType weights) {
  RnnConfig cfg = recurrent::read_rnn_config(node, in, kGates, {"Sigmoid", "Tanh", "Tanh"}, weights);
  const int64_t input_forget = node.attr_int("input_forget", 0);
  EDGEOPT_CHECK_ARG(input_forget == 0 || input_forget == 1,
                    "input_forget=" + std::to_string(input_forget) + "; it must be 0 or 1");
  return cfg;
}

void lstm_cell_f32_ref(const RnnConfig& cfg, int64_t d, bool input_forget, const float* p, float* gates, float* c,
                       float* h) {
  const int64_t H = cfg.hidden;
  const Activation &act_f = cfg.act(d, 0), &act_g = cfg.act(d, 1), &act_h = cfg.act(d, 2);
  for (int64_t j = 0; j < H; ++j) {
    float ai = gates[kI * H + j], af = gates[kF * H + j], ac = gates[kC * H + j];
    if (p) {
      ai += p[j] * c[j];  // P is [i, o, f]
      af += p[2 * H + j] * c[j];
    }
    const float gi = act_f(cfg.clipped(ai));
    const float gf = input_forget ? 1.f - gi : act_f(cfg.clipped(af));
    const float gc = act_g(cfg.clipped(ac));
    c[j] = gf * c[j] + gi * gc;
    float ao = gates[kO * H + j];
    if (p) ao += p[H + j] * c[j];
    const float go = act_f(cfg.clipped(ao));
    h[j] = go * act_h(c[j]);
    gates[kI * H + j] = gi;
    gates[kF * H + j] = gf;
    gates[kC * H + j] = gc;
    gates[kO * H + j] = go;
  }
}

void lstm_init_state(const RnnConfig& cfg, std::span<const Tensor> in, int64_t d, int64_t hs, float* h, float* c) {
  const Tensor* h0 = recurrent::optional_input(in, 5);
  const Tensor* c0 = recurrent::optional_input(in, 6);
  for (int64_t b = 0; b < cfg.batch; ++b) {
    const int64_t so = cfg.state_off(d, b);
    for (int64_t j = 0; j < cfg.hidden; ++j) {
      h[b * hs + j] = h0 ? h0->data<float>()[so + j] : 0.f;
      c[b * hs + j] = c0 ? c0->data<float>()[so + j] : 0.f;
    }
  }
}

LstmOutputs::LstmOutputs(const RnnConfig& cfg, bool with_y)
    : y(with_y ? Tensor::zeros(DType::kF32, cfg.y_shape()) : Tensor()),
      y_h(DType::kF32, cfg.state_shape()),
      y_c(DType::kF32, cfg.state_shape()) {}

void LstmOutputs::store_state(const RnnConfig& cfg, int64_t d, int64_t hs, const float* h, const float* c) {
  for (int64_t b = 0; b < cfg.batch; ++b) {
    const int64_t so = cfg.state_off(d, b);
    std::copy_n(h + b * hs, cfg.hidden, y_h.data<float>() + so);
    std::copy_n(c + b * hs, cfg.hidden, y_c.data<float>() + so);
  }
}

void LstmOutputs::publish(ForwardCtx& ctx) const {
  auto named = [&](size_t i) { return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty(); };
  if (ctx.out.size() < ctx.node.outputs.size()) ctx.out.resize(ctx.node.outputs.size());
  if (named(0)) ctx.out[0] = y;
  if (named(1)) ctx.out[1] = y_h;
  if (named(2)) ctx.out[2] = y_c;
}

namespace {

void lstm_f32_ref(ForwardCtx& ctx) {
  const RnnConfig cfg = lstm_config(ctx.node, ctx.in);
  const bool input_forget = ctx.node.attr_int("input_forget", 0) != 0;
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, G = kGates * H;
  const float* x = ctx.in[0].data<float>();
  const float* w_all = ctx.in[1].data<float>();
  const float* r_all = ctx.in[2].data<float>();
  const Tensor* b_in = recurrent::optional_input(ctx.in, 3);
  const Tensor* h0_in = recurrent::optional_input(ctx.in, 5);
  const Tensor* c0_in = recurrent::optional_input(ctx.in, 6);
  const Tensor* p_in = recurrent::optional_input(ctx.in, 7);

  LstmOutputs out(cfg, true);
  Tensor &y = out.y, &y_h = out.y_h, &y_c = out.y_c;
  Tensor saved_gates, saved_c, saved_h;
  if (ctx.training && ctx.saved) {
    saved_gates = Tensor::zeros(DType::kF32, {cfg.dirs, cfg.batch, S, G});
    saved_c = Tensor::zeros(DType::kF32, {cfg.dirs, cfg.batch, S + 1, H});
    saved_h = Tensor::zeros(DType::kF32, {cfg.dirs, cfg.batch, S + 1, H});
  }

  std::vector<float> h(H), c(H), gates(G);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const float* w = w_all + d * G * I;
    const float* r = r_all + d * G * H;
    const float* wb = b_in ? b_in->data<float>() + d * 2 * G : nullptr;
    const float* p = p_in ? p_in->data<float>() + d * 3 * H : nullptr;
    for (int64_t b = 0; b < cfg.batch; ++b) {
      const int64_t so = cfg.state_off(d, b);
      for (int64_t j = 0; j < H; ++j) {
        h[j] = h0_in ? h0_in->data<float>()[so + j] : 0.f;
        c[j] = c0_in ? c0_in->data<float>()[so + j] : 0.f;
      }
      for (int64_t s = 0; s < cfg.lens[b]; ++s) {
        const int64_t t = cfg.time_of(s, b, d);
        const float* xt = x + cfg.x_off(t, b);
        if (saved_c.defined()) {
          std::copy(c.begin(), c.end(), saved_c.data<float>() + ((d * cfg.batch + b) * (S + 1) + s) * H);
          std::copy(h.begin(), h.end(), saved_h.data<float>() + ((d * cfg.batch + b) * (S + 1) + s) * H);
        }
        for (int64_t k = 0; k < G; ++k) {
          gates[k] = recurrent::dot_f32(xt, w + k * I, I) + recurrent::dot_f32(h.data(), r + k * H, H);
          if (wb) gates[k] += wb[k] + wb[G + k];
        }
        lstm_cell_f32_ref(cfg, d, input_forget, p, gates.data(), c.data(), h.data());
        if (saved_gates.defined())
          std::copy(gates.begin(), gates.end(), saved_gates.data<float>() + ((d * cfg.batch + b) * S + s) * G);
        std::copy(h.begin(), h.end(), y.data<float>() + cfg.y_off(t, d, b));
      }
      std::copy(h.begin(), h.end(), y_h.data<float>() + so);
      std::copy(c.begin(), c.end(), y_c.data<float>() + so);
    }
  }
  out.publish(ctx);
  if (saved_gates.defined()) {
    ctx.saved->push_back(saved_gates);
    ctx.saved->push_back(saved_c);
    ctx.saved->push_back(saved_h);
  }
}

// BPTT. Per direction d and batch entry b, walking the steps backwards with dh, dc the gradients of
// the state after the step (seeded from Y_h/Y_c, plus Y's gradient at each step's time):
//   do = dh * tanh(c'),  dc += dh * o * (1 - tanh(c')^2)
//   di = dc * gc, df = dc * c, dgc = dc * i, dc_prev = dc * f
//   da = [di*i(1-i), do*o(1-o), df*f(1-f), dgc*(1-gc^2)]   (pre-activation, gate order iofc)
//   dX_t += da W, dW += da^T x_t, dR += da^T h, dWb = dRb += da, dh_prev = da R
void lstm_f32_grad(BackwardCtx& ctx) {
  const RnnConfig cfg = lstm_config(ctx.node, ctx.in);
  EDGEOPT_CHECK(recurrent::activations_are(cfg, {Activation::Kind::kSigmoid, Activation::Kind::kTanh,
                                           Activation::Kind::kTanh}),
                ErrorCode::kUnimplemented, "LSTM backward supports only the default activations (Sigmoid, Tanh, Tanh)");
  EDGEOPT_CHECK(!recurrent::optional_input(ctx.in, 7), ErrorCode::kUnimplemented,
                "LSTM backward does not support peepholes (input P)");
  EDGEOPT_CHECK(cfg.clip == 0.f, ErrorCode::kUnimplemented, "LSTM backward does not support the clip attribute");
  EDGEOPT_CHECK(ctx.node.attr_int("input_forget", 0) == 0, ErrorCode::kUnimplemented,
                "LSTM backward does not support input_forget=1");
  EDGEOPT_CHECK(ctx.saved.size() >= 3, ErrorCode::kFailedPrecondition,
                "LSTM backward needs the tensors saved by a training-mode forward");
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, G = kGates * H;
  const float* x = ctx.in[0].data<float>();
  const float* w_all = ctx.in[1].data<float>();
  const float* r_all = ctx.in[2].data<float>();
  const float* gates_all = ctx.saved[0].data<float>();
  const float* c_all = ctx.saved[1].data<float>();
  const float* h_all = ctx.saved[2].data<float>();
  auto grad_out = [&](size_t i) -> const float* {
    return i < ctx.grad_out.size() && ctx.grad_out[i].defined() ? ctx.grad_out[i].data<float>() : nullptr;
  };
  const float *dy = grad_out(0), *dy_h = grad_out(1), *dy_c = grad_out(2);

  Tensor dx = Tensor::zeros(DType::kF32, ctx.in[0].shape());
  Tensor dw = Tensor::zeros(DType::kF32, ctx.in[1].shape());
  Tensor dr = Tensor::zeros(DType::kF32, ctx.in[2].shape());
  Tensor db = Tensor::zeros(DType::kF32, {cfg.dirs, 2 * G});
  Tensor dh0 = Tensor::zeros(DType::kF32, cfg.state_shape());
  Tensor dc0 = Tensor::zeros(DType::kF32, cfg.state_shape());
  std::vector<float> dh(H), dc(H), dh_prev(H), da(G);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const float* w = w_all + d * G * I;
    const float* r = r_all + d * G * H;
    float* dwd = dw.data<float>() + d * G * I;
    float* drd = dr.data<float>() + d * G * H;
    float* dbd = db.data<float>() + d * 2 * G;
    for (int64_t b = 0; b < cfg.batch; ++b) {
      const int64_t so = cfg.state_off(d, b);
      for (int64_t j = 0; j < H; ++j) {
        dh[j] = dy_h ? dy_h[so + j] : 0.f;
        dc[j] = dy_c ? dy_c[so + j] : 0.f;
      }
      for (int64_t s = cfg.lens[b] - 1; s >= 0; --s) {
        const int64_t t = cfg.time_of(s, b, d);
        const float* g = gates_all + ((d * cfg.batch + b) * S + s) * G;
        const float* c_prev = c_all + ((d * cfg.batch + b) * (S + 1) + s) * H;
        const float* h_prev = h_all + ((d * cfg.batch + b) * (S + 1) + s) * H;
        const float* xt = x + cfg.x_off(t, b);
        if (dy)
          for (int64_t j = 0; j < H; ++j) dh[j] += dy[cfg.y_off(t, d, b) + j];
        for (int64_t j = 0; j < H; ++j) {
          const float gi = g[kI * H + j], go = g[kO * H + j], gf = g[kF * H + j], gc = g[kC * H + j];
          const float c_new = gf * c_prev[j] + gi * gc;  // recomputed exactly as the forward did
          const float tc = std::tanh(c_new);
          const float d_o = dh[j] * tc;
          dc[j] += dh[j] * go * (1.f - tc * tc);
          da[kI * H + j] = dc[j] * gc * gi * (1.f - gi);
          da[kO * H + j] = d_o * go * (1.f - go);
          da[kF * H + j] = dc[j] * c_prev[j] * gf * (1.f - gf);
          da[kC * H + j] = dc[j] * gi * (1.f - gc * gc);
          dc[j] *= gf;
        }
        float* dxt = dx.data<float>() + cfg.x_off(t, b);
        for (int64_t k = 0; k < G; ++k) {
          const float a = da[k];
          for (int64_t i = 0; i < I; ++i) {
            dxt[i] += a * w[k * I + i];
            dwd[k * I + i] += a * xt[i];
          }
          for (int64_t j = 0; j < H; ++j) drd[k * H + j] += a * h_prev[j];
          dbd[k] += a;
          dbd[G + k] += a;
        }
        for (int64_t j = 0; j < H; ++j) {
          float acc = 0.f;
          for (int64_t k = 0; k < G; ++k) acc += da[k] * r[k * H + j];
          dh_prev[j] = acc;
        }
        dh.swap(dh_prev);
      }
      std::copy(dh.begin(), dh.end(), dh0.data<float>() + so);
      std::copy(dc.begin(), dc.end(), dc0.data<float>() + so);
    }
  }
  ctx.grad_in[0] = dx;
  ctx.grad_in[1] = dw;
  ctx.grad_in[2] = dr;
  if (recurrent::optional_input(ctx.in, 3)) ctx.grad_in[3] = db;
  if (recurrent::optional_input(ctx.in, 5)) ctx.grad_in[5] = dh0;
  if (recurrent::optional_input(ctx.in, 6)) ctx.grad_in[6] = dc0;
}

}  // namespace

void lstm_f32_fast(ForwardCtx& ctx);  // lstm_fast.cpp
std::shared_ptr<const OpState> lstm_f32_prepare(const PrepareCtx& ctx);

extern const OpDef kOpDef{.name = "LSTM", .min_opset = 7, .max_opset = 18, .forward = lstm_f32_ref,
                          .backward = lstm_f32_grad, .macs = recurrent::gate_product_macs,
                          .forward_fast = lstm_f32_fast, .prepare = lstm_f32_prepare};

}  // namespace edgeopt::kernels::ops::lstm

// GRU, one layer. ONNX: https://onnx.ai/onnx/operators/onnx__GRU.html (opsets 7-14+; opset 14 added
// `layout`). Gate order [z, r, h] in W, R and B (B = [Wb_zrh, Rb_zrh]). Per step, with f, g the
// activations (default Sigmoid, Tanh) and clip() bounding pre-activations:
//   z  = f(clip(x W_z^T + h R_z^T + Wb_z + Rb_z))
//   r  = f(clip(x W_r^T + h R_r^T + Wb_r + Rb_r))
//   hh = g(clip(x W_h^T + (r * h) R_h^T + Rb_h + Wb_h))        linear_before_reset = 0
//   hh = g(clip(x W_h^T + r * (h R_h^T + Rb_h) + Wb_h))        linear_before_reset != 0
//   h' = (1 - z) * hh + z * h
// Inputs X, W, R, B, sequence_lens, initial_h; outputs Y, Y_h (any subset). sequence_lens, layouts
// and directions as in LSTM (rnn_common.h): Y is 0 past a sequence's end, Y_h its last valid state.
//
// Backward (BPTT) for the default activations without clip, both linear_before_reset values, any
// direction, layout and sequence_lens. Training-mode forward saves, per direction, batch entry and
// step, [z, r, hh, h R_h^T + Rb_h] and the hidden state before the step.
#include <cmath>

#include "kernels/common.h"
#include "kernels/ops/gru/gru_cell.h"

namespace edgeopt::kernels::ops::gru {

using recurrent::Activation;
using recurrent::RnnConfig;

RnnConfig gru_config(const Node& node, std::span<const Tensor> in, DType weights) {
  return recurrent::read_rnn_config(node, in, kGates, {"Sigmoid", "Tanh"}, weights);
}

namespace {

enum Gate : int64_t { kZ = 0, kR = 1, kH = 2, kLin = 3 };  // kLin: the saved h R_h^T + Rb_h


void gru_f32_ref(ForwardCtx& ctx) {
  const RnnConfig cfg = gru_config(ctx.node, ctx.in);
  const bool lbr = ctx.node.attr_int("linear_before_reset", 0) != 0;
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, G = kGates * H;
  const float* x = ctx.in[0].data<float>();
  const float* w_all = ctx.in[1].data<float>();
  const float* r_all = ctx.in[2].data<float>();
  const Tensor* b_in = recurrent::optional_input(ctx.in, 3);
  const Tensor* h0_in = recurrent::optional_input(ctx.in, 5);

  auto named = [&](size_t i) { return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty(); };
  Tensor y = Tensor::zeros(DType::kF32, cfg.y_shape());  // zeros: the padding past sequence_lens
  Tensor y_h(DType::kF32, cfg.state_shape());
  Tensor saved_gates, saved_h;
  if (ctx.training && ctx.saved) {
    saved_gates = Tensor::zeros(DType::kF32, {cfg.dirs, cfg.batch, S, 4 * H});
    saved_h = Tensor::zeros(DType::kF32, {cfg.dirs, cfg.batch, S + 1, H});
  }

  std::vector<float> h(H), rh(H), gates(4 * H);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const float* w = w_all + d * G * I;
    const float* r = r_all + d * G * H;
    const float* wb = b_in ? b_in->data<float>() + d * 2 * G : nullptr;
    const Activation &act_f = cfg.act(d, 0), &act_g = cfg.act(d, 1);
    for (int64_t b = 0; b < cfg.batch; ++b) {
      const int64_t so = cfg.state_off(d, b);
      for (int64_t j = 0; j < H; ++j) h[j] = h0_in ? h0_in->data<float>()[so + j] : 0.f;
      for (int64_t s = 0; s < cfg.lens[b]; ++s) {
        const int64_t t = cfg.time_of(s, b, d);
        const float* xt = x + cfg.x_off(t, b);
        if (saved_h.defined())
          std::copy(h.begin(), h.end(), saved_h.data<float>() + ((d * cfg.batch + b) * (S + 1) + s) * H);
        for (int64_t k = 0; k < 2 * H; ++k) {  // z and r
          float a = recurrent::dot_f32(xt, w + k * I, I) + recurrent::dot_f32(h.data(), r + k * H, H);
          if (wb) a += wb[k] + wb[G + k];
          gates[k] = act_f(cfg.clipped(a));
        }
        const float* gr = gates.data() + kR * H;
        for (int64_t j = 0; j < H; ++j) rh[j] = gr[j] * h[j];
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = kH * H + j;
          const float xw = recurrent::dot_f32(xt, w + k * I, I) + (wb ? wb[k] : 0.f);
          const float rb = wb ? wb[G + k] : 0.f;
          const float lin = recurrent::dot_f32(h.data(), r + k * H, H) + rb;
          gates[kLin * H + j] = lin;
          const float a = lbr ? xw + gr[j] * lin : xw + (recurrent::dot_f32(rh.data(), r + k * H, H) + rb);
          gates[k] = act_g(cfg.clipped(a));
        }
        for (int64_t j = 0; j < H; ++j) {
          const float z = gates[kZ * H + j];
          h[j] = (1.f - z) * gates[kH * H + j] + z * h[j];
        }
        if (saved_gates.defined())
          std::copy(gates.begin(), gates.end(), saved_gates.data<float>() + ((d * cfg.batch + b) * S + s) * 4 * H);
        std::copy(h.begin(), h.end(), y.data<float>() + cfg.y_off(t, d, b));
      }
      std::copy(h.begin(), h.end(), y_h.data<float>() + so);
    }
  }
  if (ctx.out.size() < ctx.node.outputs.size()) ctx.out.resize(ctx.node.outputs.size());
  if (named(0)) ctx.out[0] = y;
  if (named(1)) ctx.out[1] = y_h;
  if (saved_gates.defined()) {
    ctx.saved->push_back(saved_gates);
    ctx.saved->push_back(saved_h);
  }
}

// BPTT. Per direction and batch entry, walking the steps backwards with dh the gradient of h':
//   dz = dh (h - hh), dah = dh (1 - z)(1 - hh^2), dh_prev = dh z
//   lbr = 0: u = r*h,  du = dah R_h, dr = du h, dh_prev += du r, dR_h += dah^T u, dRb_h += dah
//   lbr = 1: dl = dah r, dr = dah (h R_h^T + Rb_h), dh_prev += dl R_h, dR_h += dl^T h, dRb_h += dl
//   daz = dz z(1-z), dar = dr r(1-r); z and r as an LSTM gate; dX, dW, dWb through [daz, dar, dah].
void gru_f32_grad(BackwardCtx& ctx) {
  const RnnConfig cfg = gru_config(ctx.node, ctx.in);
  EDGEOPT_CHECK(recurrent::activations_are(cfg, {Activation::Kind::kSigmoid, Activation::Kind::kTanh}),
                ErrorCode::kUnimplemented, "GRU backward supports only the default activations (Sigmoid, Tanh)");
  EDGEOPT_CHECK(cfg.clip == 0.f, ErrorCode::kUnimplemented, "GRU backward does not support the clip attribute");
  EDGEOPT_CHECK(ctx.saved.size() >= 2, ErrorCode::kFailedPrecondition,
                "GRU backward needs the tensors saved by a training-mode forward");
  const bool lbr = ctx.node.attr_int("linear_before_reset", 0) != 0;
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, G = kGates * H;
  const float* x = ctx.in[0].data<float>();
  const float* w_all = ctx.in[1].data<float>();
  const float* r_all = ctx.in[2].data<float>();
  const float* gates_all = ctx.saved[0].data<float>();
  const float* h_all = ctx.saved[1].data<float>();
  const float* dy = ctx.grad_out.size() > 0 && ctx.grad_out[0].defined() ? ctx.grad_out[0].data<float>() : nullptr;
  const float* dy_h = ctx.grad_out.size() > 1 && ctx.grad_out[1].defined() ? ctx.grad_out[1].data<float>() : nullptr;

  Tensor dx = Tensor::zeros(DType::kF32, ctx.in[0].shape());
  Tensor dw = Tensor::zeros(DType::kF32, ctx.in[1].shape());
  Tensor dr = Tensor::zeros(DType::kF32, ctx.in[2].shape());
  Tensor db = Tensor::zeros(DType::kF32, {cfg.dirs, 2 * G});
  Tensor dh0 = Tensor::zeros(DType::kF32, cfg.state_shape());
  // da_x: gradient of the x-side pre-activations [z, r, h]; da_r: of the R-side products, whose
  // input vectors are hin_r = [h, h, lbr ? h : r*h].
  std::vector<float> dh(H), dh_prev(H), da_x(G), da_r(G), u(H), du(H);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const float* w = w_all + d * G * I;
    const float* r = r_all + d * G * H;
    float* dwd = dw.data<float>() + d * G * I;
    float* drd = dr.data<float>() + d * G * H;
    float* dbd = db.data<float>() + d * 2 * G;
    for (int64_t b = 0; b < cfg.batch; ++b) {
      const int64_t so = cfg.state_off(d, b);
      for (int64_t j = 0; j < H; ++j) dh[j] = dy_h ? dy_h[so + j] : 0.f;
      for (int64_t s = cfg.lens[b] - 1; s >= 0; --s) {
        const int64_t t = cfg.time_of(s, b, d);
        const float* g = gates_all + ((d * cfg.batch + b) * S + s) * 4 * H;
        const float* h_prev = h_all + ((d * cfg.batch + b) * (S + 1) + s) * H;
        const float* xt = x + cfg.x_off(t, b);
        const float *gz = g + kZ * H, *gr = g + kR * H, *gh = g + kH * H, *glin = g + kLin * H;
        if (dy)
          for (int64_t j = 0; j < H; ++j) dh[j] += dy[cfg.y_off(t, d, b) + j];
        for (int64_t j = 0; j < H; ++j) {
          const float dah = dh[j] * (1.f - gz[j]) * (1.f - gh[j] * gh[j]);
          da_x[kH * H + j] = dah;
          da_r[kH * H + j] = lbr ? dah * gr[j] : dah;
          u[j] = lbr ? h_prev[j] : gr[j] * h_prev[j];
          dh_prev[j] = dh[j] * gz[j];
        }
        for (int64_t j = 0; j < H; ++j) {  // du = da_r[h] R_h: gradient of the R_h product's input
          float acc = 0.f;
          for (int64_t k = 0; k < H; ++k) acc += da_r[kH * H + k] * r[(kH * H + k) * H + j];
          du[j] = acc;
        }
        for (int64_t j = 0; j < H; ++j) {
          const float dz = dh[j] * (h_prev[j] - gh[j]);
          const float d_r = lbr ? da_x[kH * H + j] * glin[j] : du[j] * h_prev[j];
          dh_prev[j] += lbr ? du[j] : du[j] * gr[j];
          da_x[kZ * H + j] = da_r[kZ * H + j] = dz * gz[j] * (1.f - gz[j]);
          da_x[kR * H + j] = da_r[kR * H + j] = d_r * gr[j] * (1.f - gr[j]);
        }
        float* dxt = dx.data<float>() + cfg.x_off(t, b);
        for (int64_t k = 0; k < G; ++k) {
          const float ax = da_x[k], ar = da_r[k];
          const float* hin = k >= kH * H ? u.data() : h_prev;
          for (int64_t i = 0; i < I; ++i) {
            dxt[i] += ax * w[k * I + i];
            dwd[k * I + i] += ax * xt[i];
          }
          for (int64_t j = 0; j < H; ++j) drd[k * H + j] += ar * hin[j];
          dbd[k] += ax;
          dbd[G + k] += ar;
        }
        for (int64_t j = 0; j < H; ++j) {  // z and r gates' recurrent contribution
          float acc = 0.f;
          for (int64_t k = 0; k < 2 * H; ++k) acc += da_r[k] * r[k * H + j];
          dh_prev[j] += acc;
        }
        dh.swap(dh_prev);
      }
      std::copy(dh.begin(), dh.end(), dh0.data<float>() + so);
    }
  }
  ctx.grad_in[0] = dx;
  ctx.grad_in[1] = dw;
  ctx.grad_in[2] = dr;
  if (recurrent::optional_input(ctx.in, 3)) ctx.grad_in[3] = db;
  if (recurrent::optional_input(ctx.in, 5)) ctx.grad_in[5] = dh0;
}

}  // namespace

void gru_f32_fast(ForwardCtx& ctx);  // gru_fast.cpp

extern const OpDef kOpDef{.name = "GRU", .min_opset = 7, .max_opset = 18, .forward = gru_f32_ref,
                          .backward = gru_f32_grad, .macs = recurrent::gate_product_macs,
                          .forward_fast = gru_f32_fast};

}  // namespace edgeopt::kernels::ops::gru

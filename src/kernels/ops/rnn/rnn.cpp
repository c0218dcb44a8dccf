// RNN (simple, one layer). ONNX: https://onnx.ai/onnx/operators/onnx__RNN.html (opsets 7-14+;
// opset 14 added `layout`). Per step, with f the activation (default Tanh):
//   h' = f(clip(x W^T + h R^T + Wb + Rb))
// Inputs X, W, R, B, sequence_lens, initial_h; outputs Y, Y_h (any subset). sequence_lens, layouts
// and directions as in LSTM (rnn_common.h).
// Backward (BPTT) for Tanh without clip: da = dh (1 - h'^2), dX += da W, dW += da^T x,
// dR += da^T h, dWb = dRb += da, dh_prev = da R. Training-mode forward saves the states.
#include "kernels/common.h"
#include "kernels/ops/rnn/rnn_common.h"

namespace edgeopt::kernels::ops::rnn {
namespace {

using recurrent::Activation;
using recurrent::RnnConfig;
using recurrent::optional_input;

RnnConfig rnn_config(const Node& node, std::span<const Tensor> in) {
  return recurrent::read_rnn_config(node, in, 1, {"Tanh"});
}

void rnn_f32_ref(ForwardCtx& ctx) {
  const RnnConfig cfg = rnn_config(ctx.node, ctx.in);
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq;
  const float* x = ctx.in[0].data<float>();
  const Tensor* b_in = optional_input(ctx.in, 3);
  const Tensor* h0_in = optional_input(ctx.in, 5);
  auto named = [&](size_t i) { return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty(); };
  Tensor y = Tensor::zeros(DType::kF32, cfg.y_shape());  // zeros: the padding past sequence_lens
  Tensor y_h(DType::kF32, cfg.state_shape());
  Tensor saved_h;  // [dirs, batch, S+1, H]: the state before each step and after the last
  if (ctx.training && ctx.saved) saved_h = Tensor::zeros(DType::kF32, {cfg.dirs, cfg.batch, S + 1, H});
  std::vector<float> h(H), a(H);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const float* w = ctx.in[1].data<float>() + d * H * I;
    const float* r = ctx.in[2].data<float>() + d * H * H;
    const float* wb = b_in ? b_in->data<float>() + d * 2 * H : nullptr;
    const Activation& act = cfg.act(d, 0);
    for (int64_t b = 0; b < cfg.batch; ++b) {
      const int64_t so = cfg.state_off(d, b);
      for (int64_t j = 0; j < H; ++j) h[j] = h0_in ? h0_in->data<float>()[so + j] : 0.f;
      for (int64_t s = 0; s < cfg.lens[b]; ++s) {
        const int64_t t = cfg.time_of(s, b, d);
        const float* xt = x + cfg.x_off(t, b);
        if (saved_h.defined())
          std::copy(h.begin(), h.end(), saved_h.data<float>() + ((d * cfg.batch + b) * (S + 1) + s) * H);
        for (int64_t k = 0; k < H; ++k) {
          a[k] = recurrent::dot_f32(xt, w + k * I, I) + recurrent::dot_f32(h.data(), r + k * H, H);
          if (wb) a[k] += wb[k] + wb[H + k];
        }
        for (int64_t k = 0; k < H; ++k) h[k] = act(cfg.clipped(a[k]));
        std::copy(h.begin(), h.end(), y.data<float>() + cfg.y_off(t, d, b));
      }
      if (saved_h.defined())
        std::copy(h.begin(), h.end(), saved_h.data<float>() + ((d * cfg.batch + b) * (S + 1) + cfg.lens[b]) * H);
      std::copy(h.begin(), h.end(), y_h.data<float>() + so);
    }
  }
  if (ctx.out.size() < ctx.node.outputs.size()) ctx.out.resize(ctx.node.outputs.size());
  if (named(0)) ctx.out[0] = y;
  if (named(1)) ctx.out[1] = y_h;
  if (saved_h.defined()) ctx.saved->push_back(saved_h);
}

void rnn_f32_grad(BackwardCtx& ctx) {
  const RnnConfig cfg = rnn_config(ctx.node, ctx.in);
  EDGEOPT_CHECK(recurrent::activations_are(cfg, {Activation::Kind::kTanh}), ErrorCode::kUnimplemented,
                "RNN backward supports only the default activation (Tanh)");
  EDGEOPT_CHECK(cfg.clip == 0.f, ErrorCode::kUnimplemented, "RNN backward does not support the clip attribute");
  EDGEOPT_CHECK(!ctx.saved.empty(), ErrorCode::kFailedPrecondition,
                "RNN backward needs the tensors saved by a training-mode forward");
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq;
  const float* x = ctx.in[0].data<float>();
  const float* h_all = ctx.saved[0].data<float>();
  const float* dy = ctx.grad_out.size() > 0 && ctx.grad_out[0].defined() ? ctx.grad_out[0].data<float>() : nullptr;
  const float* dy_h = ctx.grad_out.size() > 1 && ctx.grad_out[1].defined() ? ctx.grad_out[1].data<float>() : nullptr;
  Tensor dx = Tensor::zeros(DType::kF32, ctx.in[0].shape());
  Tensor dw = Tensor::zeros(DType::kF32, ctx.in[1].shape());
  Tensor dr = Tensor::zeros(DType::kF32, ctx.in[2].shape());
  Tensor db = Tensor::zeros(DType::kF32, {cfg.dirs, 2 * H});
  Tensor dh0 = Tensor::zeros(DType::kF32, cfg.state_shape());
  std::vector<float> dh(H), da(H);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const float* w = ctx.in[1].data<float>() + d * H * I;
    const float* r = ctx.in[2].data<float>() + d * H * H;
    float* dwd = dw.data<float>() + d * H * I;
    float* drd = dr.data<float>() + d * H * H;
    float* dbd = db.data<float>() + d * 2 * H;
    for (int64_t b = 0; b < cfg.batch; ++b) {
      const int64_t so = cfg.state_off(d, b);
      const float* hb = h_all + (d * cfg.batch + b) * (S + 1) * H;
      for (int64_t j = 0; j < H; ++j) dh[j] = dy_h ? dy_h[so + j] : 0.f;
      for (int64_t s = cfg.lens[b] - 1; s >= 0; --s) {
        const int64_t t = cfg.time_of(s, b, d);
        const float* xt = x + cfg.x_off(t, b);
        const float* h_prev = hb + s * H;
        const float* h_new = hb + (s + 1) * H;
        if (dy)
          for (int64_t j = 0; j < H; ++j) dh[j] += dy[cfg.y_off(t, d, b) + j];
        for (int64_t k = 0; k < H; ++k) da[k] = dh[k] * (1.f - h_new[k] * h_new[k]);
        float* dxt = dx.data<float>() + cfg.x_off(t, b);
        for (int64_t k = 0; k < H; ++k) {
          for (int64_t i = 0; i < I; ++i) {
            dxt[i] += da[k] * w[k * I + i];
            dwd[k * I + i] += da[k] * xt[i];
          }
          for (int64_t j = 0; j < H; ++j) drd[k * H + j] += da[k] * h_prev[j];
          dbd[k] += da[k];
          dbd[H + k] += da[k];
        }
        for (int64_t j = 0; j < H; ++j) {
          float acc = 0.f;
          for (int64_t k = 0; k < H; ++k) acc += da[k] * r[k * H + j];
          dh[j] = acc;
        }
      }
      std::copy(dh.begin(), dh.end(), dh0.data<float>() + so);
    }
  }
  ctx.grad_in[0] = dx;
  ctx.grad_in[1] = dw;
  ctx.grad_in[2] = dr;
  if (optional_input(ctx.in, 3)) ctx.grad_in[3] = db;
  if (optional_input(ctx.in, 5)) ctx.grad_in[5] = dh0;
}

}  // namespace

extern const OpDef kOpDef{.name = "RNN", .min_opset = 7, .max_opset = 18, .forward = rnn_f32_ref,
                          .backward = rnn_f32_grad, .macs = recurrent::gate_product_macs};

}  // namespace edgeopt::kernels::ops::rnn

// GRUDynamicInt8: validation and the reference forward (the contract is in gru_int8.h).
#include "kernels/ops/gru/gru_int8.h"

#include <vector>

#include "kernels/common.h"
#include "kernels/ops/gru/gru_cell.h"

namespace edgeopt::kernels::ops::gru_dynamic_int8 {

using recurrent::RnnConfig;

GruInt8Inputs read_gru_int8_inputs(const Node& node, std::span<const Tensor> in) {
  GruInt8Inputs args;
  args.cfg = gru::gru_config(node, in, DType::kI8);
  args.lbr = node.attr_int("linear_before_reset", 0) != 0;
  args.q = recurrent::read_int8_weights(in, kWScale, kRScale, gru::kGates * args.cfg.hidden);
  return args;
}

namespace {

// The oracle, in three phases per step so that h (and u) are quantized over all batch rows before
// any row uses them: z and r (and u) per active row, then u's codes, then hh and the update.
void gru_dynamic_int8_ref(ForwardCtx& ctx) {
  const GruInt8Inputs args = read_gru_int8_inputs(ctx.node, ctx.in);
  const RnnConfig& cfg = args.cfg;
  const recurrent::Int8Weights& q = args.q;
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, B = cfg.batch, G = gru::kGates * H;
  const float* x = ctx.in[0].data<float>();
  const Tensor* b_in = recurrent::optional_input(ctx.in, 3);
  const Tensor* h0_in = recurrent::optional_input(ctx.in, 5);
  auto named = [&](size_t i) { return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty(); };
  Tensor y = Tensor::zeros(DType::kF32, cfg.y_shape());  // zeros: the padding past sequence_lens
  Tensor y_h(DType::kF32, cfg.state_shape());

  const std::vector<float> xs(x, x + S * B * I);
  std::vector<int32_t> qx(xs.size()), qh(B * H), qu(B * H);
  const quant::DynamicQ8Params px = recurrent::quantize_block_u8(xs.data(), S * B, I, qx.data());
  std::vector<float> h(B * H), z(B * H), u(B * H), xw(B * G);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const int8_t* w = q.w + d * G * I;
    const int8_t* r = q.r + d * G * H;
    const float* bias = b_in ? b_in->data<float>() + d * 2 * G : nullptr;
    const recurrent::Activation &act_f = cfg.act(d, 0), &act_g = cfg.act(d, 1);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < H; ++j) h[b * H + j] = h0_in ? h0_in->data<float>()[cfg.state_off(d, b) + j] : 0.f;
    for (int64_t s = 0; s < S; ++s) {
      const quant::DynamicQ8Params ph = recurrent::quantize_block_u8(h.data(), B, H, qh.data());
      std::fill(u.begin(), u.end(), 0.f);
      for (int64_t b = 0; b < B; ++b) {
        if (s >= cfg.lens[b]) continue;
        const int32_t* xq = qx.data() + cfg.x_off(cfg.time_of(s, b, d), b);
        for (int64_t k = 0; k < G; ++k) {
          float v = recurrent::dequantized_dot(xq, w + k * I, I, px, q.w_scale_of(k));
          if (bias) v += bias[k] + (args.lbr && k >= 2 * H ? 0.f : bias[G + k]);
          xw[b * G + k] = v;
        }
        for (int64_t k = 0; k < 2 * H; ++k) {
          const float a = recurrent::dequantized_dot(qh.data() + b * H, r + k * H, H, ph, q.r_scale_of(k));
          const float g = act_f(cfg.clipped(xw[b * G + k] + a));
          const int64_t j = k % H;
          if (k < H) z[b * H + j] = g;
          else u[b * H + j] = args.lbr ? g : g * h[b * H + j];
        }
      }
      const quant::DynamicQ8Params pu =
          args.lbr ? quant::DynamicQ8Params{} : recurrent::quantize_block_u8(u.data(), B, H, qu.data());
      for (int64_t b = 0; b < B; ++b) {
        if (s >= cfg.lens[b]) continue;
        const int64_t t = cfg.time_of(s, b, d);
        for (int64_t j = 0; j < H; ++j) {
          const int64_t k = 2 * H + j;
          float hh;
          if (args.lbr) {
            float lin = recurrent::dequantized_dot(qh.data() + b * H, r + k * H, H, ph, q.r_scale_of(k));
            if (bias) lin += bias[G + k];
            hh = act_g(cfg.clipped(xw[b * G + k] + u[b * H + j] * lin));
          } else {
            hh = act_g(cfg.clipped(xw[b * G + k] + recurrent::dequantized_dot(qu.data() + b * H, r + k * H, H, pu,
                                                                             q.r_scale_of(k))));
          }
          const float zj = z[b * H + j];
          h[b * H + j] = (1.f - zj) * hh + zj * h[b * H + j];
        }
        std::copy_n(h.data() + b * H, H, y.data<float>() + cfg.y_off(t, d, b));
      }
    }
    for (int64_t b = 0; b < B; ++b) std::copy_n(h.data() + b * H, H, y_h.data<float>() + cfg.state_off(d, b));
  }
  if (ctx.out.size() < ctx.node.outputs.size()) ctx.out.resize(ctx.node.outputs.size());
  if (named(0)) ctx.out[0] = y;
  if (named(1)) ctx.out[1] = y_h;
}

}  // namespace

extern const OpDef kOpDef{.name = "GRUDynamicInt8", .min_opset = 7, .max_opset = 18, .forward = gru_dynamic_int8_ref,
                          .macs = recurrent::gate_product_macs, .forward_fast = gru_dynamic_int8_fast,
                          .prepare = gru_dynamic_int8_prepare};

}  // namespace edgeopt::kernels::ops::gru_dynamic_int8

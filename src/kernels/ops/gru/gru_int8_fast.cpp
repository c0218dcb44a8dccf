// GRUDynamicInt8 fast forward (contract and math in gru_int8.h). Per direction:
//   XW[T*B, 3H] = dyn(X) W^T + bias            one gemm_int8 over all time steps
//   per step, linear_before_reset = 0:  A_zr = dyn(h) R_zr^T;  z, u = r*h;  A_h = dyn(u) R_h^T
//             linear_before_reset = 1:  A = dyn(h) R^T + [0, 0, Rb_h];  z, u = r
//   then GRU's vectorized gate steps (gru_cell.h) per active batch row
// (dyn: rnn_int8.h's dynamically quantized product, the reference's expression term for term).
// W and R are packed once (prepare). Clip, other activations and training go to the reference.
#include <vector>

#include "kernels/common.h"
#include "kernels/ops/gru/gru_cell.h"
#include "kernels/ops/gru/gru_int8.h"

namespace edgeopt::kernels::ops::gru_dynamic_int8 {

extern const OpDef kOpDef;  // gru_int8.cpp: the reference forward for the cases not handled here

namespace {

using recurrent::Activation;
using recurrent::RnnConfig;

constexpr int64_t kSlack = 64;  // floats after each f32 buffer's last row: one vector of any target

struct PackedDirection {
  recurrent::PackedInt8Rows w;          // W [3H, I]
  recurrent::PackedInt8Rows r, zr, rh;  // R [3H, H] (lbr), or R_zr [2H, H] and R_h [H, H]
  std::vector<float> bias;              // Wb + Rb, without Rb_h when lbr [3H]; zeros without B
  std::vector<float> rb_h;              // lbr: [0, 0, Rb_h] [3H]
};

struct GruInt8State final : OpState {
  recurrent::Int8WeightsKey key;
  bool lbr = false;
  std::vector<PackedDirection> dirs;
};

// W [dirs, G, I], R [dirs, G, H] (i8) and B [dirs, 2G] or absent, shapes already consistent.
std::shared_ptr<GruInt8State> pack_weights(std::span<const Tensor> in, bool lbr) {
  const Tensor &w = in[1], &r = in[2];
  const Tensor* b = recurrent::optional_input(in, 3);
  auto st = std::make_shared<GruInt8State>();
  st->key = recurrent::Int8WeightsKey::of(in);
  st->lbr = lbr;
  const int64_t dirs = w.shape()[0], G = w.shape()[1], I = w.shape()[2], H = r.shape()[2];
  for (int64_t d = 0; d < dirs; ++d) {
    const int8_t* rd = r.data<int8_t>() + d * G * H;
    PackedDirection p;
    p.w = recurrent::pack_int8_rows(w.data<int8_t>() + d * G * I, G, I);
    if (lbr) {
      p.r = recurrent::pack_int8_rows(rd, G, H);
    } else {
      p.zr = recurrent::pack_int8_rows(rd, 2 * H, H);
      p.rh = recurrent::pack_int8_rows(rd + 2 * H * H, H, H);
    }
    p.bias.assign(static_cast<size_t>(G), 0.f);
    p.rb_h.assign(static_cast<size_t>(G), 0.f);
    if (b) {
      const float* bd = b->data<float>() + d * 2 * G;
      for (int64_t k = 0; k < G; ++k) {
        p.bias[k] = bd[k] + (lbr && k >= 2 * H ? 0.f : bd[G + k]);
        if (k >= 2 * H) p.rb_h[k] = bd[G + k];
      }
    }
    st->dirs.push_back(std::move(p));
  }
  return st;
}

bool fast_path_ok(const ForwardCtx& ctx, const RnnConfig& cfg) {
  if (ctx.training || cfg.clip != 0.f) return false;
  if (!recurrent::activations_are(cfg, {Activation::Kind::kSigmoid, Activation::Kind::kTanh})) return false;
  return cfg.seq > 0 && cfg.batch > 0 && cfg.input > 0;
}

}  // namespace

std::shared_ptr<const OpState> gru_dynamic_int8_prepare(const PrepareCtx& ctx) {
  if (!recurrent::int8_weights_constant(ctx, gru::kGates)) return nullptr;
  return pack_weights(ctx.in, ctx.node.attr_int("linear_before_reset", 0) != 0);
}

void gru_dynamic_int8_fast(ForwardCtx& ctx) {
  const GruInt8Inputs args = read_gru_int8_inputs(ctx.node, ctx.in);
  const RnnConfig& cfg = args.cfg;
  if (!fast_path_ok(ctx, cfg)) return kOpDef.forward(ctx);
  const recurrent::Int8Weights& q = args.q;
  const bool lbr = args.lbr;
  const Tensor* h0_in = recurrent::optional_input(ctx.in, 5);
  const auto* st = dynamic_cast<const GruInt8State*>(ctx.state);
  std::shared_ptr<GruInt8State> local;
  if (!st || st->lbr != lbr || !(st->key == recurrent::Int8WeightsKey::of(ctx.in))) {
    local = pack_weights(ctx.in, lbr);
    st = local.get();
  }
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, B = cfg.batch, G = gru::kGates * H;
  const int64_t hs = H + kSlack;  // h, z, u row stride
  const float* x = ctx.in[0].data<float>();
  auto named = [&](size_t i) { return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty(); };
  Tensor y = named(0) ? Tensor::zeros(DType::kF32, cfg.y_shape()) : Tensor();  // zeros past sequence_lens
  Tensor y_h(DType::kF32, cfg.state_shape());

  recurrent::DynamicInt8Scratch scratch;
  std::vector<float> xw(static_cast<size_t>(S * B * G + kSlack)), a(static_cast<size_t>(B * G + kSlack));
  std::vector<float> a_h(static_cast<size_t>(B * H + kSlack));
  std::vector<float> h(static_cast<size_t>(B * hs), 0.f), z(h.size(), 0.f), u(h.size(), 0.f);
  const float* r_scale_h = q.r_scale + (q.r_per_row ? 2 * H : 0);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const PackedDirection& pd = st->dirs[static_cast<size_t>(d)];
    // Rows of X (and so of XW) are (t, b) in layout 0 and (b, t) in layout 1.
    recurrent::gemm_dynamic_int8(x, S * B, I, pd.w, q.w_scale, q.w_per_row, pd.bias.data(), xw.data(), G, scratch);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t j = 0; j < H; ++j) h[b * hs + j] = h0_in ? h0_in->data<float>()[cfg.state_off(d, b) + j] : 0.f;
    for (int64_t s = 0; s < S; ++s) {
      // h (and u) of every batch row share one range per step, as in the reference.
      if (lbr)
        recurrent::gemm_dynamic_int8(h.data(), B, hs, pd.r, q.r_scale, q.r_per_row, pd.rb_h.data(), a.data(), G,
                                     scratch);
      else
        recurrent::gemm_dynamic_int8(h.data(), B, hs, pd.zr, q.r_scale, q.r_per_row, nullptr, a.data(), G, scratch);
      for (int64_t b = 0; b < B; ++b) {
        if (s >= cfg.lens[b]) {
          std::fill_n(u.data() + b * hs, H, 0.f);  // a finished row: u = 0, as the reference
          continue;
        }
        const float* xw_t = xw.data() + cfg.x_off(cfg.time_of(s, b, d), b) / I * G;
        gru::gru_zr_step_f32(xw_t, G, a.data() + b * G, G, h.data() + b * hs, z.data() + b * hs, u.data() + b * hs, 1,
                             H, hs, lbr);
      }
      if (!lbr)
        recurrent::gemm_dynamic_int8(u.data(), B, hs, pd.rh, r_scale_h, q.r_per_row, nullptr, a_h.data(), H, scratch);
      for (int64_t b = 0; b < B; ++b) {
        if (s >= cfg.lens[b]) continue;
        const int64_t t = cfg.time_of(s, b, d);
        const float* xw_t = xw.data() + cfg.x_off(t, b) / I * G;
        const float* ah = lbr ? a.data() + b * G + 2 * H : a_h.data() + b * H;
        gru::gru_h_step_f32(xw_t + 2 * H, G, ah, G, z.data() + b * hs, u.data() + b * hs, h.data() + b * hs, 1, H, hs,
                            lbr);
        if (named(0)) std::copy_n(h.data() + b * hs, H, y.data<float>() + cfg.y_off(t, d, b));
      }
    }
    for (int64_t b = 0; b < B; ++b) std::copy_n(h.data() + b * hs, H, y_h.data<float>() + cfg.state_off(d, b));
  }
  if (ctx.out.size() < ctx.node.outputs.size()) ctx.out.resize(ctx.node.outputs.size());
  if (named(0)) ctx.out[0] = y;
  if (named(1)) ctx.out[1] = y_h;
}

}  // namespace edgeopt::kernels::ops::gru_dynamic_int8

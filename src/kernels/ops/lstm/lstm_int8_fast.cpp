// LSTMDynamicInt8 fast forward (contract and math in lstm_int8.h). Per direction:
//   XW[T*B, 4H] = deq(qX W^T) + (Wb + Rb)      one gemm_int8 over all time steps (qX packed once)
//   per step:   qh = dynamic u8 of h; A[B, 4H] = deq(qh R^T); LSTM's vectorized cell on XW_t + A
// W^T and R^T are packed once (prepare) as gemm_int8's signed right operand, with each gate row's
// code sum for the activations' zero-point correction. The s32 sums are exact on every ISA, and
// the scale-back and the sums are done in the reference's order, so this equals the reference up
// to the cell's vectorized activations (Highway Exp/Tanh). Peepholes, clip, input_forget, other
// activations and training go to the reference.
#include <algorithm>
#include <vector>

#include "kernels/common.h"
#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/microkernels/quantize_q8/quantize_q8.h"
#include "kernels/ops/lstm/lstm_cell.h"
#include "kernels/ops/lstm/lstm_int8.h"
#include "kernels/quant/dynamic_quant.h"

namespace edgeopt::kernels::ops::lstm_dynamic_int8 {

extern const OpDef kOpDef;  // lstm_int8.cpp: the reference forward for the cases not handled here

namespace {

namespace gi = gemm_int8;
using recurrent::Activation;
using recurrent::RnnConfig;

constexpr int64_t kSlack = 64;  // floats after each f32 buffer's last row: one vector of any target

struct PackedDirection {
  std::vector<uint8_t> w, r;            // pack_rhs of W^T [I, 4H] and R^T [H, 4H] (s8 codes)
  std::vector<int32_t> w_sums, r_sums;  // per gate row k: sum_i W[k, i], sum_j R[k, j]
  std::vector<float> bias;              // Wb + Rb [4H]; zeros without B
};

struct LstmInt8State final : OpState {
  const void* w_raw = nullptr;
  const void* r_raw = nullptr;
  const void* b_raw = nullptr;  // null: no bias input
  Shape w_shape, r_shape;
  std::vector<PackedDirection> dirs;
};

std::vector<int32_t> row_sums(const int8_t* m, int64_t rows, int64_t cols) {
  std::vector<int32_t> out(static_cast<size_t>(rows), 0);
  for (int64_t k = 0; k < rows; ++k)
    for (int64_t i = 0; i < cols; ++i) out[k] += m[k * cols + i];
  return out;
}

// W [dirs, G, I], R [dirs, G, H] (i8) and B [dirs, 2G] or null, shapes already consistent.
std::shared_ptr<LstmInt8State> pack_weights(const Tensor& w, const Tensor& r, const Tensor* b) {
  auto st = std::make_shared<LstmInt8State>();
  st->w_raw = w.raw();
  st->r_raw = r.raw();
  st->b_raw = b ? b->raw() : nullptr;
  st->w_shape = w.shape();
  st->r_shape = r.shape();
  const int64_t dirs = w.shape()[0], G = w.shape()[1], I = w.shape()[2], H = r.shape()[2];
  for (int64_t d = 0; d < dirs; ++d) {
    PackedDirection p;
    const int8_t* wd = w.data<int8_t>() + d * G * I;
    const int8_t* rd = r.data<int8_t>() + d * G * H;
    p.w.resize(gi::packed_rhs_bytes(I, G));
    gi::pack_rhs(wd, I, G, I, /*trans=*/true, 0, p.w.data());
    p.r.resize(gi::packed_rhs_bytes(H, G));
    gi::pack_rhs(rd, H, G, H, /*trans=*/true, 0, p.r.data());
    p.w_sums = row_sums(wd, G, I);
    p.r_sums = row_sums(rd, G, H);
    p.bias.assign(static_cast<size_t>(G), 0.f);
    if (b) {
      const float* bd = b->data<float>() + d * 2 * G;
      for (int64_t k = 0; k < G; ++k) p.bias[k] = bd[k] + bd[G + k];
    }
    st->dirs.push_back(std::move(p));
  }
  return st;
}

bool fast_path_ok(const ForwardCtx& ctx, const LstmInt8Inputs& q) {
  const RnnConfig& cfg = q.cfg;
  if (ctx.training || recurrent::optional_input(ctx.in, 7) || cfg.clip != 0.f || q.input_forget) return false;
  if (!recurrent::activations_are(cfg, {Activation::Kind::kSigmoid, Activation::Kind::kTanh, Activation::Kind::kTanh}))
    return false;
  return cfg.seq > 0 && cfg.batch > 0 && cfg.input > 0;
}

// out[i, k] = (s32 sum - zp * sums[k]) * (scale * s[k]) (+ bias[k]) for rows i < m of G columns:
// the reference's expression, term for term.
void scale_back(const int32_t* acc, int64_t m, int64_t G, const quant::DynamicQ8Params& p, const float* s,
                bool per_row, const int32_t* sums, const float* bias, float* out) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t k = 0; k < G; ++k) {
      float v = static_cast<float>(acc[i * G + k] - p.zero_point * sums[k]) * (p.scale * s[per_row ? k : 0]);
      if (bias) v += bias[k];
      out[i * G + k] = v;
    }
}

}  // namespace

std::shared_ptr<const OpState> lstm_dynamic_int8_prepare(const PrepareCtx& ctx) {
  if (ctx.in.size() < 3) return nullptr;
  const Tensor& w = ctx.in[1];
  const Tensor& r = ctx.in[2];
  const Tensor* b = recurrent::optional_input(ctx.in, 3);
  if (!w.defined() || !r.defined() || (ctx.node.has_input(3) && !b)) return nullptr;  // weights fed at run time
  if (w.dtype() != DType::kI8 || r.dtype() != DType::kI8 || w.rank() != 3 || r.rank() != 3) return nullptr;
  const int64_t dirs = w.shape()[0], G = w.shape()[1], H = r.shape()[2];
  if (G != lstm::kGates * H || H <= 0 || r.shape() != Shape{dirs, G, H}) return nullptr;  // the forward reports it
  if (b && (b->dtype() != DType::kF32 || b->shape() != Shape{dirs, 2 * G})) return nullptr;
  return pack_weights(w, r, b);
}

void lstm_dynamic_int8_fast(ForwardCtx& ctx) {
  const LstmInt8Inputs q = read_lstm_int8_inputs(ctx.node, ctx.in);
  if (!fast_path_ok(ctx, q)) return kOpDef.forward(ctx);
  const RnnConfig& cfg = q.cfg;
  const Tensor* b_in = recurrent::optional_input(ctx.in, 3);
  const auto* st = dynamic_cast<const LstmInt8State*>(ctx.state);
  std::shared_ptr<LstmInt8State> local;
  if (!st || st->w_raw != ctx.in[1].raw() || st->r_raw != ctx.in[2].raw() || st->w_shape != ctx.in[1].shape() ||
      st->r_shape != ctx.in[2].shape() || st->b_raw != (b_in ? b_in->raw() : nullptr)) {
    local = pack_weights(ctx.in[1], ctx.in[2], b_in);
    st = local.get();
  }
  const gi::Isa isa = gi::default_isa();
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, B = cfg.batch, G = lstm::kGates * H;
  const int64_t hs = H + kSlack;  // h and c row stride
  const float* x = ctx.in[0].data<float>();
  const bool want_y = !ctx.node.outputs.empty() && !ctx.node.outputs[0].empty();
  lstm::LstmOutputs out(cfg, want_y);  // Y zeros past sequence_lens

  // X's codes (one range for all of X), packed once as the unsigned left operand of every direction.
  const quant::DynamicQ8Params px = quant::dynamic_u8_params(x, S * B, I, I);
  std::vector<uint8_t> codes(static_cast<size_t>(std::max(S * B * I, B * H)));
  std::vector<uint8_t> x_packed(gi::packed_lhs_bytes(S * B, I));
  quantize_q8::quantize_f32_to_q8(x, S * B * I, px.scale, px.zero_point, 0, 255, false, codes.data(), isa);
  gi::pack_lhs(codes.data(), S * B, I, I, 0, x_packed.data());
  // Batch 1 (a GEMV on VNNI): h's codes are read in place by the 1-row kernel, no 8-row block.
  const bool h_row = gi::gemv_lhs_row_ok(B, isa);
  std::vector<uint8_t> h_packed(h_row ? static_cast<size_t>(gi::padded_k(H)) : gi::packed_lhs_bytes(B, H));
  std::vector<int32_t> acc(static_cast<size_t>(S * B * G));
  std::vector<float> xw(static_cast<size_t>(S * B * G + kSlack)), a(static_cast<size_t>(B * G + kSlack));
  std::vector<float> h(static_cast<size_t>(B * hs), 0.f), c(static_cast<size_t>(B * hs), 0.f);
  gi::Epilogue ep;  // s32 out, no bias: the zero-point correction is part of the scale-back
  ep.per_row = false;

  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const PackedDirection& pd = st->dirs[static_cast<size_t>(d)];
    gi::gemm_int8(gi::Operands{x_packed.data(), pd.w.data(), S * B, G, I, true}, ep, acc.data(), G, nullptr, isa);
    scale_back(acc.data(), S * B, G, px, q.w_scale, q.w_per_row, pd.w_sums.data(), pd.bias.data(), xw.data());
    lstm::lstm_init_state(cfg, ctx.in, d, hs, h.data(), c.data());
    for (int64_t s = 0; s < S; ++s) {
      const quant::DynamicQ8Params ph = quant::dynamic_u8_params(h.data(), B, H, hs);
      for (int64_t b = 0; b < B; ++b)
        quantize_q8::quantize_f32_to_q8(h.data() + b * hs, H, ph.scale, ph.zero_point, 0, 255, false,
                                        codes.data() + b * H, isa);
      if (h_row) gi::pack_lhs_row(codes.data(), H, 0, h_packed.data());
      else gi::pack_lhs(codes.data(), B, H, H, 0, h_packed.data());
      gi::Operands op{h_packed.data(), pd.r.data(), B, G, H, true};
      op.lhs_row = h_row;
      gi::gemm_int8(op, ep, acc.data(), G, nullptr, isa);
      scale_back(acc.data(), B, G, ph, q.r_scale, q.r_per_row, pd.r_sums.data(), nullptr, a.data());
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

// Fast LSTM forward for the common case: default activations (Sigmoid, Tanh, Tanh), no clip, no
// peepholes, input_forget=0, full-length sequences, inference. Per direction:
//   XW[T*B, 4H] = X W^T + (Wb + Rb)           one GEMM over all time steps (bias added once)
//   per step:  gates = XW_t + h R^T -> i, o, f, c activations and the state update
// With a prepared state (a Session: W packed for the GEMM, the biases summed, R packed in blocks)
// and a small batch, each step is one fused pass per batch row: R is stored as
// [H/16 blocks][k][gate][16], so the four gates' 16 hidden units are accumulated in registers over
// k and activated before anything is stored (no per-step GEMM call, no [B, 4H] round trip; at
// batch 1 the GEMM's packing and tile setup cost more than the math). When X's rows are (t, b) in
// order (layout 0, or batch 1) the input part x W^T + bias of every step is computed first, out of
// the recurrence, in the same blocked layout, and each step only accumulates h R^T, two blocks'
// FMA chains interleaved. Larger batches run one packed GEMM per step instead.
// Everything else (and training mode, which saves what the backward needs) goes to the reference
// forward, so behaviour is identical. Results match the reference within f32 rounding (the sums are
// reordered and the activations use Highway's Exp/Tanh).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/lstm/lstm_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::lstm {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V>
HWY_INLINE V Sigmoid(D d, V v) {
  const V one = hn::Set(d, 1.f);
  const V e = hn::Exp(d, hn::Neg(hn::Abs(v)));  // in (0, 1]: never overflows
  const V s = hn::Div(one, hn::Add(one, e));
  return hn::IfThenElse(hn::Ge(v, hn::Zero(d)), s, hn::Mul(e, s));
}

// One step for B rows. xw rows (stride xs) and a rows (stride G = 4H) hold the pre-activations in
// gate order [i, o, f, c]; c and h are [B, hs] state rows. Whole vectors are processed: the buffers
// have a vector of slack after every row's H elements (padding lanes hold garbage, never read back).
void LstmStepF32(const float* xw, int64_t xs, const float* a, float* c, float* h, int64_t B, int64_t H,
                 int64_t hs) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t G = 4 * H;
  for (int64_t b = 0; b < B; ++b) {
    const float* x = xw + b * xs;
    const float* r = a + b * G;
    float* cb = c + b * hs;
    float* hb = h + b * hs;
    for (int64_t j = 0; j < H; j += L) {
      const auto ai = hn::Add(hn::LoadU(d, x + j), hn::LoadU(d, r + j));
      const auto ao = hn::Add(hn::LoadU(d, x + H + j), hn::LoadU(d, r + H + j));
      const auto af = hn::Add(hn::LoadU(d, x + 2 * H + j), hn::LoadU(d, r + 2 * H + j));
      const auto ac = hn::Add(hn::LoadU(d, x + 3 * H + j), hn::LoadU(d, r + 3 * H + j));
      const auto gi = Sigmoid(d, ai), go = Sigmoid(d, ao), gf = Sigmoid(d, af);
      const auto gc = hn::Tanh(d, ac);
      const auto cn = hn::MulAdd(gf, hn::LoadU(d, cb + j), hn::Mul(gi, gc));
      hn::StoreU(cn, d, cb + j);
      hn::StoreU(hn::Mul(go, hn::Tanh(d, cn)), d, hb + j);
    }
  }
}


// acc_g += sum_k v[k] * m[k][g][0:16] for gates g over n rows of a blocked matrix (row stride 64
// floats), sub-vector at lane offset `lane`. Even and odd k go to separate accumulators, so eight
// independent FMA chains are in flight.
template <class D, class V>
HWY_INLINE void AccumulateGates(D d, const float* HWY_RESTRICT m, const float* HWY_RESTRICT v, int64_t n,
                                int64_t lane, V& ai, V& ao, V& af, V& ac, V& bi, V& bo, V& bf, V& bc) {
  int64_t k = 0;
  for (; k + 1 < n; k += 2) {
    const float* r0 = m + k * 64 + lane;
    const float* r1 = r0 + 64;
    const auto h0 = hn::Set(d, v[k]), h1 = hn::Set(d, v[k + 1]);
    ai = hn::MulAdd(h0, hn::LoadU(d, r0), ai);
    ao = hn::MulAdd(h0, hn::LoadU(d, r0 + 16), ao);
    af = hn::MulAdd(h0, hn::LoadU(d, r0 + 32), af);
    ac = hn::MulAdd(h0, hn::LoadU(d, r0 + 48), ac);
    bi = hn::MulAdd(h1, hn::LoadU(d, r1), bi);
    bo = hn::MulAdd(h1, hn::LoadU(d, r1 + 16), bo);
    bf = hn::MulAdd(h1, hn::LoadU(d, r1 + 32), bf);
    bc = hn::MulAdd(h1, hn::LoadU(d, r1 + 48), bc);
  }
  if (k < n) {
    const float* r0 = m + k * 64 + lane;
    const auto h0 = hn::Set(d, v[k]);
    ai = hn::MulAdd(h0, hn::LoadU(d, r0), ai);
    ao = hn::MulAdd(h0, hn::LoadU(d, r0 + 16), ao);
    af = hn::MulAdd(h0, hn::LoadU(d, r0 + 32), af);
    ac = hn::MulAdd(h0, hn::LoadU(d, r0 + 48), ac);
  }
}

// One fused step for one batch row: gates = bias + x W^T + h_prev R^T, then the state update.
// wr holds [W | R] of one direction in blocks [nb][I + H][gate][16] (pack_wr_blocked), bias
// Wb + Rb as [nb][gate][16]; c (updated in place) and h_new have room for nb*16 floats.
void LstmStepFusedF32(const float* x, int64_t I, const float* h_prev, int64_t H, const float* wr,
                      const float* bias, float* c, float* h_new, int64_t nb) {
  const hn::CappedTag<float, 16> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t K = I + H;
  for (int64_t jb = 0; jb < nb; ++jb) {
    const float* m = wr + jb * K * 64;
    const float* bb = bias + jb * 64;
    for (int64_t v = 0; v < 16; v += L) {
      const int64_t j = jb * 16 + v;
      auto ai = hn::LoadU(d, bb + v), ao = hn::LoadU(d, bb + 16 + v);
      auto af = hn::LoadU(d, bb + 32 + v), ac = hn::LoadU(d, bb + 48 + v);
      auto bi = hn::Zero(d), bo = hn::Zero(d), bf = hn::Zero(d), bc = hn::Zero(d);
      AccumulateGates(d, m, x, I, v, ai, ao, af, ac, bi, bo, bf, bc);
      AccumulateGates(d, m + I * 64, h_prev, H, v, ai, ao, af, ac, bi, bo, bf, bc);
      const auto gi = Sigmoid(d, hn::Add(ai, bi)), go = Sigmoid(d, hn::Add(ao, bo));
      const auto gf = Sigmoid(d, hn::Add(af, bf)), gc = hn::Tanh(d, hn::Add(ac, bc));
      const auto cn = hn::MulAdd(gf, hn::LoadU(d, c + j), hn::Mul(gi, gc));
      hn::StoreU(cn, d, c + j);
      hn::StoreU(hn::Mul(go, hn::Tanh(d, cn)), d, h_new + j);
    }
  }
}

// Q rows of the input projection at once: xw[r][jb][g][16] = bias[jb][g] + sum_{k < I} x[r][k] *
// W[jb][k][g] (the W rows of the blocked [W | R]); Q x 4 independent accumulators share each
// weight load.
template <size_t Q, class D>
HWY_INLINE void InputProjRows(D d, const float* HWY_RESTRICT x, int64_t I, int64_t K, const float* wr,
                              const float* bias, int64_t nb, float* HWY_RESTRICT xw) {
  using V = hn::Vec<D>;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t jb = 0; jb < nb; ++jb) {
    const float* m = wr + jb * K * 64;
    for (int64_t v = 0; v < 16; v += L) {
      V acc[Q][4];
      for (size_t q = 0; q < Q; ++q)
        for (int g = 0; g < 4; ++g) acc[q][g] = hn::LoadU(d, bias + jb * 64 + g * 16 + v);
      for (int64_t k = 0; k < I; ++k) {
        V w[4];
        for (int g = 0; g < 4; ++g) w[g] = hn::LoadU(d, m + k * 64 + g * 16 + v);
        for (size_t q = 0; q < Q; ++q) {
          const V xq = hn::Set(d, x[static_cast<int64_t>(q) * I + k]);
          for (int g = 0; g < 4; ++g) acc[q][g] = hn::MulAdd(xq, w[g], acc[q][g]);
        }
      }
      for (size_t q = 0; q < Q; ++q)
        for (int g = 0; g < 4; ++g) hn::StoreU(acc[q][g], d, xw + static_cast<int64_t>(q) * nb * 64 + jb * 64 + g * 16 + v);
    }
  }
}

// The input projection of all `rows` rows of x ([rows, I], contiguous) at once, out of the
// recurrence: xw [rows][nb][gate][16], bias included.
void LstmInputProjBlockedF32(const float* x, int64_t rows, int64_t I, int64_t H, const float* wr, const float* bias,
                             int64_t nb, float* xw) {
  const hn::CappedTag<float, 16> d;
  const int64_t K = I + H;
  int64_t r = 0;
  for (; r + 4 <= rows; r += 4) InputProjRows<4>(d, x + r * I, I, K, wr, bias, nb, xw + r * nb * 64);
  for (; r < rows; ++r) InputProjRows<1>(d, x + r * I, I, K, wr, bias, nb, xw + r * nb * 64);
}

// NB blocks of 16 hidden units (lane offset `lane`) of one step: gates = xw + h_prev R^T, with the
// blocks' chains interleaved (and even/odd k split) so 8 * NB FMA chains are in flight; then the
// activations and the state update.
template <size_t NB, class D>
HWY_INLINE void RecurrentBlocks(D d, const float* xw, const float* HWY_RESTRICT h_prev, int64_t H,
                                const float* const (&m)[NB], int64_t lane, const int64_t (&j)[NB], float* c,
                                float* h_new) {
  using V = hn::Vec<D>;
  V a[NB][4], b[NB][4];
  for (size_t n = 0; n < NB; ++n)
    for (int g = 0; g < 4; ++g) {
      a[n][g] = hn::LoadU(d, xw + static_cast<int64_t>(n) * 64 + g * 16 + lane);
      b[n][g] = hn::Zero(d);
    }
  int64_t k = 0;
  for (; k + 1 < H; k += 2) {
    const V h0 = hn::Set(d, h_prev[k]), h1 = hn::Set(d, h_prev[k + 1]);
    for (size_t n = 0; n < NB; ++n) {
      const float* r0 = m[n] + k * 64 + lane;
      for (int g = 0; g < 4; ++g) {
        a[n][g] = hn::MulAdd(h0, hn::LoadU(d, r0 + g * 16), a[n][g]);
        b[n][g] = hn::MulAdd(h1, hn::LoadU(d, r0 + 64 + g * 16), b[n][g]);
      }
    }
  }
  if (k < H) {
    const V h0 = hn::Set(d, h_prev[k]);
    for (size_t n = 0; n < NB; ++n)
      for (int g = 0; g < 4; ++g) a[n][g] = hn::MulAdd(h0, hn::LoadU(d, m[n] + k * 64 + lane + g * 16), a[n][g]);
  }
  for (size_t n = 0; n < NB; ++n) {
    const V gi = Sigmoid(d, hn::Add(a[n][0], b[n][0])), go = Sigmoid(d, hn::Add(a[n][1], b[n][1]));
    const V gf = Sigmoid(d, hn::Add(a[n][2], b[n][2])), gc = hn::Tanh(d, hn::Add(a[n][3], b[n][3]));
    const V cn = hn::MulAdd(gf, hn::LoadU(d, c + j[n]), hn::Mul(gi, gc));
    hn::StoreU(cn, d, c + j[n]);
    hn::StoreU(hn::Mul(go, hn::Tanh(d, cn)), d, h_new + j[n]);
  }
}

// One step for one batch row with the input projection precomputed (xw_t: [nb][gate][16] of this
// row and time step): only h_prev R^T is left in the recurrence. wr is the blocked [W | R]; its R
// rows of block jb start at wr + (jb * (I + H) + I) * 64.
void LstmStepRecurrentF32(const float* xw_t, const float* h_prev, int64_t I, int64_t H, const float* wr, float* c,
                          float* h_new, int64_t nb) {
  const hn::CappedTag<float, 16> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  const int64_t K = I + H;
  int64_t jb = 0;
  for (; jb + 2 <= nb; jb += 2) {
    const float* const m[2] = {wr + (jb * K + I) * 64, wr + ((jb + 1) * K + I) * 64};
    for (int64_t v = 0; v < 16; v += L) {
      const int64_t j[2] = {jb * 16 + v, jb * 16 + 16 + v};
      RecurrentBlocks<2>(d, xw_t + jb * 64, h_prev, H, m, v, j, c, h_new);
    }
  }
  if (jb < nb) {
    const float* const m[1] = {wr + (jb * K + I) * 64};
    for (int64_t v = 0; v < 16; v += L) {
      const int64_t j[1] = {jb * 16 + v};
      RecurrentBlocks<1>(d, xw_t + jb * 64, h_prev, H, m, v, j, c, h_new);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::lstm
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/microkernels/gemm/gemm.h"
#include "kernels/ops/lstm/lstm_cell.h"

namespace edgeopt::kernels::ops::lstm {

extern const OpDef kOpDef;  // lstm.cpp: the reference forward for the cases not handled here
void lstm_f32_fast(ForwardCtx& ctx);
std::shared_ptr<const OpState> lstm_f32_prepare(const PrepareCtx& ctx);

HWY_EXPORT(LstmStepF32);
HWY_EXPORT(LstmStepFusedF32);
HWY_EXPORT(LstmInputProjBlockedF32);
HWY_EXPORT(LstmStepRecurrentF32);

void lstm_step_f32(const float* xw, int64_t xs, const float* a, float* c, float* h, int64_t B, int64_t H, int64_t hs) {
  HWY_DYNAMIC_DISPATCH(LstmStepF32)(xw, xs, a, c, h, B, H, hs);
}

namespace {

namespace mk = edgeopt::kernels::gemm;
using recurrent::Activation;
using recurrent::RnnConfig;

constexpr int64_t kSlack = 64;  // floats of slack after each buffer: one full vector of any target
constexpr int64_t kBlock = 16;  // hidden units per block of the blocked R
// Up to this batch the fused per-row step beats a per-step GEMM (it reads R once per row).
constexpr int64_t kMaxBlockedBatch = 4;

// The GEMMs of a small RNN are tiny ([B, H] x [H, gates*H] per step); waking the pool's workers
// for each costs more than it saves until they are large.
ThreadPool* step_pool(int64_t macs) {
  static ThreadPool serial(1);
  return macs >= (int64_t{1} << 20) ? nullptr : &serial;
}

// [W | R] of one direction ([4H, I] and [4H, H]) as [nb][I + H][gate][16]: block jb, row k, gate g
// holds W[g*H + jb*16 + l, k] for k < I, then R[g*H + jb*16 + l, k - I]; zero past H.
std::vector<float> pack_wr_blocked(const float* w, int64_t I, const float* r, int64_t H) {
  const int64_t nb = (H + kBlock - 1) / kBlock, K = I + H;
  std::vector<float> out(static_cast<size_t>(nb * K * 4 * kBlock + kSlack), 0.f);
  for (int64_t jb = 0; jb < nb; ++jb)
    for (int64_t k = 0; k < K; ++k)
      for (int64_t g = 0; g < 4; ++g)
        for (int64_t l = 0; l < kBlock && jb * kBlock + l < H; ++l) {
          const int64_t row = g * H + jb * kBlock + l;
          out[static_cast<size_t>(((jb * K + k) * 4 + g) * kBlock + l)] = k < I ? w[row * I + k] : r[row * H + k - I];
        }
  return out;
}

// Wb + Rb ([4H]) as [nb][gate][16], zero past H.
std::vector<float> pack_bias_blocked(const std::vector<float>& bias, int64_t H) {
  const int64_t nb = (H + kBlock - 1) / kBlock;
  std::vector<float> out(static_cast<size_t>(nb * 4 * kBlock + kSlack), 0.f);
  for (int64_t jb = 0; jb < nb; ++jb)
    for (int64_t g = 0; g < 4; ++g)
      for (int64_t l = 0; l < kBlock && jb * kBlock + l < H; ++l)
        out[static_cast<size_t>((jb * 4 + g) * kBlock + l)] = bias[static_cast<size_t>(g * H + jb * kBlock + l)];
  return out;
}

// What prepare computes once per node from constant W, R (and B): per direction W^T packed for the
// input GEMM, R^T packed for the per-step GEMM and Wb + Rb (larger batches), [W | R] and the bias
// in blocks for the fused step (small batches).
struct LstmPackedState : OpState {
  const void* w_raw = nullptr;
  const void* r_raw = nullptr;
  const void* b_raw = nullptr;  // null: no bias input
  Shape w_shape, r_shape;
  std::vector<mk::PackedMatrix> w_packed, r_packed;
  std::vector<std::vector<float>> bias, wr_blocked, bias_blocked;
};

bool fast_path_ok(const ForwardCtx& ctx, const RnnConfig& cfg) {
  if (ctx.training) return false;
  for (size_t i = 0; i < 7 && i < ctx.in.size(); ++i)
    if (ctx.in[i].defined() && i != 4 && ctx.in[i].dtype() != DType::kF32) return false;
  if (recurrent::optional_input(ctx.in, 7)) return false;  // peepholes
  if (cfg.clip != 0.f || ctx.node.attr_int("input_forget", 0) != 0) return false;
  if (!recurrent::activations_are(cfg, {Activation::Kind::kSigmoid, Activation::Kind::kTanh, Activation::Kind::kTanh}))
    return false;
  if (cfg.seq <= 0 || cfg.batch <= 0 || cfg.hidden <= 0 || cfg.input <= 0) return false;
  return std::all_of(cfg.lens.begin(), cfg.lens.end(), [&](int64_t l) { return l == cfg.seq; });
}

// The state, when it was built from exactly these W, R and B tensors.
const LstmPackedState* matching_state(const ForwardCtx& ctx) {
  const auto* st = dynamic_cast<const LstmPackedState*>(ctx.state);
  if (!st) return nullptr;
  const Tensor* b = recurrent::optional_input(ctx.in, 3);
  if (st->w_raw != ctx.in[1].raw() || st->r_raw != ctx.in[2].raw() || st->w_shape != ctx.in[1].shape() ||
      st->r_shape != ctx.in[2].shape() || st->b_raw != (b ? b->raw() : nullptr))
    return nullptr;
  return st;
}

}  // namespace

std::shared_ptr<const OpState> lstm_f32_prepare(const PrepareCtx& ctx) {
  if (ctx.in.size() < 3) return nullptr;
  const Tensor& w = ctx.in[1];
  const Tensor& r = ctx.in[2];
  const Tensor* b = recurrent::optional_input(ctx.in, 3);
  const bool bias_input = ctx.node.inputs.size() > 3 && !ctx.node.inputs[3].empty();
  if (!w.defined() || !r.defined() || (bias_input && !b)) return nullptr;  // weights fed at run time
  if (w.dtype() != DType::kF32 || r.dtype() != DType::kF32 || (b && b->dtype() != DType::kF32)) return nullptr;
  if (w.rank() != 3 || r.rank() != 3) return nullptr;  // the forward reports it
  const int64_t dirs = w.shape()[0], G = w.shape()[1], I = w.shape()[2];
  const int64_t H = ctx.node.attr_int("hidden_size", 0);
  if (H <= 0 || G != 4 * H || I <= 0 || r.shape() != Shape{dirs, G, H}) return nullptr;
  if (b && (b->rank() != 2 || b->shape() != Shape{dirs, 2 * G})) return nullptr;
  auto st = std::make_shared<LstmPackedState>();
  st->w_raw = w.raw();
  st->r_raw = r.raw();
  st->b_raw = b ? b->raw() : nullptr;
  st->w_shape = w.shape();
  st->r_shape = r.shape();
  for (int64_t d = 0; d < dirs; ++d) {
    const float* wd = w.data<float>() + d * G * I;
    const float* rd = r.data<float>() + d * G * H;
    st->w_packed.push_back(mk::pack_b_f32(true, I, G, wd, I));
    st->r_packed.push_back(mk::pack_b_f32(true, H, G, rd, H));
    st->wr_blocked.push_back(pack_wr_blocked(wd, I, rd, H));
    std::vector<float> bias(static_cast<size_t>(G), 0.f);
    if (b) {
      const float* bd = b->data<float>() + d * 2 * G;
      for (int64_t k = 0; k < G; ++k) bias[k] = bd[k] + bd[G + k];
    }
    st->bias_blocked.push_back(pack_bias_blocked(bias, H));
    st->bias.push_back(std::move(bias));
  }
  return st;
}


void lstm_f32_fast(ForwardCtx& ctx) {
  const RnnConfig cfg = recurrent::read_rnn_config(ctx.node, ctx.in, 4, {"Sigmoid", "Tanh", "Tanh"});
  if (!fast_path_ok(ctx, cfg)) return kOpDef.forward(ctx);
  const LstmPackedState* st = matching_state(ctx);
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, B = cfg.batch, G = 4 * H;
  const int64_t nb = (H + kBlock - 1) / kBlock;
  const int64_t hs = nb * kBlock + kSlack;  // state row stride: whole blocks plus a vector of slack
  const bool fused = st && B <= kMaxBlockedBatch;
  const float* x = ctx.in[0].data<float>();
  const float* w_all = ctx.in[1].data<float>();
  const float* r_all = ctx.in[2].data<float>();
  const Tensor* b_in = recurrent::optional_input(ctx.in, 3);

  const bool want_y = !ctx.node.outputs.empty() && !ctx.node.outputs[0].empty();
  LstmOutputs out(cfg, want_y);
  Tensor& y = out.y;

  // One scratch allocation: h (two buffers for the fused step), c, and for the GEMM path XW, the
  // per-step GEMM's output and the summed bias.
  const int64_t n_state = B * hs;
  const int64_t n_xw = fused ? 0 : S * B * G + kSlack, n_acc = fused ? 0 : B * G + kSlack;
  // The fused step with the input projection hoisted out of the recurrence when X's rows (t, b)
  // are contiguous in that order (layout 0, or batch 1): xw_blocked [S * B][nb][gate][16].
  const bool hoist = fused && (cfg.layout == 0 || B == 1);
  const int64_t n_xwb = hoist ? S * B * nb * 64 + kSlack : 0;
  std::vector<float> scratch(static_cast<size_t>(3 * n_state + n_xw + n_acc + (fused ? 0 : G) + n_xwb));
  float* h = scratch.data();
  float* h_next = h + n_state;
  float* c = h_next + n_state;
  float* xw = c + n_state;
  float* acc = xw + n_xw;
  float* bias = acc + n_acc;
  float* xw_blocked = hoist ? bias + (fused ? 0 : G) : nullptr;
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    lstm_init_state(cfg, ctx.in, d, hs, h, c);
    if (fused && xw_blocked) {
      const float* wr = st->wr_blocked[d].data();
      HWY_DYNAMIC_DISPATCH(LstmInputProjBlockedF32)(x, S * B, I, H, wr, st->bias_blocked[d].data(), nb, xw_blocked);
      const auto step_rec = HWY_DYNAMIC_DISPATCH(LstmStepRecurrentF32);
      for (int64_t s = 0; s < S; ++s) {
        const int64_t t = cfg.is_reverse(d) ? S - 1 - s : s;
        for (int64_t b = 0; b < B; ++b) {
          step_rec(xw_blocked + (t * B + b) * nb * 64, h + b * hs, I, H, wr, c + b * hs, h_next + b * hs, nb);
          if (want_y) std::copy_n(h_next + b * hs, H, y.data<float>() + cfg.y_off(t, d, b));
        }
        std::swap(h, h_next);
      }
    } else if (fused) {
      const auto step_fused = HWY_DYNAMIC_DISPATCH(LstmStepFusedF32);
      const float* wr = st->wr_blocked[d].data();
      const float* bb = st->bias_blocked[d].data();
      for (int64_t s = 0; s < S; ++s) {
        const int64_t t = cfg.is_reverse(d) ? S - 1 - s : s;
        for (int64_t b = 0; b < B; ++b) {
          step_fused(x + cfg.x_off(t, b), I, h + b * hs, H, wr, bb, c + b * hs, h_next + b * hs, nb);
          if (want_y) std::copy_n(h_next + b * hs, H, y.data<float>() + cfg.y_off(t, d, b));
        }
        std::swap(h, h_next);
      }
    } else {
      const auto step = HWY_DYNAMIC_DISPATCH(LstmStepF32);
      const float* w = w_all + d * G * I;
      const float* r = r_all + d * G * H;
      mk::GemmEpilogue ep;
      if (st) {
        if (b_in) ep.col_bias = st->bias[d].data();
      } else if (b_in) {
        const float* wb = b_in->data<float>() + d * 2 * G;
        for (int64_t k = 0; k < G; ++k) bias[k] = wb[k] + wb[G + k];
        ep.col_bias = bias;
      }
      // Rows of X (and so of XW) are (t, b) in layout 0 and (b, t) in layout 1.
      if (st) mk::gemm_f32_packed_b(false, S * B, 1.f, x, I, st->w_packed[d], 0.f, xw, G, ep, step_pool(S * B * G * I));
      else mk::gemm_f32(false, true, S * B, G, I, 1.f, x, I, w, I, 0.f, xw, G, ep, step_pool(S * B * G * I));
      const mk::PackedMatrix pr_here = st ? mk::PackedMatrix() : mk::pack_b_f32(true, H, G, r, H);
      const mk::PackedMatrix& pr = st ? st->r_packed[d] : pr_here;
      ThreadPool* pool = step_pool(B * G * H);
      const int64_t xs = cfg.layout == 0 ? G : S * G;  // XW row stride between batch entries
      for (int64_t s = 0; s < S; ++s) {
        const int64_t t = cfg.is_reverse(d) ? S - 1 - s : s;
        const float* xw_t = xw + (cfg.layout == 0 ? t * B : t) * G;
        mk::gemm_f32_packed_b(false, B, 1.f, h, hs, pr, 0.f, acc, G, {}, pool);
        step(xw_t, xs, acc, c, h, B, H, hs);
        if (want_y)
          for (int64_t b = 0; b < B; ++b) std::copy_n(h + b * hs, H, y.data<float>() + cfg.y_off(t, d, b));
      }
    }
    out.store_state(cfg, d, hs, h, c);
  }
  out.publish(ctx);
}

}  // namespace edgeopt::kernels::ops::lstm
#endif  // HWY_ONCE

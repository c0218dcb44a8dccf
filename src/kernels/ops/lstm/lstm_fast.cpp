// Fast LSTM forward for the common case: default activations (Sigmoid, Tanh, Tanh), no clip, no
// peepholes, input_forget=0, full-length sequences, inference. Per direction:
//   XW[T*B, 4H] = X W^T + (Wb + Rb)           one GEMM over all time steps (bias added once)
//   per step:  A[B, 4H] = h R^T               one GEMM against R^T packed once
//              gates = XW_t + A -> i, o, f, c activations and the state update, vectorized
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

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::lstm
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/microkernels/gemm/gemm.h"
#include "kernels/ops/rnn/rnn_common.h"

namespace edgeopt::kernels::ops::lstm {

extern const OpDef kOpDef;  // lstm.cpp: the reference forward for the cases not handled here
void lstm_f32_fast(ForwardCtx& ctx);

HWY_EXPORT(LstmStepF32);

namespace {

namespace mk = edgeopt::kernels::gemm;
using recurrent::Activation;
using recurrent::RnnConfig;

constexpr int64_t kSlack = 64;  // floats of slack after each buffer: one full vector of any target

// The GEMMs of a small RNN are tiny ([B, H] x [H, gates*H] per step); waking the pool's workers
// for each costs more than it saves until they are large.
ThreadPool* step_pool(int64_t macs) {
  static ThreadPool serial(1);
  return macs >= (int64_t{1} << 20) ? nullptr : &serial;
}

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

}  // namespace

void lstm_f32_fast(ForwardCtx& ctx) {
  const RnnConfig cfg = recurrent::read_rnn_config(ctx.node, ctx.in, 4, {"Sigmoid", "Tanh", "Tanh"});
  if (!fast_path_ok(ctx, cfg)) return kOpDef.forward(ctx);
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, B = cfg.batch, G = 4 * H;
  const int64_t hs = H + kSlack;  // state row stride
  const float* x = ctx.in[0].data<float>();
  const float* w_all = ctx.in[1].data<float>();
  const float* r_all = ctx.in[2].data<float>();
  const Tensor* b_in = recurrent::optional_input(ctx.in, 3);
  const Tensor* h0_in = recurrent::optional_input(ctx.in, 5);
  const Tensor* c0_in = recurrent::optional_input(ctx.in, 6);

  auto named = [&](size_t i) { return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty(); };
  Tensor y(DType::kF32, cfg.y_shape());  // every step of every sequence is written
  Tensor y_h(DType::kF32, cfg.state_shape()), y_c(DType::kF32, cfg.state_shape());

  std::vector<float> xw(static_cast<size_t>(S * B * G + kSlack));
  std::vector<float> acc(static_cast<size_t>(B * G + kSlack));
  std::vector<float> h(static_cast<size_t>(B * hs)), c(static_cast<size_t>(B * hs)), bias(static_cast<size_t>(G));
  const auto step = HWY_DYNAMIC_DISPATCH(LstmStepF32);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const float* w = w_all + d * G * I;
    const float* r = r_all + d * G * H;
    mk::GemmEpilogue ep;
    if (b_in) {
      const float* wb = b_in->data<float>() + d * 2 * G;
      for (int64_t k = 0; k < G; ++k) bias[k] = wb[k] + wb[G + k];
      ep.col_bias = bias.data();
    }
    // Rows of X (and so of XW) are (t, b) in layout 0 and (b, t) in layout 1.
    mk::gemm_f32(false, true, S * B, G, I, 1.f, x, I, w, I, 0.f, xw.data(), G, ep,
                 step_pool(S * B * G * I));
    const mk::PackedMatrix pr = mk::pack_b_f32(true, H, G, r, H);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t so = cfg.state_off(d, b);
      for (int64_t j = 0; j < H; ++j) {
        h[b * hs + j] = h0_in ? h0_in->data<float>()[so + j] : 0.f;
        c[b * hs + j] = c0_in ? c0_in->data<float>()[so + j] : 0.f;
      }
    }
    ThreadPool* pool = step_pool(B * G * H);
    for (int64_t s = 0; s < S; ++s) {
      const int64_t t = cfg.is_reverse(d) ? S - 1 - s : s;
      const float* xw_t = xw.data() + (cfg.layout == 0 ? t * B : t) * G;
      const int64_t xs = cfg.layout == 0 ? G : S * G;
      mk::gemm_f32_packed_b(false, B, 1.f, h.data(), hs, pr, 0.f, acc.data(), G, {}, pool);
      step(xw_t, xs, acc.data(), c.data(), h.data(), B, H, hs);
      for (int64_t b = 0; b < B; ++b) std::copy_n(h.data() + b * hs, H, y.data<float>() + cfg.y_off(t, d, b));
    }
    for (int64_t b = 0; b < B; ++b) {
      const int64_t so = cfg.state_off(d, b);
      std::copy_n(h.data() + b * hs, H, y_h.data<float>() + so);
      std::copy_n(c.data() + b * hs, H, y_c.data<float>() + so);
    }
  }
  if (ctx.out.size() < ctx.node.outputs.size()) ctx.out.resize(ctx.node.outputs.size());
  if (named(0)) ctx.out[0] = y;
  if (named(1)) ctx.out[1] = y_h;
  if (named(2)) ctx.out[2] = y_c;
}

}  // namespace edgeopt::kernels::ops::lstm
#endif  // HWY_ONCE

// Fast GRU forward for the common case: default activations (Sigmoid, Tanh), no clip, full-length
// sequences, inference, either linear_before_reset. Per direction:
//   XW[T*B, 3H] = X W^T + bias                 one GEMM over all time steps (bias added once:
//                                               Wb + Rb, except Rb_h when linear_before_reset=1)
//   per step, linear_before_reset = 0:  A_zr = h R_zr^T;  z, r, u = r*h;  A_h = u R_h^T
//             linear_before_reset = 1:  A = h R^T + [0, 0, Rb_h];  z, r, u = r
//   hh = tanh(XW_h + (lbr ? u * A_h : A_h)),  h' = (1 - z) hh + z h
// Everything else (and training mode, which saves what the backward needs) goes to the reference
// forward, so behaviour is identical. Results match the reference within f32 rounding.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/gru/gru_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"
#include "hwy/contrib/math/math-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::gru {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

template <class D, class V>
HWY_INLINE V Sigmoid(D d, V v) {
  const V one = hn::Set(d, 1.f);
  const V e = hn::Exp(d, hn::Neg(hn::Abs(v)));  // in (0, 1]: never overflows
  const V s = hn::Div(one, hn::Add(one, e));
  return hn::IfThenElse(hn::Ge(v, hn::Zero(d)), s, hn::Mul(e, s));
}

// z and r for B rows: xw rows (stride xs) and a rows (stride as) hold [z, r, ...] pre-activations;
// writes z and u = (lbr ? r : r * h) into [B, hs] rows. Whole vectors: every row has a vector of
// slack after its H elements (padding lanes hold garbage, never read back).
void GruZrF32(const float* xw, int64_t xs, const float* a, int64_t as, const float* h, float* z, float* u, int64_t B,
              int64_t H, int64_t hs, bool lbr) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t b = 0; b < B; ++b) {
    const float* x = xw + b * xs;
    const float* r = a + b * as;
    for (int64_t j = 0; j < H; j += L) {
      const auto gz = Sigmoid(d, hn::Add(hn::LoadU(d, x + j), hn::LoadU(d, r + j)));
      const auto gr = Sigmoid(d, hn::Add(hn::LoadU(d, x + H + j), hn::LoadU(d, r + H + j)));
      hn::StoreU(gz, d, z + b * hs + j);
      hn::StoreU(lbr ? gr : hn::Mul(gr, hn::LoadU(d, h + b * hs + j)), d, u + b * hs + j);
    }
  }
}

// hh and the state update: xw_h rows (stride xs), a_h rows (stride as) hold the h-gate parts.
void GruHF32(const float* xw_h, int64_t xs, const float* a_h, int64_t as, const float* z, const float* u, float* h,
             int64_t B, int64_t H, int64_t hs, bool lbr) {
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  for (int64_t b = 0; b < B; ++b) {
    const float* x = xw_h + b * xs;
    const float* r = a_h + b * as;
    for (int64_t j = 0; j < H; j += L) {
      const auto lin = hn::LoadU(d, r + j);
      const auto rec = lbr ? hn::Mul(hn::LoadU(d, u + b * hs + j), lin) : lin;
      const auto hh = hn::Tanh(d, hn::Add(hn::LoadU(d, x + j), rec));
      const auto gz = hn::LoadU(d, z + b * hs + j);
      const auto hp = hn::LoadU(d, h + b * hs + j);
      // (1 - z) hh + z h = hh + z (h - hh)
      hn::StoreU(hn::MulAdd(gz, hn::Sub(hp, hh), hh), d, h + b * hs + j);
    }
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::gru
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/microkernels/gemm/gemm.h"
#include "kernels/ops/gru/gru_cell.h"

namespace edgeopt::kernels::ops::gru {

extern const OpDef kOpDef;  // gru.cpp: the reference forward for the cases not handled here
void gru_f32_fast(ForwardCtx& ctx);

HWY_EXPORT(GruZrF32);
HWY_EXPORT(GruHF32);

void gru_zr_step_f32(const float* xw, int64_t xs, const float* a, int64_t as, const float* h, float* z, float* u,
                     int64_t B, int64_t H, int64_t hs, bool lbr) {
  HWY_DYNAMIC_DISPATCH(GruZrF32)(xw, xs, a, as, h, z, u, B, H, hs, lbr);
}

void gru_h_step_f32(const float* xw_h, int64_t xs, const float* a_h, int64_t as, const float* z, const float* u,
                    float* h, int64_t B, int64_t H, int64_t hs, bool lbr) {
  HWY_DYNAMIC_DISPATCH(GruHF32)(xw_h, xs, a_h, as, z, u, h, B, H, hs, lbr);
}

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
  for (size_t i = 0; i < 6 && i < ctx.in.size(); ++i)
    if (ctx.in[i].defined() && i != 4 && ctx.in[i].dtype() != DType::kF32) return false;
  if (cfg.clip != 0.f) return false;
  if (!recurrent::activations_are(cfg, {Activation::Kind::kSigmoid, Activation::Kind::kTanh})) return false;
  if (cfg.seq <= 0 || cfg.batch <= 0 || cfg.hidden <= 0 || cfg.input <= 0) return false;
  return std::all_of(cfg.lens.begin(), cfg.lens.end(), [&](int64_t l) { return l == cfg.seq; });
}

}  // namespace

void gru_f32_fast(ForwardCtx& ctx) {
  const RnnConfig cfg = recurrent::read_rnn_config(ctx.node, ctx.in, 3, {"Sigmoid", "Tanh"});
  if (!fast_path_ok(ctx, cfg)) return kOpDef.forward(ctx);
  const bool lbr = ctx.node.attr_int("linear_before_reset", 0) != 0;
  const int64_t H = cfg.hidden, I = cfg.input, S = cfg.seq, B = cfg.batch, G = 3 * H;
  const int64_t hs = H + kSlack;  // state row stride
  const float* x = ctx.in[0].data<float>();
  const float* w_all = ctx.in[1].data<float>();
  const float* r_all = ctx.in[2].data<float>();
  const Tensor* b_in = recurrent::optional_input(ctx.in, 3);
  const Tensor* h0_in = recurrent::optional_input(ctx.in, 5);

  auto named = [&](size_t i) { return i < ctx.node.outputs.size() && !ctx.node.outputs[i].empty(); };
  Tensor y(DType::kF32, cfg.y_shape());  // every step of every sequence is written
  Tensor y_h(DType::kF32, cfg.state_shape());

  std::vector<float> xw(static_cast<size_t>(S * B * G + kSlack));
  std::vector<float> acc(static_cast<size_t>(B * G + kSlack)), acc_h(static_cast<size_t>(B * H + kSlack));
  std::vector<float> h(static_cast<size_t>(B * hs)), z(static_cast<size_t>(B * hs)), u(static_cast<size_t>(B * hs));
  std::vector<float> bias(static_cast<size_t>(G)), rb_h(static_cast<size_t>(G));
  const auto zr_step = HWY_DYNAMIC_DISPATCH(GruZrF32);
  const auto h_step = HWY_DYNAMIC_DISPATCH(GruHF32);
  for (int64_t d = 0; d < cfg.dirs; ++d) {
    const float* w = w_all + d * G * I;
    const float* r = r_all + d * G * H;
    mk::GemmEpilogue ep, ep_rec;
    if (b_in) {
      const float* wb = b_in->data<float>() + d * 2 * G;
      for (int64_t k = 0; k < G; ++k) bias[k] = wb[k] + (lbr && k >= 2 * H ? 0.f : wb[G + k]);
      for (int64_t k = 0; k < G; ++k) rb_h[k] = k >= 2 * H ? wb[G + k] : 0.f;
      ep.col_bias = bias.data();
      if (lbr) ep_rec.col_bias = rb_h.data();
    }
    // Rows of X (and so of XW) are (t, b) in layout 0 and (b, t) in layout 1.
    mk::gemm_f32(false, true, S * B, G, I, 1.f, x, I, w, I, 0.f, xw.data(), G, ep,
                 step_pool(S * B * G * I));
    // lbr: all of R at once; else R_zr and R_h separately (R_h multiplies r * h).
    const mk::PackedMatrix p_all = lbr ? mk::pack_b_f32(true, H, G, r, H) : mk::PackedMatrix();
    const mk::PackedMatrix p_zr = lbr ? mk::PackedMatrix() : mk::pack_b_f32(true, H, 2 * H, r, H);
    const mk::PackedMatrix p_h = lbr ? mk::PackedMatrix() : mk::pack_b_f32(true, H, H, r + 2 * H * H, H);
    for (int64_t b = 0; b < B; ++b) {
      const int64_t so = cfg.state_off(d, b);
      for (int64_t j = 0; j < H; ++j) h[b * hs + j] = h0_in ? h0_in->data<float>()[so + j] : 0.f;
    }
    ThreadPool* pool = step_pool(B * G * H);
    for (int64_t s = 0; s < S; ++s) {
      const int64_t t = cfg.is_reverse(d) ? S - 1 - s : s;
      const float* xw_t = xw.data() + (cfg.layout == 0 ? t * B : t) * G;
      const int64_t xs = cfg.layout == 0 ? G : S * G;
      if (lbr) {
        mk::gemm_f32_packed_b(false, B, 1.f, h.data(), hs, p_all, 0.f, acc.data(), G, ep_rec, pool);
        zr_step(xw_t, xs, acc.data(), G, h.data(), z.data(), u.data(), B, H, hs, true);
        h_step(xw_t + 2 * H, xs, acc.data() + 2 * H, G, z.data(), u.data(), h.data(), B, H, hs, true);
      } else {
        mk::gemm_f32_packed_b(false, B, 1.f, h.data(), hs, p_zr, 0.f, acc.data(), 2 * H, {}, pool);
        zr_step(xw_t, xs, acc.data(), 2 * H, h.data(), z.data(), u.data(), B, H, hs, false);
        mk::gemm_f32_packed_b(false, B, 1.f, u.data(), hs, p_h, 0.f, acc_h.data(), H, {}, pool);
        h_step(xw_t + 2 * H, xs, acc_h.data(), H, z.data(), u.data(), h.data(), B, H, hs, false);
      }
      for (int64_t b = 0; b < B; ++b) std::copy_n(h.data() + b * hs, H, y.data<float>() + cfg.y_off(t, d, b));
    }
    for (int64_t b = 0; b < B; ++b) std::copy_n(h.data() + b * hs, H, y_h.data<float>() + cfg.state_off(d, b));
  }
  if (ctx.out.size() < ctx.node.outputs.size()) ctx.out.resize(ctx.node.outputs.size());
  if (named(0)) ctx.out[0] = y;
  if (named(1)) ctx.out[1] = y_h;
}

}  // namespace edgeopt::kernels::ops::gru
#endif  // HWY_ONCE

// Per-target depthwise kernel: outputs vectorized along the row, taps as broadcast-FMAs over
// contiguous loads from stride-phase planes.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/microkernels/conv/dwconv_hwy.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/aligned_allocator.h"
#include "hwy/highway.h"

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/microkernels/conv/dwconv.h"
#include "kernels/microkernels/transpose16_hwy-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::microkernels {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using D = hn::ScalableTag<float>;
using V = hn::Vec<D>;
constexpr int64_t kL = static_cast<int64_t>(hn::MaxLanes(D()));

// See gemm_hwy.cpp: only AVX2/AVX-512 masked accesses leave the masked-off lanes untouched.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
constexpr bool kHwMask = true;
#else
constexpr bool kHwMask = false;
#endif

void store_partial(V x, float* p, int64_t n) {
  const D d;
  if constexpr (kHwMask) {
    hn::BlendedStore(x, hn::FirstN(d, static_cast<size_t>(n)), d, p);
  } else {
    HWY_ALIGN float buf[kL];
    hn::Store(x, d, buf);
    for (int64_t i = 0; i < n; ++i) p[i] = buf[i];
  }
}

// One output channel's rows from the phase planes; TAPS > 0 fixes the tap count at compile time so
// the weights stay in registers (3x3: 9 broadcasts per channel instead of 9 per vector).
template <int TAPS>
void dw_rows(const DwConv2dGeometry& g, const float* phases, int64_t wq, const int64_t* tap_off_in, int64_t taps_rt,
             const float* wo, float bias, float* yo, float lo, float hi) {
  const D d;
  const int64_t taps = TAPS > 0 ? TAPS : taps_rt;
  constexpr int kHoist = TAPS > 0 ? TAPS : 1;
  V wv[kHoist];
  int64_t offs[kHoist];  // local copies: the compiler keeps them in registers across the rows
  const int64_t* tap_off = tap_off_in;
  if constexpr (TAPS > 0) {
    for (int t = 0; t < TAPS; ++t) wv[t] = hn::Set(d, wo[t]), offs[t] = tap_off_in[t];
    tap_off = offs;
  }
  auto wt = [&](int64_t t) { return TAPS > 0 ? wv[t] : hn::Set(d, wo[t]); };
  const V vb = hn::Set(d, bias), vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  for (int64_t r = 0; r < g.oh; ++r) {
    const float* base = phases + r * g.sh * wq;
    float* yr = yo + r * g.ow;
    int64_t c = 0;
    // Two vectors per step, each as two chains (even and odd taps): four independent FMA chains
    // cover the FMA latency (two chains of 9 taps ran at half the FMA throughput).
    for (; c + 2 * kL <= g.ow; c += 2 * kL) {
      V acc0 = vb, acc1 = vb, odd0 = hn::Zero(d), odd1 = hn::Zero(d);
      int64_t t = 0;
      for (; t + 1 < taps; t += 2) {
        const float* src = base + tap_off[t] + c;
        const float* src2 = base + tap_off[t + 1] + c;
        acc0 = hn::MulAdd(wt(t), hn::LoadU(d, src), acc0);
        acc1 = hn::MulAdd(wt(t), hn::LoadU(d, src + kL), acc1);
        odd0 = hn::MulAdd(wt(t + 1), hn::LoadU(d, src2), odd0);
        odd1 = hn::MulAdd(wt(t + 1), hn::LoadU(d, src2 + kL), odd1);
      }
      if (t < taps) {
        const float* src = base + tap_off[t] + c;
        acc0 = hn::MulAdd(wt(t), hn::LoadU(d, src), acc0);
        acc1 = hn::MulAdd(wt(t), hn::LoadU(d, src + kL), acc1);
      }
      hn::StoreU(hn::Min(hn::Max(hn::Add(acc0, odd0), vlo), vhi), d, yr + c);
      hn::StoreU(hn::Min(hn::Max(hn::Add(acc1, odd1), vlo), vhi), d, yr + c + kL);
    }
    for (; c < g.ow; c += kL) {
      V acc = vb, odd = hn::Zero(d);
      int64_t t = 0;
      for (; t + 1 < taps; t += 2) {
        acc = hn::MulAdd(wt(t), hn::LoadU(d, base + tap_off[t] + c), acc);
        odd = hn::MulAdd(wt(t + 1), hn::LoadU(d, base + tap_off[t + 1] + c), odd);
      }
      if (t < taps) acc = hn::MulAdd(wt(t), hn::LoadU(d, base + tap_off[t] + c), acc);
      acc = hn::Min(hn::Max(hn::Add(acc, odd), vlo), vhi);
      if (c + kL <= g.ow)
        hn::StoreU(acc, d, yr + c);
      else
        store_partial(acc, yr + c, g.ow - c);
    }
  }
}

#if HWY_TARGET != HWY_AVX3 && HWY_TARGET != HWY_AVX3_DL
// 3x3, stride 1, dilation 1, one pixel of padding on every side (out = in): the plane is one flat
// vector of H*W outputs, so a vector may span rows and no lane is wasted at row ends (7x7 and
// 14x14 planes fill 77% and 98% of the lanes instead of 44% and 88%). Tap (a, b) of flat output o
// reads flat input o + (a-1)*W + (b-1); a left/right tap that wraps into the neighbouring row is
// zeroed by a column mask, rows above/below the plane read as zeros (masked loads), and every
// other vector loads straight from x (no plane copy).
// Left, centre and right taps are three independent FMA chains.
void Dw3x3S1P1Plane(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                    float* y, float lo, float hi) {
  const D d;
  const hn::RebindToSigned<D> di;
  using VI = hn::Vec<decltype(di)>;
  const int64_t wd = g.iw, n = g.ih * g.iw, pad = wd + 1;
  // Vectors starting at o in [safe_lo, safe_hi] read only [0, n) and load straight from x.
  const int64_t safe_lo = (pad + kL - 1) / kL * kL;
  const int64_t safe_hi = n - kL - pad;  // last safe start (may be < safe_lo: then none is safe)
  const int64_t last = (n - 1) / kL * kL;  // start of the last (maybe partial) vector
  // On AVX2/AVX-512 the edge vectors use masked loads (masked-off lanes are neither read nor
  // faulted); elsewhere they read ext[f + pad] = x[f] (0 outside [0, n)), a scalar-filled copy of
  // the flat ranges they touch.
  [[maybe_unused]] float* ext = nullptr;
  if constexpr (!kHwMask) {
    thread_local std::vector<float> ext_buf;
    const size_t ext_floats = static_cast<size_t>(n + 2 * pad + 2 * kL);
    if (ext_buf.size() < ext_floats) ext_buf.resize(ext_floats);
    ext = ext_buf.data();
    auto fill = [&](int64_t f0, int64_t f1) {
      f0 = std::max(f0, -pad);
      f1 = std::min(f1, n + pad + 2 * kL);
      for (int64_t f = f0; f < f1; ++f) ext[f + pad] = f >= 0 && f < n ? x[f] : 0.f;
    };
    const int64_t tail0 = safe_hi >= safe_lo ? std::max(safe_lo, (safe_hi / kL + 1) * kL) : safe_lo;
    fill(-pad, std::min(safe_lo, last + kL) + pad);
    if (tail0 <= last) fill(tail0 - pad, last + kL + pad);
  }
  // The bulk loop reads src + o for vectors o in [bulk_lo, bulk_hi]. Small planes (<= 1024
  // outputs: every vector of a 7x7 plane is an edge vector) are first copied, with whole vectors,
  // between zero margins, so all their vectors take the bulk loop (7x7 planes: 72 -> 58 ns).
  const float* src = x;
  int64_t bulk_lo = safe_lo, bulk_hi = safe_hi;
#if HWY_TARGET == HWY_AVX2
  if (n <= 1024) {
    const int64_t front = (pad + kL - 1) / kL * kL, body = (n + kL - 1) / kL * kL;
    const int64_t back = front + kL;
    thread_local std::vector<float> small_buf;
    if (small_buf.size() < static_cast<size_t>(front + body + back))
      small_buf.resize(static_cast<size_t>(front + body + back));
    float* sp = small_buf.data() + front;
    for (int64_t i = -front; i < 0; i += kL) hn::StoreU(hn::Zero(d), d, sp + i);
    for (int64_t i = body; i < body + back; i += kL) hn::StoreU(hn::Zero(d), d, sp + i);
    for (int64_t f = 0; f < n; f += kL)  // the last vector's lanes past n load as zeros
      hn::StoreU(hn::MaskedLoad(hn::FirstN(d, static_cast<size_t>(std::min(kL, n - f))), d, x + f), d, sp + f);
    src = sp;
    bulk_lo = 0;
    bulk_hi = last;
  }
#endif
  const VI vw = hn::Set(di, static_cast<int32_t>(wd)), vzero = hn::Zero(di);
  const VI vlast = hn::Set(di, static_cast<int32_t>(wd - 1));
  const VI vstep = hn::Set(di, static_cast<int32_t>(kL % wd));
  // Column of each lane of the first vector (lanes may wrap several rows when W < L).
  HWY_ALIGN int32_t col0[kL];
  // (Counted, not l % wd: sixteen integer divisions per plane were a third of a 7x7 plane's time.)
  for (int64_t l = 0, c = 0; l < kL; ++l, c = c + 1 == wd ? 0 : c + 1) col0[l] = static_cast<int32_t>(c);
  const V vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  for (int64_t oc = 0; oc < outs; ++oc) {
    const float* wo = w + oc * 9;
    float* yo = y + oc * n;
    const V w00 = hn::Set(d, wo[0]), w01 = hn::Set(d, wo[1]), w02 = hn::Set(d, wo[2]);
    const V w10 = hn::Set(d, wo[3]), w11 = hn::Set(d, wo[4]), w12 = hn::Set(d, wo[5]);
    const V w20 = hn::Set(d, wo[6]), w21 = hn::Set(d, wo[7]), w22 = hn::Set(d, wo[8]);
    const V vb = hn::Set(d, bias ? bias[oc] : 0.f);
    // One vector of outputs at o; ld(k) loads flat inputs [o + k, o + k + L).
    auto vec = [&](int64_t o, VI col, auto&& ld) {
      V l = hn::Mul(w00, ld(-wd - 1));
      V c = hn::MulAdd(w01, ld(-wd), vb);
      V r = hn::Mul(w02, ld(-wd + 1));
      l = hn::MulAdd(w10, ld(-1), l);
      c = hn::MulAdd(w11, ld(0), c);
      r = hn::MulAdd(w12, ld(1), r);
      l = hn::MulAdd(w20, ld(wd - 1), l);
      c = hn::MulAdd(w21, ld(wd), c);
      r = hn::MulAdd(w22, ld(wd + 1), r);
      c = hn::Add(c, hn::IfThenElseZero(hn::RebindMask(d, hn::Gt(col, vzero)), l));
      c = hn::Add(c, hn::IfThenElseZero(hn::RebindMask(d, hn::Lt(col, vlast)), r));
      c = hn::Min(hn::Max(c, vlo), vhi);
      if (o + kL <= n)
        hn::StoreU(c, d, yo + o);
      else
        store_partial(c, yo + o, n - o);
    };
    auto next_col = [&](VI col) {  // + (L mod W), wrapping once (both terms are < W)
      col = hn::Add(col, vstep);
      return hn::IfThenElse(hn::Lt(col, vw), col, hn::Sub(col, vw));
    };
    auto edge = [&](int64_t o, VI col) {
#if HWY_TARGET == HWY_AVX2
      vec(o, col, [&](int64_t k) {
        const int64_t f = o + k;  // lanes i with 0 <= f + i < n
        const auto m = hn::AndNot(hn::FirstN(d, static_cast<size_t>(std::clamp<int64_t>(-f, 0, kL))),
                                  hn::FirstN(d, static_cast<size_t>(std::clamp<int64_t>(n - f, 0, kL))));
        return hn::MaskedLoad(m, d, x + f);
      });
#else
      const float* s = ext + pad + o;
      vec(o, col, [&](int64_t k) { return hn::LoadU(d, s + k); });
#endif
    };
    VI col = hn::Load(di, col0);
    int64_t o = 0;
    for (; o <= last && o < bulk_lo; o += kL, col = next_col(col)) edge(o, col);
    // The bulk: plain loads.
    for (; o <= bulk_hi; o += kL) {
      const float* s = src + o;
      // 8 rows ahead into L2 (as Dw3x3S2Plane: large planes come from memory); past the plane's
      // end, the next channel's plane.
      if (n > 1024 && (o & 15) == 0) __builtin_prefetch(s + 8 * wd, 0, 2);
      V l = hn::Mul(w00, hn::LoadU(d, s - wd - 1));
      V c = hn::MulAdd(w01, hn::LoadU(d, s - wd), vb);
      V r = hn::Mul(w02, hn::LoadU(d, s - wd + 1));
      l = hn::MulAdd(w10, hn::LoadU(d, s - 1), l);
      c = hn::MulAdd(w11, hn::LoadU(d, s), c);
      r = hn::MulAdd(w12, hn::LoadU(d, s + 1), r);
      l = hn::MulAdd(w20, hn::LoadU(d, s + wd - 1), l);
      c = hn::MulAdd(w21, hn::LoadU(d, s + wd), c);
      r = hn::MulAdd(w22, hn::LoadU(d, s + wd + 1), r);
      c = hn::Add(c, hn::IfThenElseZero(hn::RebindMask(d, hn::Gt(col, vzero)), l));
      c = hn::Add(c, hn::IfThenElseZero(hn::RebindMask(d, hn::Lt(col, vlast)), r));
      c = hn::Min(hn::Max(c, vlo), vhi);
      if (o + kL <= n)
        hn::StoreU(c, d, yo + o);
      else
        store_partial(c, yo + o, n - o);
      col = next_col(col);
    }
    for (; o <= last; o += kL, col = next_col(col)) edge(o, col);
  }
}
#endif  // AVX-512 has Dw3x3S1P1Avx512

// ev[i] = p[2i], od[i] = p[2i + 1] for i < L.
void deinterleave2(const float* p, float* ev, float* od) {
#if HWY_TARGET == HWY_SCALAR
  ev[0] = p[0];
  od[0] = p[1];
#else
  const D d;
  const V lo = hn::LoadU(d, p), hi = hn::LoadU(d, p + kL);
  hn::StoreU(hn::ConcatEven(d, hi, lo), d, ev);
  hn::StoreU(hn::ConcatOdd(d, hi, lo), d, od);
#endif
}

// deinterleave2 of the first `rem` (< 2L) floats at p, zeros past them: masked loads on
// AVX2/AVX-512 (a scalar-filled buffer read back as vectors stalls on store forwarding), else
// through a zeroed buffer.
void deinterleave2_partial(const float* p, int64_t rem, float* ev, float* od) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL || HWY_TARGET == HWY_AVX2
  const D d;
  const V lo = hn::MaskedLoad(hn::FirstN(d, static_cast<size_t>(std::min(rem, kL))), d, p);
  const V hi = hn::MaskedLoad(hn::FirstN(d, static_cast<size_t>(std::max<int64_t>(rem - kL, 0))), d, p + kL);
  hn::StoreU(hn::ConcatEven(d, hi, lo), d, ev);
  hn::StoreU(hn::ConcatOdd(d, hi, lo), d, od);
#else
  HWY_ALIGN float tail[2 * kL] = {};
  std::memcpy(tail, p, sizeof(float) * static_cast<size_t>(rem));
  deinterleave2(tail, ev, od);
#endif
}

// 3x3, stride 2, dilation 1, left padding 0 or 1 (any top/bottom padding): output rows are made
// from three input rows, each split once into its even and odd padded columns (a 5-row ring of
// L1-sized buffers, so every input row is deinterleaved once and no plane copy is written).
// Padded column 2c + b is E[c] (b = 0), O[c] (b = 1), E[c + 1] (b = 2): three contiguous loads
// per kernel row. Kernel rows are three independent FMA chains.
void Dw3x3S2Plane(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias, float* y,
                  float lo, float hi) {
  const D d;
  const int64_t ow_pad = (g.ow + kL - 1) / kL * kL;
  const int64_t pl = ow_pad + kL;  // E[c .. c+L] for every vector start c < ow
  thread_local std::vector<float> ring_buf;
  const int64_t buf = pl + 2 * kL;  // one E or O buffer, with slack for whole-vector stores
  constexpr int64_t kSlots = 5;
  if (ring_buf.size() < static_cast<size_t>(2 * kSlots * buf)) ring_buf.resize(static_cast<size_t>(2 * kSlots * buf));
  float* ring = ring_buf.data();
  int64_t tag[kSlots];
  std::fill(tag, tag + kSlots, INT64_MIN);
  // E/O of input row ri in slot ri mod 5: E[j] = x[ri][2j - pw], O[j] = x[ri][2j + 1 - pw], 0 outside.
  auto row_phases = [&](int64_t ri) -> const float* {
    const int64_t slot = ((ri % kSlots) + kSlots) % kSlots;
    float* e = ring + slot * 2 * buf;
    if (tag[slot] == ri) return e;
    tag[slot] = ri;
    float* od = e + buf;
    if (ri < 0 || ri >= g.ih) {
      std::memset(e, 0, sizeof(float) * 2 * buf);
      return e;
    }
    const float* src = x + ri * g.iw;
    // x[2j'], x[2j'+1] go to (pw == 0) E[j'], O[j'] or (pw == 1) O[j'], E[j'+1].
    float* ev = g.pw == 0 ? e : od;
    float* odd = g.pw == 0 ? od : e + 1;
    if (g.pw == 1) e[0] = 0.f;
    int64_t j = 0;
    for (; 2 * (j + kL) <= g.iw; j += kL) deinterleave2(src + 2 * j, ev + j, odd + j);
    // The row's last (< 2L) columns, then zeros to the buffer ends (each buffer has 2L floats of
    // slack past pl for whole-vector stores).
    deinterleave2_partial(src + 2 * j, g.iw - 2 * j, ev + j, odd + j);
    for (j += kL; j < pl; j += kL) {
      hn::StoreU(hn::Zero(d), d, ev + j);
      hn::StoreU(hn::Zero(d), d, odd + j);
    }
    return e;
  };
  const V vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  // The rows of output row r + 1 are split before row r is computed: loads right after the
  // (unaligned, overlapping) stores that wrote them would stall on store forwarding.
  row_phases(-g.ph);
  row_phases(-g.ph + 1);
  row_phases(-g.ph + 2);
  for (int64_t r = 0; r < g.oh; ++r) {
    const int64_t r0 = 2 * r - g.ph;
    // The two input rows 8 rows ahead, into L2: a large plane comes from memory (MobileNetV2's
    // 112x112 planes, just written by the expansion conv), which the hardware prefetcher alone
    // streams at well under the rate this loop consumes it. Past the plane's end this reads ahead
    // into the next channel's plane (planes are consecutive in NCHW); a prefetch never faults.
    for (int64_t f = 0; f < 2 * g.iw; f += 16) __builtin_prefetch(x + (r0 + 8) * g.iw + f, 0, 2);
    if (r + 1 < g.oh) {
      row_phases(r0 + 3);
      row_phases(r0 + 4);
    }
    const float* p0 = row_phases(r0);
    const float* p1 = row_phases(r0 + 1);
    const float* p2 = row_phases(r0 + 2);
    for (int64_t oc = 0; oc < outs; ++oc) {
      const float* wo = w + oc * 9;
      float* yr = y + (oc * g.oh + r) * g.ow;
      const V w00 = hn::Set(d, wo[0]), w01 = hn::Set(d, wo[1]), w02 = hn::Set(d, wo[2]);
      const V w10 = hn::Set(d, wo[3]), w11 = hn::Set(d, wo[4]), w12 = hn::Set(d, wo[5]);
      const V w20 = hn::Set(d, wo[6]), w21 = hn::Set(d, wo[7]), w22 = hn::Set(d, wo[8]);
      const V vb = hn::Set(d, bias ? bias[oc] : 0.f);
      for (int64_t c = 0; c < g.ow; c += kL) {
        V a0 = hn::MulAdd(w00, hn::LoadU(d, p0 + c), vb);
        V a1 = hn::Mul(w10, hn::LoadU(d, p1 + c));
        V a2 = hn::Mul(w20, hn::LoadU(d, p2 + c));
        a0 = hn::MulAdd(w01, hn::LoadU(d, p0 + buf + c), a0);
        a1 = hn::MulAdd(w11, hn::LoadU(d, p1 + buf + c), a1);
        a2 = hn::MulAdd(w21, hn::LoadU(d, p2 + buf + c), a2);
        a0 = hn::MulAdd(w02, hn::LoadU(d, p0 + c + 1), a0);
        a1 = hn::MulAdd(w12, hn::LoadU(d, p1 + c + 1), a1);
        a2 = hn::MulAdd(w22, hn::LoadU(d, p2 + c + 1), a2);
        const V acc = hn::Min(hn::Max(hn::Add(a0, hn::Add(a1, a2)), vlo), vhi);
        if (c + kL <= g.ow)
          hn::StoreU(acc, d, yr + c);
        else
          store_partial(acc, yr + c, g.ow - c);
      }
    }
  }
}

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// 3x3, stride 1, dilation 1, padding 1 (out = in), AVX-512: Dw3x3S1P1Plane's flat vectors, with
// one load per kernel row and vector instead of three. Each kernel row keeps a window of three
// consecutive vectors (previous, current, next); the left and right taps are the current vector
// moved by one lane with the neighbour's edge lane shifted in (valignd). The row loads at o - W and
// o + W and the taps at +-1 were 9 loads per output vector, most of them split over two cache
// lines. Hot in L2 both run at about 12 cycles per vector; in MobileNetV2, whose planes come from
// memory, the loads decide: features.3's 144 x 56x56 0.145 -> 0.095 ms, features.5's 192 x 28x28
// 0.055 -> 0.039 ms, the 32 x 112x112 of features.1 0.11 -> 0.096 ms.
// Flat positions outside the plane load as zeros (masked, never touched); a tap that wraps into the
// neighbouring row is masked by the lane's column, as in Dw3x3S1P1Plane.
void Dw3x3S1P1Avx512(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                     float* y, float lo, float hi) {
  const int64_t wd = g.iw, n = g.ih * g.iw;
  auto load = [&](int64_t f) {
    if (f >= 0 && f + 16 <= n) return _mm512_loadu_ps(x + f);
    const int64_t b = std::clamp<int64_t>(-f, 0, 16), e = std::clamp<int64_t>(n - f, 0, 16);
    const auto m = static_cast<__mmask16>(((1u << e) - 1) & ~((1u << b) - 1));
    return _mm512_maskz_loadu_ps(m, x + f);
  };
  alignas(64) int32_t col0[16];
  for (int64_t l = 0, c = 0; l < 16; ++l, c = c + 1 == wd ? 0 : c + 1) col0[l] = static_cast<int32_t>(c);
  const __m512i vw = _mm512_set1_epi32(static_cast<int32_t>(wd)), vzero = _mm512_setzero_si512();
  const __m512i vlast = _mm512_set1_epi32(static_cast<int32_t>(wd - 1));
  const __m512i vstep = _mm512_set1_epi32(static_cast<int32_t>(16 % wd));
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  auto shl1 = [](__m512 cur, __m512 prev) {  // lane i <- cur[i - 1], lane 0 <- prev[15]
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(cur), _mm512_castps_si512(prev), 15));
  };
  auto shr1 = [](__m512 cur, __m512 next) {  // lane i <- cur[i + 1], lane 15 <- next[0]
    return _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(next), _mm512_castps_si512(cur), 1));
  };
  for (int64_t oc = 0; oc < outs; ++oc) {
    const float* wo = w + oc * 9;
    __m512 wv[9];
    for (int t = 0; t < 9; ++t) wv[t] = _mm512_set1_ps(wo[t]);
    const __m512 vb = _mm512_set1_ps(bias ? bias[oc] : 0.f);
    float* yo = y + oc * n;
    __m512i col = _mm512_load_si512(col0);
    __m512 p0 = load(-16 - wd), p1 = load(-16), p2 = load(-16 + wd);
    __m512 c0 = load(-wd), c1 = load(0), c2 = load(wd);
    for (int64_t o = 0; o < n; o += 16) {
      // Input 16 rows ahead into L2 (as Dw3x3S1P1Plane: large planes come from memory).
      if (n > 1024 && (o & 31) == 0) __builtin_prefetch(x + o + 16 * wd, 0, 2);
      const __m512 n0 = load(o + 16 - wd), n1 = load(o + 16), n2 = load(o + 16 + wd);
      __m512 l = _mm512_mul_ps(wv[0], shl1(c0, p0));
      __m512 c = _mm512_fmadd_ps(wv[1], c0, vb);
      __m512 r = _mm512_mul_ps(wv[2], shr1(c0, n0));
      l = _mm512_fmadd_ps(wv[3], shl1(c1, p1), l);
      c = _mm512_fmadd_ps(wv[4], c1, c);
      r = _mm512_fmadd_ps(wv[5], shr1(c1, n1), r);
      l = _mm512_fmadd_ps(wv[6], shl1(c2, p2), l);
      c = _mm512_fmadd_ps(wv[7], c2, c);
      r = _mm512_fmadd_ps(wv[8], shr1(c2, n2), r);
      c = _mm512_mask_add_ps(c, _mm512_cmpgt_epi32_mask(col, vzero), c, l);
      c = _mm512_mask_add_ps(c, _mm512_cmplt_epi32_mask(col, vlast), c, r);
      c = _mm512_min_ps(_mm512_max_ps(c, vlo), vhi);
      if (o + 16 <= n)
        _mm512_storeu_ps(yo + o, c);
      else
        _mm512_mask_storeu_ps(yo + o, static_cast<__mmask16>((1u << (n - o)) - 1), c);
      p0 = c0, p1 = c1, p2 = c2;
      c0 = n0, c1 = n1, c2 = n2;
      col = _mm512_add_epi32(col, vstep);  // + (16 mod W), wrapping once (both terms are < W)
      col = _mm512_mask_sub_epi32(col, _mm512_cmpge_epi32_mask(col, vw), col, vw);
    }
  }
}

// 3x3, stride 2, dilation 1, left padding 1 (any top/bottom padding), AVX-512: the columns are
// split in registers and nothing is written but the outputs. Output columns [c, c + 16) of one
// kernel row read input columns 2c + 2i - 1, 2c + 2i, 2c + 2i + 1: two loads at 2c, whose even
// and odd lanes (one two-source permute each) are the centre and right taps, and the left tap is
// the right tap moved up one lane with the previous vector's last lane shifted in (valignd; zero
// before column 0, the padding). R output rows per step share their overlapping input row
// (R = 2: 5 input rows, 15 permutes for 2 output vectors). The ring of deinterleaved rows this
// replaces wrote as many vectors as it read, with 12 line-splitting loads per output vector: 2.0
// us per 112x112 -> 56x56 plane against 0.6 here.
template <int R>
HWY_INLINE void Dw3x3S2P1Rows512(const float* const* in, float* const* out, int64_t iw, int64_t ow, const __m512* wv,
                                 __m512 vb, __m512 vlo, __m512 vhi) {
  constexpr int kIn = 2 * R + 1;
  const __m512i ie = _mm512_set_epi32(30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i io = _mm512_set_epi32(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1);
  __m512 prev[kIn];
  for (int q = 0; q < kIn; ++q) prev[q] = _mm512_setzero_ps();
  for (int64_t c = 0; c < ow; c += 16) {
    const int64_t f = 2 * c, valid = iw - f;
    __m512 lft[kIn], ctr[kIn], rgt[kIn];
    for (int q = 0; q < kIn; ++q) {
      __m512 a0, a1;
      if (valid >= 32) {
        a0 = _mm512_loadu_ps(in[q] + f);
        a1 = _mm512_loadu_ps(in[q] + f + 16);
      } else {  // the row's end: lanes past it load as zeros (the right padding) and are not touched
        const auto m0 = static_cast<__mmask16>(valid >= 16 ? 0xffff : (1u << valid) - 1);
        const auto m1 = static_cast<__mmask16>(valid <= 16 ? 0 : (1u << (valid - 16)) - 1);
        a0 = _mm512_maskz_loadu_ps(m0, in[q] + f);
        a1 = _mm512_maskz_loadu_ps(m1, in[q] + f + 16);
      }
      ctr[q] = _mm512_permutex2var_ps(a0, ie, a1);
      rgt[q] = _mm512_permutex2var_ps(a0, io, a1);
      lft[q] = _mm512_castsi512_ps(_mm512_alignr_epi32(_mm512_castps_si512(rgt[q]), _mm512_castps_si512(prev[q]), 15));
      prev[q] = rgt[q];
    }
    for (int o = 0; o < R; ++o) {
      const int q = 2 * o;
      __m512 a0 = _mm512_fmadd_ps(wv[0], lft[q], vb);
      __m512 a1 = _mm512_mul_ps(wv[3], lft[q + 1]);
      __m512 a2 = _mm512_mul_ps(wv[6], lft[q + 2]);
      a0 = _mm512_fmadd_ps(wv[1], ctr[q], a0);
      a1 = _mm512_fmadd_ps(wv[4], ctr[q + 1], a1);
      a2 = _mm512_fmadd_ps(wv[7], ctr[q + 2], a2);
      a0 = _mm512_fmadd_ps(wv[2], rgt[q], a0);
      a1 = _mm512_fmadd_ps(wv[5], rgt[q + 1], a1);
      a2 = _mm512_fmadd_ps(wv[8], rgt[q + 2], a2);
      const __m512 v = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(a0, _mm512_add_ps(a1, a2)), vlo), vhi);
      if (c + 16 <= ow)
        _mm512_storeu_ps(out[o] + c, v);
      else
        _mm512_mask_storeu_ps(out[o] + c, static_cast<__mmask16>((1u << (ow - c)) - 1), v);
    }
  }
}

void Dw3x3S2P1Avx512(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                     float* y, float lo, float hi) {
  const int64_t iw = g.iw;
  thread_local std::vector<float> zero_buf;  // the rows above/below the input (masked loads stay inside iw)
  if (zero_buf.size() < static_cast<size_t>(iw)) zero_buf.assign(static_cast<size_t>(iw), 0.f);
  auto row = [&](int64_t ri) { return ri >= 0 && ri < g.ih ? x + ri * iw : zero_buf.data(); };
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  for (int64_t oc = 0; oc < outs; ++oc) {
    __m512 wv[9];
    for (int t = 0; t < 9; ++t) wv[t] = _mm512_set1_ps(w[oc * 9 + t]);
    const __m512 vb = _mm512_set1_ps(bias ? bias[oc] : 0.f);
    float* yo = y + oc * g.oh * g.ow;
    int64_t r = 0;
    for (; r < g.oh; r += 2) {
      const int64_t r0 = 2 * r - g.ph;
      // Input rows 24 ahead into L2: large planes come from memory (MobileNetV2's 112x112 planes,
      // just written by the expansion conv). Past the plane's end this reads into the next
      // channel's plane; a prefetch never faults.
      if (oc == 0)
        for (int64_t f = 0; f < 4 * iw; f += 16) __builtin_prefetch(x + (r0 + 24) * iw + f, 0, 2);
      if (r + 1 < g.oh) {
        const float* in[5] = {row(r0), row(r0 + 1), row(r0 + 2), row(r0 + 3), row(r0 + 4)};
        float* out[2] = {yo + r * g.ow, yo + (r + 1) * g.ow};
        Dw3x3S2P1Rows512<2>(in, out, iw, g.ow, wv, vb, vlo, vhi);
      } else {
        const float* in[3] = {row(r0), row(r0 + 1), row(r0 + 2)};
        float* out[1] = {yo + r * g.ow};
        Dw3x3S2P1Rows512<1>(in, out, iw, g.ow, wv, vb, vlo, vhi);
      }
    }
  }
}
#endif

#if HWY_TARGET == HWY_AVX2
// 3x3, stride 2, dilation 1, top/left padding 1 (AVX2: masked loads and stores; AVX-512 has
// Dw3x3S2P1Avx512). The input
// is split once into its four (row parity, column parity) planes, each oh x ow with row stride ow,
// so tap (a, b) of flat output o = r*ow + c is one contiguous load at o + dr*ow + dc (dr = -1 for
// a = 0, dc = -1 for b = 0) and a whole plane is one flat vector loop as in Dw3x3S1P1Plane: no
// per-row overhead and no lanes wasted at row ends (7x7 outputs of a 14x14 plane took 190 ns per
// plane through the row kernel). Only the left taps need a column mask; the plane rows/columns
// past the input and the region before each plane read as zeros.
void Dw3x3S2P1Flat(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                   float* y, float lo, float hi) {
  const D d;
  const hn::RebindToSigned<D> di;
  using VI = hn::Vec<decltype(di)>;
  const int64_t ow = g.ow, n = g.oh * g.ow;
  const int64_t pad = (ow + 1 + kL - 1) / kL * kL;       // zeros before each plane
  const int64_t body = (n + kL - 1) / kL * kL;             // whole vectors over the plane
  const int64_t ps = pad + body + kL;                      // plane stride
  thread_local std::vector<float> buf;
  if (buf.size() < static_cast<size_t>(4 * ps)) buf.resize(static_cast<size_t>(4 * ps));
  float* planes[2][2];  // [row parity][column parity]
  for (int64_t rp = 0; rp < 2; ++rp)
    for (int64_t cp = 0; cp < 2; ++cp) {
      float* base = buf.data() + (rp * 2 + cp) * ps;
      for (int64_t i = 0; i < pad; i += kL) hn::StoreU(hn::Zero(d), d, base + i);
      planes[rp][cp] = base + pad;
      // Zeros from the last whole vector on (the fill below writes exactly n floats).
      for (int64_t i = body - kL; i < body + kL; i += kL) hn::StoreU(hn::Zero(d), d, base + pad + i);
    }
  // Plane (rp, cp) row i, column j holds input row 2i + rp, column 2j + cp (zero outside the input):
  // padded row/column 2i + rp + 1 is what kernel row/column rp + 1 of output (i, j) reads.
  for (int64_t i = 0; i < g.oh; ++i)
    for (int64_t rp = 0; rp < 2; ++rp) {
      const int64_t u = 2 * i + rp;
      float* ev = planes[rp][0] + i * ow;
      float* od = planes[rp][1] + i * ow;
      for (int64_t j = 0; j < ow; j += kL) {
        const auto m = hn::FirstN(d, static_cast<size_t>(std::min(kL, ow - j)));
        V e = hn::Zero(d), o = hn::Zero(d);
        if (u < g.ih) {
          const float* src = x + u * g.iw + 2 * j;
          const int64_t valid = g.iw - 2 * j;  // columns left in the row (<= 0 past it with end padding)
          V lo2, hi2;
          if (valid >= 2 * kL) {  // plain loads where they fit (the row's bulk)
            lo2 = hn::LoadU(d, src);
            hi2 = hn::LoadU(d, src + kL);
          } else {
            lo2 = hn::MaskedLoad(hn::FirstN(d, static_cast<size_t>(std::clamp<int64_t>(valid, 0, kL))), d, src);
            hi2 = hn::MaskedLoad(hn::FirstN(d, static_cast<size_t>(std::clamp<int64_t>(valid - kL, 0, kL))), d,
                                 src + kL);
          }
          e = hn::ConcatEven(d, hi2, lo2);
          o = hn::ConcatOdd(d, hi2, lo2);
        }
        hn::BlendedStore(e, m, d, ev + j);
        hn::BlendedStore(o, m, d, od + j);
      }
    }
  const VI vw = hn::Set(di, static_cast<int32_t>(ow)), vzero = hn::Zero(di);
  const VI vstep = hn::Set(di, static_cast<int32_t>(kL % ow));
  HWY_ALIGN int32_t col0[kL];
  for (int64_t l = 0; l < kL; ++l) col0[l] = static_cast<int32_t>(l % ow);
  const V vlo = hn::Set(d, lo), vhi = hn::Set(d, hi);
  const float* ee = planes[0][0];
  const float* eo = planes[0][1];
  const float* oe = planes[1][0];
  const float* oo = planes[1][1];
  for (int64_t oc = 0; oc < outs; ++oc) {
    const float* wo = w + oc * 9;
    float* yo = y + oc * n;
    const V w00 = hn::Set(d, wo[0]), w01 = hn::Set(d, wo[1]), w02 = hn::Set(d, wo[2]);
    const V w10 = hn::Set(d, wo[3]), w11 = hn::Set(d, wo[4]), w12 = hn::Set(d, wo[5]);
    const V w20 = hn::Set(d, wo[6]), w21 = hn::Set(d, wo[7]), w22 = hn::Set(d, wo[8]);
    const V vb = hn::Set(d, bias ? bias[oc] : 0.f);
    VI col = hn::Load(di, col0);
    for (int64_t o = 0; o < n; o += kL) {
      // Kernel row 0 reads odd input rows one plane row up, rows 1 and 2 even/odd rows in place.
      V l = hn::Mul(w00, hn::LoadU(d, oo + o - ow - 1));
      V c = hn::MulAdd(w01, hn::LoadU(d, oe + o - ow), vb);
      V r = hn::Mul(w02, hn::LoadU(d, oo + o - ow));
      l = hn::MulAdd(w10, hn::LoadU(d, eo + o - 1), l);
      c = hn::MulAdd(w11, hn::LoadU(d, ee + o), c);
      r = hn::MulAdd(w12, hn::LoadU(d, eo + o), r);
      l = hn::MulAdd(w20, hn::LoadU(d, oo + o - 1), l);
      c = hn::MulAdd(w21, hn::LoadU(d, oe + o), c);
      r = hn::MulAdd(w22, hn::LoadU(d, oo + o), r);
      c = hn::Add(hn::Add(c, r), hn::IfThenElseZero(hn::RebindMask(d, hn::Gt(col, vzero)), l));
      c = hn::Min(hn::Max(c, vlo), vhi);
      if (o + kL <= n)
        hn::StoreU(c, d, yo + o);
      else
        store_partial(c, yo + o, n - o);
      col = hn::Add(col, vstep);
      col = hn::IfThenElse(hn::Lt(col, vw), col, hn::Sub(col, vw));
    }
  }
}
#endif

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// 3x3, dilation 1, padding 1 at the top/left, stride 1 or 2 (Dw3x3ChannelsSuits), on 16 channels at
// once with the channels as the vector lanes: the 16 input planes are transposed, 16 pixels at a
// time, into a zero-bordered pixel-major copy t[(ih + 2) x (iw + 2)][16] (in L1/L2 for the planes
// this is used on), each output pixel is 9 FMAs of aligned loads with per-channel weight vectors,
// and 16 output pixels are transposed back to the 16 NCHW planes. On small planes the NCHW kernels
// are per-plane overhead and half-empty vectors (MobileNetV2's 7x7 planes, 36 ns each; its 14x14
// -> 7x7 stride-2 planes, 88 ns each); here no lane is wasted and nothing is per-plane.
void Dw3x3Block16(const DwConv2dGeometry& g, const float* x, int64_t in_sz, const float* w, const float* bias,
                  float* y, int64_t out_sz, float lo, float hi, float* t) {
  const int64_t tw = g.iw + 2, s = g.sh;
  const int64_t n_in = g.ih * g.iw, n_out = g.oh * g.ow;
  // Borders: row 0 and row ih + 1, columns 0 and iw + 1 (the interior is overwritten below).
  const __m512 z = _mm512_setzero_ps();
  for (int64_t c = 0; c < tw; ++c) {
    _mm512_store_ps(t + c * 16, z);
    _mm512_store_ps(t + ((g.ih + 1) * tw + c) * 16, z);
  }
  for (int64_t r = 1; r <= g.ih; ++r) {
    _mm512_store_ps(t + r * tw * 16, z);
    _mm512_store_ps(t + (r * tw + tw - 1) * 16, z);
  }
  // The 16 output planes are one contiguous range, written 64 bytes per plane at a time (16
  // streams): fetched for writing first, as the hardware prefetcher does not follow 16 streams and
  // a cold output (an arena range last used long before) cost MobileNetV2's first 576-channel
  // 14x14 depthwise 0.083 instead of 0.050 ms.
  for (int64_t i = 0; i < 16 * out_sz; i += 16) __builtin_prefetch(y + i, 1, 3);
  __m512 v[16];
  for (int64_t p0 = 0, row = 0, col = 0; p0 < n_in; p0 += 16) {
    const int64_t rem = std::min<int64_t>(16, n_in - p0);
    const __mmask16 m = static_cast<__mmask16>((1u << rem) - 1);
    for (int c = 0; c < 16; ++c) v[c] = _mm512_maskz_loadu_ps(m, x + c * in_sz + p0);
    Transpose16x16F32(v);
    for (int64_t i = 0; i < rem; ++i) {
      _mm512_store_ps(t + ((row + 1) * tw + col + 1) * 16, v[i]);
      if (++col == g.iw) col = 0, ++row;
    }
  }
  HWY_ALIGN float wt[9 * 16];
  for (int c = 0; c < 16; ++c)
    for (int k = 0; k < 9; ++k) wt[k * 16 + c] = w[c * 9 + k];
  __m512 wv[9];
  for (int k = 0; k < 9; ++k) wv[k] = _mm512_load_ps(wt + k * 16);
  const __m512 vb = bias ? _mm512_loadu_ps(bias) : z;
  const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
  const int64_t row_step = tw * 16;
  for (int64_t q0 = 0, oy = 0, ox = 0; q0 < n_out; q0 += 16) {
    const int64_t rem = std::min<int64_t>(16, n_out - q0);
    for (int64_t i = 0; i < 16; ++i) {
      if (i >= rem) {
        v[i] = z;
        continue;
      }
      const float* b0 = t + (oy * s * tw + ox * s) * 16;
      const float* b1 = b0 + row_step;
      const float* b2 = b1 + row_step;
      __m512 a0 = _mm512_fmadd_ps(wv[0], _mm512_load_ps(b0), vb);
      __m512 a1 = _mm512_mul_ps(wv[1], _mm512_load_ps(b0 + 16));
      __m512 a2 = _mm512_mul_ps(wv[2], _mm512_load_ps(b0 + 32));
      a0 = _mm512_fmadd_ps(wv[3], _mm512_load_ps(b1), a0);
      a1 = _mm512_fmadd_ps(wv[4], _mm512_load_ps(b1 + 16), a1);
      a2 = _mm512_fmadd_ps(wv[5], _mm512_load_ps(b1 + 32), a2);
      a0 = _mm512_fmadd_ps(wv[6], _mm512_load_ps(b2), a0);
      a1 = _mm512_fmadd_ps(wv[7], _mm512_load_ps(b2 + 16), a1);
      a2 = _mm512_fmadd_ps(wv[8], _mm512_load_ps(b2 + 32), a2);
      v[i] = _mm512_min_ps(_mm512_max_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), a2), vlo), vhi);
      if (++ox == g.ow) ox = 0, ++oy;
    }
    Transpose16x16F32(v);
    const __mmask16 m = static_cast<__mmask16>((1u << rem) - 1);
    for (int c = 0; c < 16; ++c) _mm512_mask_storeu_ps(y + c * out_sz + q0, m, v[c]);
  }
}
#endif

// The largest input planes the channel blocks take: their pixel-major copy stays in L1/L2, and
// larger planes ran slower through them in MobileNetV2 (56x56 at stride 1: 0.14 -> 0.23 ms; 56x56
// -> 28x28 at stride 2: 0.072 -> 0.078 ms). At stride 2 the plane kernel's register split
// (Dw3x3S2P1Avx512) also beats them on 28x28 inputs (0.065 vs 0.088 us per channel), not on 14x14
// (0.033 vs 0.022).
constexpr int64_t kDwChannelBlockMaxPixelsS1 = 196, kDwChannelBlockMaxPixelsS2 = 196;

// Whether DwConv2dChannels takes the channel-block kernel for this geometry (on 16-lane targets):
// 3x3, dilation 1, top/left padding 1, stride 1 or 2 (both axes alike), reads inside the
// zero-bordered copy (bottom/right padding at most 1), and small planes.
bool Dw3x3ChannelsSuits(const DwConv2dGeometry& g) {
  return g.kh == 3 && g.kw == 3 && g.dh == 1 && g.dw == 1 && g.ph == 1 && g.pw == 1 && g.sh == g.sw &&
         (g.sh == 1 || g.sh == 2) && (g.oh - 1) * g.sh + 1 <= g.ih && (g.ow - 1) * g.sw + 1 <= g.iw &&
         g.ih * g.iw <= (g.sh == 1 ? kDwChannelBlockMaxPixelsS1 : kDwChannelBlockMaxPixelsS2);
}

void DwConv2dPlane(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                   float* y, float lo, float hi) {
  if (g.kh == 3 && g.kw == 3 && g.sh == 1 && g.sw == 1 && g.dh == 1 && g.dw == 1 && g.ph == 1 && g.pw == 1 &&
      g.oh == g.ih && g.ow == g.iw) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
    return Dw3x3S1P1Avx512(g, x, outs, w, bias, y, lo, hi);
#else
    Dw3x3S1P1Plane(g, x, outs, w, bias, y, lo, hi);
    return;
#endif
  }
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  // Left padding 1 (symmetric pads, every exporter's default) on AVX-512: columns split in
  // registers, at every plane size (per plane, 15 channels: 14x14 -> 7x7 0.091 -> 0.051 us through
  // the flat kernel below, 56x56 -> 28x28 0.45 -> 0.28 us, 112x112 -> 56x56 2.0 -> 0.9 us through the ring).
  if (g.kh == 3 && g.kw == 3 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 && g.pw == 1)
    return Dw3x3S2P1Avx512(g, x, outs, w, bias, y, lo, hi);
#endif
#if HWY_TARGET == HWY_AVX2
  // Flat only for small planes: at 112x112 -> 56x56 the four 12 KB parity planes, written before
  // any compute, ran slower in MobileNetV2 (0.27 -> 0.36 ms) than the row kernel's L1-sized ring.
  if (g.kh == 3 && g.kw == 3 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 && g.ph == 1 && g.pw == 1 &&
      g.oh * g.ow <= 1024) {
    Dw3x3S2P1Flat(g, x, outs, w, bias, y, lo, hi);
    return;
  }
#endif
  if (g.kh == 3 && g.kw == 3 && g.sh == 2 && g.sw == 2 && g.dh == 1 && g.dw == 1 && (g.pw == 0 || g.pw == 1)) {
    Dw3x3S2Plane(g, x, outs, w, bias, y, lo, hi);
    return;
  }
  // Padded rows/cols actually read, and the phase-plane width with room for whole-vector reads.
  const int64_t hp = (g.oh - 1) * g.sh + (g.kh - 1) * g.dh + 1;
  const int64_t ow_pad = (g.ow + kL - 1) / kL * kL;
  const int64_t wq = ow_pad + ((g.kw - 1) * g.dw) / g.sw + 1;
  const size_t plane_floats = static_cast<size_t>(hp * wq);
  thread_local std::vector<float> scratch;
  if (scratch.size() < plane_floats * g.sw) scratch.resize(plane_floats * g.sw);
  float* phases = scratch.data();
  // phase p, row r, column j  <-  padded column j*sw + p  <-  input (r - ph, j*sw + p - pw);
  // the in-image columns of a phase are one range [j0, j1), so rows are fill + copy + fill.
  for (int64_t p = 0; p < g.sw; ++p) {
    const int64_t off = p - g.pw;  // input column of j = 0
    const int64_t j0 = std::min(wq, off >= 0 ? 0 : (-off + g.sw - 1) / g.sw);
    const int64_t j1 = std::max(j0, std::min(wq, g.iw - 1 - off < 0 ? 0 : (g.iw - 1 - off) / g.sw + 1));
    for (int64_t r = 0; r < hp; ++r) {
      float* dst = phases + p * plane_floats + r * wq;
      const int64_t xr = r - g.ph;
      if (xr < 0 || xr >= g.ih) {
        std::memset(dst, 0, sizeof(float) * wq);
        continue;
      }
      const float* src = x + xr * g.iw;
      std::fill(dst, dst + j0, 0.f);
      if (g.sw == 1) {
        if (j1 > j0) std::memcpy(dst + j0, src + (j0 + off), sizeof(float) * (j1 - j0));
      } else {
        int64_t j = j0;
#if HWY_TARGET != HWY_SCALAR
        if (g.sw == 2) {  // the even (or odd) input columns: deinterleave whole vectors
          const D d;
          for (; j + kL <= j1 && 2 * (j + kL) + off <= g.iw; j += kL) {
            const V a = hn::LoadU(d, src + 2 * j + off), b = hn::LoadU(d, src + 2 * j + off + kL);
            hn::StoreU(hn::ConcatEven(d, b, a), d, dst + j);
          }
        }
#endif
        for (; j < j1; ++j) dst[j] = src[j * g.sw + off];
      }
      std::fill(dst + j1, dst + wq, 0.f);
    }
  }

  const int64_t taps = g.kh * g.kw;
  // Per tap: phase plane and column offset (row offset added per output row).
  int64_t tap_small[25];
  std::vector<int64_t> tap_big;
  int64_t* tap_off = tap_small;
  if (taps > 25) {
    tap_big.resize(static_cast<size_t>(taps));
    tap_off = tap_big.data();
  }
  for (int64_t a = 0; a < g.kh; ++a)
    for (int64_t b = 0; b < g.kw; ++b) {
      const int64_t col = b * g.dw;
      tap_off[a * g.kw + b] = (col % g.sw) * static_cast<int64_t>(plane_floats) + a * g.dh * wq + col / g.sw;
    }
  for (int64_t o = 0; o < outs; ++o) {
    const float* wo = w + o * taps;
    float* yo = y + o * g.oh * g.ow;
    const float b = bias ? bias[o] : 0.f;
    if (taps == 9)
      dw_rows<9>(g, phases, wq, tap_off, taps, wo, b, yo, lo, hi);
    else if (taps == 25)
      dw_rows<25>(g, phases, wq, tap_off, taps, wo, b, yo, lo, hi);
    else
      dw_rows<0>(g, phases, wq, tap_off, taps, wo, b, yo, lo, hi);
  }
}

int64_t DwChannelBlock(const DwConv2dGeometry& g) {
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  return Dw3x3ChannelsSuits(g) ? 16 : 1;
#else
  (void)g;
  return 1;
#endif
}

void DwConv2dChannels(const DwConv2dGeometry& g, const float* x, int64_t channels, const float* w, const float* bias,
                      float* y, float lo, float hi) {
  const int64_t in_sz = g.ih * g.iw, out_sz = g.oh * g.ow, taps = g.kh * g.kw;
  int64_t c = 0;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  if (channels >= 16 && Dw3x3ChannelsSuits(g)) {
    thread_local hwy::AlignedFreeUniquePtr<float[]> tbuf;  // aligned: the pixel vectors are aligned loads/stores
    thread_local size_t tbuf_floats = 0;
    const size_t need = static_cast<size_t>((g.ih + 2) * (g.iw + 2) * 16);
    if (tbuf_floats < need) tbuf = hwy::AllocateAligned<float>(need), tbuf_floats = need;
    for (; c + 16 <= channels; c += 16)
      Dw3x3Block16(g, x + c * in_sz, in_sz, w + c * taps, bias ? bias + c : nullptr, y + c * out_sz, out_sz, lo, hi,
                   tbuf.get());
  }
#endif
  for (; c < channels; ++c)
    DwConv2dPlane(g, x + c * in_sz, 1, w + c * taps, bias ? bias + c : nullptr, y + c * out_sz, lo, hi);
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::microkernels
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace edgeopt::kernels::microkernels {

HWY_EXPORT(DwConv2dPlane);
HWY_EXPORT(DwConv2dChannels);
HWY_EXPORT(DwChannelBlock);

int64_t dwconv2d_f32_channel_block(const DwConv2dGeometry& g) { return HWY_DYNAMIC_DISPATCH(DwChannelBlock)(g); }

void dwconv2d_f32_channels(const DwConv2dGeometry& g, const float* x, int64_t channels, const float* w,
                           const float* bias, float* y, float clamp_min, float clamp_max) {
  if (channels <= 0 || g.oh <= 0 || g.ow <= 0) return;
  HWY_DYNAMIC_DISPATCH(DwConv2dChannels)(g, x, channels, w, bias, y, clamp_min, clamp_max);
}

void dwconv2d_f32_plane(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                        float* y, float clamp_min, float clamp_max) {
  if (outs <= 0 || g.oh <= 0 || g.ow <= 0) return;
  HWY_DYNAMIC_DISPATCH(DwConv2dPlane)(g, x, outs, w, bias, y, clamp_min, clamp_max);
}

}  // namespace edgeopt::kernels::microkernels
#endif  // HWY_ONCE

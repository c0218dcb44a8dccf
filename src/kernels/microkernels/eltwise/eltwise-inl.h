// Per-target helpers for elementwise f32 kernels written with Highway: include after
// hwy/foreach_target.h (the per-target include guard below re-includes it for every target), then
// call them from your own HWY_NAMESPACE code. They live in edgeopt::kernels::eltwise::HWY_NAMESPACE.
//
//   namespace ew = eltwise::HWY_NAMESPACE;
//   void ReluF32(const float* x, float* y, int64_t n) {
//     ew::Map1(x, y, n, [](auto d, auto v) { return hn::Max(v, hn::Zero(d)); });
//   }
//
// Tails go through a zero-padded stack buffer so every element takes the same vector path (a
// scalar tail would round transcendental functions differently from the body). Inputs and the
// output may alias exactly (in place) but must not partially overlap.
#if defined(EDGEOPT_KERNELS_ELTWISE_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef EDGEOPT_KERNELS_ELTWISE_INL_H_
#undef EDGEOPT_KERNELS_ELTWISE_INL_H_
#else
#define EDGEOPT_KERNELS_ELTWISE_INL_H_
#endif

#include <cmath>
#include <cstdint>
#include <cstring>

#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::eltwise {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

using DF = hn::ScalableTag<float>;
using VF = hn::Vec<DF>;

// y[i] = f(d, x[i]) vector-wise.
template <class F>
HWY_INLINE void Map1(const float* x, float* y, int64_t n, F f) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    const VF a = f(d, hn::LoadU(d, x + i));
    const VF b = f(d, hn::LoadU(d, x + i + L));
    hn::StoreU(a, d, y + i);
    hn::StoreU(b, d, y + i + L);
  }
  for (; i + L <= n; i += L) hn::StoreU(f(d, hn::LoadU(d, x + i)), d, y + i);
  if (i < n) {
    HWY_ALIGN float buf[hn::MaxLanes(DF())] = {};
    const size_t rest = static_cast<size_t>(n - i);
    std::memcpy(buf, x + i, rest * sizeof(float));
    hn::Store(f(d, hn::Load(d, buf)), d, buf);
    std::memcpy(y + i, buf, rest * sizeof(float));
  }
}

// y[i] = f(d, a[i], b[i]).
template <class F>
HWY_INLINE void Map2(const float* a, const float* b, float* y, int64_t n, F f) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(f(d, hn::LoadU(d, a + i), hn::LoadU(d, b + i)), d, y + i);
  if (i < n) {
    HWY_ALIGN float ba[hn::MaxLanes(DF())] = {};
    HWY_ALIGN float bb[hn::MaxLanes(DF())] = {};
    const size_t rest = static_cast<size_t>(n - i);
    std::memcpy(ba, a + i, rest * sizeof(float));
    std::memcpy(bb, b + i, rest * sizeof(float));
    hn::Store(f(d, hn::Load(d, ba), hn::Load(d, bb)), d, ba);
    std::memcpy(y + i, ba, rest * sizeof(float));
  }
}

// Sum of f(d, a[i], b[i]) over i < n (b may be null when f ignores it), accumulated in four
// vectors of f32 and reduced at the end: callers keep n per call moderate (a plane, a row) and
// add the partials in double.
template <class F>
HWY_INLINE double SumMap2(const float* a, const float* b, int64_t n, F f) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  VF s0 = hn::Zero(d), s1 = hn::Zero(d), s2 = hn::Zero(d), s3 = hn::Zero(d);
  auto ld = [&](const float* p, int64_t off) { return p ? hn::LoadU(d, p + off) : hn::Zero(d); };
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    s0 = hn::Add(s0, f(d, hn::LoadU(d, a + i), ld(b, i)));
    s1 = hn::Add(s1, f(d, hn::LoadU(d, a + i + L), ld(b, i + L)));
    s2 = hn::Add(s2, f(d, hn::LoadU(d, a + i + 2 * L), ld(b, i + 2 * L)));
    s3 = hn::Add(s3, f(d, hn::LoadU(d, a + i + 3 * L), ld(b, i + 3 * L)));
  }
  for (; i + L <= n; i += L) s0 = hn::Add(s0, f(d, hn::LoadU(d, a + i), ld(b, i)));
  double total = 0;
  if (i < n) {
    // Masked-off lanes must contribute 0 whatever f does with a zero input.
    HWY_ALIGN float ba[hn::MaxLanes(DF())] = {};
    HWY_ALIGN float bb[hn::MaxLanes(DF())] = {};
    HWY_ALIGN float out[hn::MaxLanes(DF())];
    const size_t rest = static_cast<size_t>(n - i);
    std::memcpy(ba, a + i, rest * sizeof(float));
    if (b) std::memcpy(bb, b + i, rest * sizeof(float));
    hn::Store(f(d, hn::Load(d, ba), hn::Load(d, bb)), d, out);
    for (size_t k = 0; k < rest; ++k) total += out[k];
  }
  const VF s = hn::Add(hn::Add(s0, s1), hn::Add(s2, s3));
  return total + static_cast<double>(hn::GetLane(hn::SumOfLanes(d, s)));
}

// max x[i] over i < n (n >= 1); a NaN may or may not propagate (callers' results go NaN anyway).
HWY_INLINE float RowMax(const float* x, int64_t n) {
  const DF d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  VF m0 = hn::Set(d, -HUGE_VALF), m1 = m0;
  int64_t i = 0;
  for (; i + 2 * L <= n; i += 2 * L) {
    m0 = hn::Max(m0, hn::LoadU(d, x + i));
    m1 = hn::Max(m1, hn::LoadU(d, x + i + L));
  }
  for (; i + L <= n; i += L) m0 = hn::Max(m0, hn::LoadU(d, x + i));
  float m = hn::GetLane(hn::MaxOfLanes(d, hn::Max(m0, m1)));
  for (; i < n; ++i) m = x[i] > m ? x[i] : m;
  return m;
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::eltwise
HWY_AFTER_NAMESPACE();

#endif  // EDGEOPT_KERNELS_ELTWISE_INL_H_

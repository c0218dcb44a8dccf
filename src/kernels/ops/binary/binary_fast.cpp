#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/binary/binary_fast.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include "kernels/microkernels/eltwise/eltwise-inl.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::binary {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
namespace ew = eltwise::HWY_NAMESPACE;

// kind: 0 add, 1 sub, 2 mul, 3 div (binary::Kind); swap: y = s (op) f instead of f (op) s.
template <int K, bool kSwap, class D, class V>
HWY_INLINE V Apply(D, V f, V s) {
  const V a = kSwap ? s : f, b = kSwap ? f : s;
  if constexpr (K == 0) return hn::Add(a, b);
  if constexpr (K == 1) return hn::Sub(a, b);
  if constexpr (K == 2) return hn::Mul(a, b);
  return hn::Div(a, b);
}

template <int K, bool kSwap>
void RowVecT(const float* f, const float* s, float* y, int64_t n) {
  ew::Map2(f, s, y, n, [](auto d, auto vf, auto vs) { return Apply<K, kSwap>(d, vf, vs); });
}
template <int K, bool kSwap>
void RowScalarT(const float* f, float s, float* y, int64_t n) {
  ew::Map1(f, y, n, [s](auto d, auto vf) { return Apply<K, kSwap>(d, vf, hn::Set(d, s)); });
}

// y[i] = f[i] (op) s[i]
void RowVec(int kind, bool swap, const float* f, const float* s, float* y, int64_t n) {
  switch (kind * 2 + swap) {
    case 0: return RowVecT<0, false>(f, s, y, n);
    case 1: return RowVecT<0, true>(f, s, y, n);
    case 2: return RowVecT<1, false>(f, s, y, n);
    case 3: return RowVecT<1, true>(f, s, y, n);
    case 4: return RowVecT<2, false>(f, s, y, n);
    case 5: return RowVecT<2, true>(f, s, y, n);
    case 6: return RowVecT<3, false>(f, s, y, n);
    default: return RowVecT<3, true>(f, s, y, n);
  }
}

// y[i] = f[i] (op) s
void RowScalar(int kind, bool swap, const float* f, float s, float* y, int64_t n) {
  switch (kind * 2 + swap) {
    case 0: return RowScalarT<0, false>(f, s, y, n);
    case 1: return RowScalarT<0, true>(f, s, y, n);
    case 2: return RowScalarT<1, false>(f, s, y, n);
    case 3: return RowScalarT<1, true>(f, s, y, n);
    case 4: return RowScalarT<2, false>(f, s, y, n);
    case 5: return RowScalarT<2, true>(f, s, y, n);
    case 6: return RowScalarT<3, false>(f, s, y, n);
    default: return RowScalarT<3, true>(f, s, y, n);
  }
}

// sum g[i] (* h[i] when h is non-null)
double RowSum(const float* g, const float* h, int64_t n) {
  if (!h) return ew::SumMap2(g, nullptr, n, [](auto, auto v, auto) { return v; });
  return ew::SumMap2(g, h, n, [](auto, auto v, auto w) { return hn::Mul(v, w); });
}

// acc[i] += g[i] (* h[i] when h is non-null)
void RowAccumulate(float* acc, const float* g, const float* h, int64_t n) {
  if (!h) {
    ew::Map2(acc, g, acc, n, [](auto, auto a, auto v) { return hn::Add(a, v); });
    return;
  }
  const hn::ScalableTag<float> d;
  const int64_t L = static_cast<int64_t>(hn::Lanes(d));
  int64_t i = 0;
  for (; i + L <= n; i += L)
    hn::StoreU(hn::MulAdd(hn::LoadU(d, g + i), hn::LoadU(d, h + i), hn::LoadU(d, acc + i)), d, acc + i);
  for (; i < n; ++i) acc[i] += g[i] * h[i];
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::binary
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <cstring>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/ops/binary/binary_fast.h"

namespace edgeopt::kernels::ops::binary {

HWY_EXPORT(RowVec);
HWY_EXPORT(RowScalar);
HWY_EXPORT(RowSum);
HWY_EXPORT(RowAccumulate);

namespace {

constexpr int64_t kGrain = 16384;
constexpr int64_t kSumBlock = 4096;

// The full operand has the output's shape; the other one (s) varies only along one contiguous
// block of output dims: s index of output element i = (i / inner) % mid.
struct BcastPlan {
  bool ok = false;
  bool swapped = false;  // the broadcast operand is A (y = s (op) f)
  int64_t outer = 1, mid = 1, inner = 1;
};

BcastPlan plan_bcast(const Shape& a, const Shape& b, const Shape& out) {
  BcastPlan p;
  const Shape* s = nullptr;
  if (a == out) {
    s = &b;
  } else if (b == out) {
    s = &a;
    p.swapped = true;
  } else {
    return p;
  }
  const size_t r = out.rank(), off = r - s->rank();
  auto sd = [&](size_t i) { return i < off ? int64_t{1} : (*s)[i - off]; };
  int64_t first = -1, last = -1;
  for (size_t i = 0; i < r; ++i)
    if (sd(i) != 1) {
      if (first < 0) first = static_cast<int64_t>(i);
      last = static_cast<int64_t>(i);
    }
  if (first < 0) {  // a scalar (every dim 1)
    p.mid = 1;
    p.inner = out.numel();
    p.ok = true;
    return p;
  }
  for (int64_t i = first; i <= last; ++i)
    if (sd(static_cast<size_t>(i)) != out[static_cast<size_t>(i)]) return p;
  for (int64_t i = 0; i < first; ++i) p.outer *= out[static_cast<size_t>(i)];
  for (int64_t i = first; i <= last; ++i) p.mid *= out[static_cast<size_t>(i)];
  for (size_t i = static_cast<size_t>(last) + 1; i < r; ++i) p.inner *= out[i];
  p.ok = true;
  return p;
}

// y = f (op) s over the plan's layout (swap reverses the operands), split over the pool.
void apply_bcast(const BcastPlan& p, int kind, bool swap, const float* f, const float* s, float* y) {
  const int64_t n = p.outer * p.mid * p.inner;
  parallel_for(
      n,
      [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e;) {
          if (p.inner == 1) {  // runs of the s vector
            const int64_t m0 = i % p.mid, len = std::min(e - i, p.mid - m0);
            HWY_DYNAMIC_DISPATCH(RowVec)(kind, swap, f + i, s + m0, y + i, len);
            i += len;
          } else {  // runs of one s value
            const int64_t slot = (i / p.inner) % p.mid, len = std::min(e - i, p.inner - i % p.inner);
            HWY_DYNAMIC_DISPATCH(RowScalar)(kind, swap, f + i, s[slot], y + i, len);
            i += len;
          }
        }
      },
      kGrain);
}

// ds[m] = sum over outer and inner of g (* h) at slot m.
Tensor reduce_bcast(const BcastPlan& p, const float* g, const float* h, const Shape& shape) {
  Tensor ds = Tensor::zeros(DType::kF32, shape);
  float* out = ds.data<float>();
  if (p.inner == 1) {
    // Column sums: each task owns a range of slots and walks the outer rows.
    parallel_for(
        p.mid,
        [&](int64_t b, int64_t e) {
          for (int64_t o = 0; o < p.outer; ++o)
            HWY_DYNAMIC_DISPATCH(RowAccumulate)(out + b, g + o * p.mid + b, h ? h + o * p.mid + b : nullptr, e - b);
        },
        std::max<int64_t>(1, kGrain / std::max<int64_t>(1, p.outer)));
    return ds;
  }
  parallel_for(
      p.mid,
      [&](int64_t b, int64_t e) {
        for (int64_t m = b; m < e; ++m) {
          double acc = 0;
          for (int64_t o = 0; o < p.outer; ++o)
            for (int64_t j = 0; j < p.inner; j += kSumBlock) {  // f32 lanes per block, blocks in double
              const int64_t off = (o * p.mid + m) * p.inner + j;
              acc += HWY_DYNAMIC_DISPATCH(RowSum)(g + off, h ? h + off : nullptr, std::min(kSumBlock, p.inner - j));
            }
          out[m] = static_cast<float>(acc);
        }
      },
      std::max<int64_t>(1, kGrain / std::max<int64_t>(1, p.outer * p.inner)));
  return ds;
}

}  // namespace

void binary_forward_fast(ForwardCtx& ctx, Kind k) {
  const Tensor& a = required_input(ctx, 0);
  const Tensor& b = required_input(ctx, 1);
  if (a.dtype() != DType::kF32 || b.dtype() != DType::kF32) return binary_forward(ctx, k);
  const Shape out_shape = broadcast_shapes(a.shape(), b.shape());
  const BcastPlan p = plan_bcast(a.shape(), b.shape(), out_shape);
  if (!p.ok) return binary_forward(ctx, k);
  Tensor& y = alloc_output(ctx, 0, DType::kF32, out_shape);
  if (y.numel() == 0) return;
  const float* f = (p.swapped ? b : a).data<float>();
  const float* s = (p.swapped ? a : b).data<float>();
  apply_bcast(p, static_cast<int>(k), p.swapped, f, s, y.data<float>());
}

void binary_grad_fast(BackwardCtx& ctx, Kind k) {
  const Tensor& a = ctx.in[0];
  const Tensor& b = ctx.in[1];
  if (ctx.grad_out.empty() || !ctx.grad_out[0].defined() || a.dtype() != DType::kF32) return;
  const Tensor& dy = ctx.grad_out[0];
  const BcastPlan p = plan_bcast(a.shape(), b.shape(), dy.shape());
  // y = s / f needs the full operand squared; rare enough for the reference.
  if (!p.ok || (k == Kind::kDiv && p.swapped) || dy.numel() == 0) return binary_grad(ctx, k);
  const Tensor& full = p.swapped ? b : a;
  const Tensor& bc = p.swapped ? a : b;
  const float* pdy = dy.data<float>();
  Tensor dfull(DType::kF32, full.shape());
  Tensor dbc;
  switch (k) {
    case Kind::kAdd:
    case Kind::kSub: {
      const bool neg_full = k == Kind::kSub && p.swapped;
      float* o = dfull.data<float>();
      parallel_for(
          dy.numel(),
          [&](int64_t lo, int64_t hi) {
            if (neg_full)
              HWY_DYNAMIC_DISPATCH(RowScalar)(static_cast<int>(Kind::kMul), false, pdy + lo, -1.f, o + lo, hi - lo);
            else
              std::memcpy(o + lo, pdy + lo, static_cast<size_t>(hi - lo) * sizeof(float));
          },
          kGrain);
      dbc = reduce_bcast(p, pdy, nullptr, bc.shape());
      if (k == Kind::kSub && !p.swapped)
        for (int64_t i = 0; i < dbc.numel(); ++i) dbc.data<float>()[i] = -dbc.data<float>()[i];
      break;
    }
    case Kind::kMul:
      apply_bcast(p, static_cast<int>(Kind::kMul), false, pdy, bc.data<float>(), dfull.data<float>());
      dbc = reduce_bcast(p, pdy, full.data<float>(), bc.shape());
      break;
    case Kind::kDiv: {  // y = f / s: df = dy / s, ds = -sum(dy * f) / s^2
      const float* ps = bc.data<float>();
      apply_bcast(p, static_cast<int>(Kind::kDiv), false, pdy, ps, dfull.data<float>());
      dbc = reduce_bcast(p, pdy, full.data<float>(), bc.shape());
      float* o = dbc.data<float>();
      for (int64_t i = 0; i < dbc.numel(); ++i) o[i] = -o[i] / (ps[i] * ps[i]);
      break;
    }
  }
  ctx.grad_in[p.swapped ? 1 : 0] = dfull;
  ctx.grad_in[p.swapped ? 0 : 1] = dbc;
}

}  // namespace edgeopt::kernels::ops::binary
#endif  // HWY_ONCE

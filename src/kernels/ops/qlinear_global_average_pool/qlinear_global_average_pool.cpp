// QLinearGlobalAveragePool: an edgeopt-internal op (empty domain, never exported) with the inputs of
// ONNX Runtime's com.microsoft.QLinearGlobalAveragePool (channels first), emitted by the fuse_qdq
// pass for DequantizeLinear(x) -> GlobalAveragePool -> QuantizeLinear, the head of every quantized
// CNN (MobileNetV2: 1280 planes of 7x7), so the pooling reads the 8-bit codes once instead of
// dequantizing them to f32 first.
//   inputs  X (u8/i8 [N, C, spatial...]), x_scale, x_zero_point, y_scale, y_zero_point (dtype of Y);
//           all per tensor
//   Y [N, C, 1, ...] = QuantizeLinear(mean over the spatial dims of DequantizeLinear(X))
// computed as clamp(round_half_even(f32((sum(x) - HW * zx) * sx / HW) / sy) + zy): the code sum is
// exact (s64; planes under 2^23), the mean then one f64 expression rounded to f32, so the only
// difference from the f32 QDQ graph (whose sum rounds at every addition) is at .5 boundaries:
// within one quantization step (unit test).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/ops/qlinear_global_average_pool/qlinear_global_average_pool.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

HWY_BEFORE_NAMESPACE();
namespace edgeopt::kernels::ops::qlinear_global_average_pool {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

// sums[p] = sum(x[p * n + i] ^ flip) for planes p < planes of n bytes: 16-byte vectors (planes are
// often 7x7 = 49), SumsOf8 into u64 lanes.
void CodeSums(const uint8_t* x, int64_t planes, int64_t n, uint8_t flip, int64_t* sums) {
  const hn::CappedTag<uint8_t, 16> d8;
  const hn::Repartition<uint64_t, decltype(d8)> d64;
  const auto f = hn::Set(d8, flip);
  const auto lanes = static_cast<int64_t>(hn::Lanes(d8));
  for (int64_t p = 0; p < planes; ++p, x += n) {
    auto acc = hn::Zero(d64);
    int64_t i = 0;
    for (; i + lanes <= n; i += lanes) acc = hn::Add(acc, hn::SumsOf8(hn::Xor(hn::LoadU(d8, x + i), f)));
    uint64_t s = hn::GetLane(hn::SumOfLanes(d64, acc));
    for (; i < n; ++i) s += static_cast<uint8_t>(x[i] ^ flip);
    sums[p] = static_cast<int64_t>(s);
  }
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::kernels::ops::qlinear_global_average_pool
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include <algorithm>
#include <string>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/common.h"
#include "kernels/quant/qop_inputs.h"

namespace edgeopt::kernels::ops::qlinear_global_average_pool {

HWY_EXPORT(CodeSums);

namespace {

struct QGap {
  float sx = 1, sy = 1;
  int32_t zx = 0, zy = 0;
  DType y_dtype = DType::kU8;
  int64_t planes = 0, plane = 0;
  Shape out;
};

QGap read_qgap(const ForwardCtx& ctx) {
  for (size_t i : {0, 1, 3}) required_input(ctx, i);
  auto opt = [&](size_t i) { return ctx.in.size() > i && ctx.node.has_input(i) ? ctx.in[i] : Tensor(); };
  const Tensor& x = ctx.in[0];
  quant::check_8bit(x, "X");
  EDGEOPT_CHECK_ARG(x.rank() >= 3, "input X has shape " + x.shape().str() + "; it must be [N, C, spatial...] (rank >= 3)");
  EDGEOPT_CHECK_ARG(ctx.node.attr_int("channels_last", 0) == 0,
                    "attribute channels_last is " + std::to_string(ctx.node.attr_int("channels_last", 0)) +
                        "; only channels first (0) is supported");
  QGap q;
  q.sx = quant::scalar_scale(ctx.in[1], "x_scale");
  q.zx = quant::scalar_zero_point(opt(2), x.dtype(), "x_zero_point");
  q.sy = quant::scalar_scale(ctx.in[3], "y_scale");
  const Tensor zy = opt(4);
  q.y_dtype = zy.defined() ? zy.dtype() : DType::kU8;
  EDGEOPT_CHECK_ARG(quant::is_8bit(q.y_dtype), "input y_zero_point is " + zy.describe() + "; it must be u8 or i8");
  q.zy = quant::scalar_zero_point(zy, q.y_dtype, "y_zero_point");
  q.planes = x.shape()[0] * x.shape()[1];
  q.plane = x.numel() / std::max<int64_t>(q.planes, 1);
  EDGEOPT_CHECK(q.plane < (int64_t{1} << 23), ErrorCode::kUnimplemented,
                "input X has shape " + x.shape().str() + "; planes of 2^23 or more elements are not supported");
  std::vector<int64_t> dims(x.rank(), 1);
  dims[0] = x.shape()[0];
  dims[1] = x.shape()[1];
  q.out = Shape(dims);
  return q;
}

// Planes [p0, p1): the code sum (exact in s64), then the mean and its quantization. `fast`: the
// Highway sum (the same integer), else a plain loop.
void pool_planes(const Tensor& x, const QGap& q, int64_t p0, int64_t p1, void* y, bool fast) {
  const int32_t lo = quant::qmin_of(q.y_dtype), hi = quant::qmax_of(q.y_dtype);
  const bool s8 = x.dtype() == DType::kI8;
  const auto* px = static_cast<const uint8_t*>(x.raw());
  thread_local std::vector<int64_t> sums;
  sums.resize(static_cast<size_t>(p1 - p0));
  if (fast) {
    // s8 codes as u8 (x ^ 0x80 = x + 128), the 128 per element taken back below.
    HWY_DYNAMIC_DISPATCH(CodeSums)(px + p0 * q.plane, p1 - p0, q.plane, s8 ? 0x80 : 0, sums.data());
    if (s8)
      for (int64_t& v : sums) v -= 128 * q.plane;
  } else {
    for (int64_t p = p0; p < p1; ++p) {
      int64_t s = 0;
      for (int64_t i = 0; i < q.plane; ++i)
        s += s8 ? int64_t{static_cast<int8_t>(px[p * q.plane + i])} : int64_t{px[p * q.plane + i]};
      sums[p - p0] = s;
    }
  }
  for (int64_t p = p0; p < p1; ++p) {
    const int64_t sum = sums[p - p0];
    const double mean = static_cast<double>(sum - q.plane * q.zx) * q.sx / static_cast<double>(q.plane);
    const int32_t code = quant::quantize_f32(static_cast<float>(mean), q.sy, q.zy, lo, hi);
    if (q.y_dtype == DType::kU8)
      static_cast<uint8_t*>(y)[p] = static_cast<uint8_t>(code);
    else
      static_cast<int8_t*>(y)[p] = static_cast<int8_t>(code);
  }
}

void run(ForwardCtx& ctx, bool threads) {
  const QGap q = read_qgap(ctx);
  Tensor& y = alloc_output(ctx, 0, q.y_dtype, q.out);
  if (q.planes == 0) return;
  const Tensor& x = ctx.in[0];
  auto body = [&](int64_t b, int64_t e) { pool_planes(x, q, b, e, y.raw(), threads); };
  if (threads)
    parallel_for(q.planes, body, std::max<int64_t>(1, 16384 / std::max<int64_t>(q.plane, 1)));
  else
    body(0, q.planes);
}

// The reference: one thread, plain loops; the fast forward: Highway sums, planes over the pool (the
// same integers, so the same codes).
void qlinear_gap_q8_ref(ForwardCtx& ctx) { run(ctx, false); }
void qlinear_gap_q8_fast(ForwardCtx& ctx) { run(ctx, true); }

}  // namespace

extern const OpDef kOpDef{.name = "QLinearGlobalAveragePool",
                          .min_opset = 1,
                          .max_opset = 18,
                          .forward = qlinear_gap_q8_ref,
                          .forward_fast = qlinear_gap_q8_fast};

}  // namespace edgeopt::kernels::ops::qlinear_global_average_pool
#endif  // HWY_ONCE

// QLinearMatMul (ONNX https://onnx.ai/onnx/operators/onnx__QLinearMatMul.html, opset 10+): MatMul
// on quantized tensors.
//   inputs  a (u8/i8 [..., M, K]), a_scale (f32 scalar), a_zero_point, b (u8/i8 [K, N] or batched
//           like a), b_scale (scalar or [N]), b_zero_point (scalar or [N]), y_scale, y_zero_point
//           (dtype of y); edgeopt-internal (set by the fuse_qdq pass from a Gemm/MatMul + Add
//           bias, never exported): input 8 = i32 bias [N] (scale a_scale * b_scale, zero point 0)
//           and the `activation` attribute (Relu/Clip) narrowing the output range.
//   y[..., i, j] = clamp(requantize(acc[..., i, j], a_scale * b_scale[j] / y_scale) + y_zero_point)
// with acc from matmul_int8.h and the fixed-point quant::requantize (fast == reference bit for bit).
#include "kernels/common.h"
#include "kernels/ops/qlinear_matmul/matmul_int8.h"
#include "kernels/quant/qop_inputs.h"

namespace edgeopt::kernels::ops::qlinear_matmul {
namespace {

struct QMatMul {
  MatMulInt8Inputs in;
  DType y_dtype = DType::kU8;
  quant::RequantParams rq_own;
  const quant::RequantParams* rq = &rq_own;  // rq_own, or the prepared copy
  int32_t y_zp = 0;
  quant::QRange range;
};

// What prepare derived from the constant scales and output zero point, next to the packed B;
// valid while the forward sees the very same tensors.
struct QLinearMatMulState final : OpState {
  std::shared_ptr<const OpState> matmul;  // matmul_int8_prepare's packed B, or null
  const void* sources[4] = {};            // storage of a_scale, b_scale, y_scale, y_zero_point
  DType y_dtype = DType::kU8;
  quant::RequantParams rq;
  int32_t y_zp = 0;
  quant::QRange range;
};

constexpr size_t kQParamInputs[4] = {1, 4, 6, 7};

const QLinearMatMulState* matching_state(const ForwardCtx& ctx) {
  const auto* st = dynamic_cast<const QLinearMatMulState*>(ctx.state);
  if (!st || st->rq.multiplier.empty()) return nullptr;
  for (size_t i = 0; i < 4; ++i) {
    const size_t k = kQParamInputs[i];
    if (ctx.in.size() <= k || !ctx.node.has_input(k) || ctx.in[k].raw() != st->sources[i]) return nullptr;
  }
  return st;
}

QMatMul read_qlinear_matmul(const ForwardCtx& ctx, const QLinearMatMulState* prepared = nullptr) {
  for (size_t i : {0, 1, 3, 4, 6}) required_input(ctx, i);
  auto opt = [&](size_t i) { return ctx.in.size() > i && ctx.node.has_input(i) ? ctx.in[i] : Tensor(); };
  QMatMul q;
  const bool has_bias = opt(8).defined();
  q.in = read_matmul_int8_inputs(ctx.in[0], opt(2), ctx.in[3], opt(5), has_bias ? &ctx.in[8] : nullptr, "a_zero_point",
                                 "b_zero_point");
  if (prepared && static_cast<int64_t>(prepared->rq.multiplier.size()) == q.in.n) {
    q.y_dtype = prepared->y_dtype;
    q.y_zp = prepared->y_zp;
    q.rq = &prepared->rq;
    q.range = prepared->range;
    return q;
  }
  const Tensor y_zp = opt(7);
  q.y_dtype = y_zp.defined() ? y_zp.dtype() : DType::kU8;
  EDGEOPT_CHECK_ARG(quant::is_8bit(q.y_dtype), "input y_zero_point is " + y_zp.describe() + "; it must be u8 or i8");
  q.y_zp = quant::scalar_zero_point(y_zp, q.y_dtype, "y_zero_point");
  const float sa = quant::scalar_scale(ctx.in[1], "a_scale");
  const std::vector<float> sb = quant::read_scales(ctx.in[4], q.in.n, "b_scale");
  const float sy = quant::scalar_scale(ctx.in[6], "y_scale");
  q.rq_own = quant::requant_params(sa, sb, sy, q.in.n);
  q.range = quant::fused_qrange(ctx.node, sy, q.y_zp, q.y_dtype);
  return q;
}

void qlinear_matmul_q8_ref(ForwardCtx& ctx) {
  const QMatMul q = read_qlinear_matmul(ctx);
  const Tensor acc = matmul_int8_acc_ref(q.in);
  Tensor& y = alloc_output(ctx, 0, q.y_dtype, acc.shape());
  const int32_t* pa = acc.data<int32_t>();
  for (int64_t i = 0; i < acc.numel(); ++i) {
    const int64_t j = i % q.in.n;
    const int32_t v = quant::requantize(pa[i], quant::QuantMultiplier{q.rq->multiplier[j], q.rq->shift[j]}, q.y_zp,
                                        q.range.lo, q.range.hi);
    if (q.y_dtype == DType::kU8)
      y.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    else
      y.data<int8_t>()[i] = static_cast<int8_t>(v);
  }
}

void qlinear_matmul_q8_fast(ForwardCtx& ctx) {
  const QMatMul q = read_qlinear_matmul(ctx, matching_state(ctx));
  Tensor& y = alloc_output(ctx, 0, q.y_dtype, Shape(q.in.y_dims));
  gemm_int8::Epilogue ep;
  ep.out = q.y_dtype == DType::kU8 ? gemm_int8::OutType::kU8 : gemm_int8::OutType::kS8;
  ep.multiplier = q.rq->multiplier.data();
  ep.shift = q.rq->shift.data();
  ep.zero_point = q.y_zp;
  ep.qmin = q.range.lo;
  ep.qmax = q.range.hi;
  // The packed B checks its own source tensor, so it serves even when the scales changed.
  const auto* st = dynamic_cast<const QLinearMatMulState*>(ctx.state);
  if (!matmul_int8_fast(q.in, st ? st->matmul.get() : nullptr, ep, y.raw())) qlinear_matmul_q8_ref(ctx);
}

std::shared_ptr<const OpState> qlinear_matmul_prepare(const PrepareCtx& ctx) {
  if (ctx.in.size() < 4 || !ctx.in[3].defined()) return nullptr;
  auto st = std::make_shared<QLinearMatMulState>();
  st->matmul = matmul_int8_prepare(ctx.in[3], ctx.in.size() > 5 ? ctx.in[5] : Tensor());
  bool consts = ctx.in.size() > 7 && ctx.in[3].rank() == 2;
  for (size_t i = 0; consts && i < 4; ++i)
    consts = ctx.node.has_input(kQParamInputs[i]) && ctx.in[kQParamInputs[i]].defined();
  if (consts) {
    st->y_dtype = ctx.in[7].dtype();
    consts = quant::is_8bit(st->y_dtype);
  }
  if (consts) {  // the forward reports invalid scales; only valid ones are cached
    try {
      st->y_zp = quant::scalar_zero_point(ctx.in[7], st->y_dtype, "y_zero_point");
      const int64_t n = ctx.in[3].shape()[1];
      const float sa = quant::scalar_scale(ctx.in[1], "a_scale");
      const std::vector<float> sb = quant::read_scales(ctx.in[4], n, "b_scale");
      const float sy = quant::scalar_scale(ctx.in[6], "y_scale");
      st->rq = quant::requant_params(sa, sb, sy, n);
      st->range = quant::fused_qrange(ctx.node, sy, st->y_zp, st->y_dtype);
      for (size_t i = 0; i < 4; ++i) st->sources[i] = ctx.in[kQParamInputs[i]].raw();
    } catch (const Error&) {
      st->rq = {};
    }
  }
  if (!st->matmul && st->rq.multiplier.empty()) return nullptr;
  return st;
}

int64_t qlinear_matmul_macs(const Node&, std::span<const Shape> in, std::span<const Shape> out) {
  if (in.empty() || out.empty() || in[0].rank() < 1) return 0;
  return out[0].numel() * in[0][in[0].rank() - 1];
}

}  // namespace

extern const OpDef kOpDef{.name = "QLinearMatMul",
                          .min_opset = 10,
                          .max_opset = 18,
                          .forward = qlinear_matmul_q8_ref,
                          .macs = qlinear_matmul_macs,
                          .forward_fast = qlinear_matmul_q8_fast,
                          .prepare = qlinear_matmul_prepare};

}  // namespace edgeopt::kernels::ops::qlinear_matmul

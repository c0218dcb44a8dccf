// QLinearConv (ONNX https://onnx.ai/onnx/operators/onnx__QLinearConv.html, opset 10+): Conv on
// quantized tensors, requantized per output channel.
//   inputs  x (u8/i8), x_scale (f32 scalar), x_zero_point, w (u8/i8 [M, C/group, *k]),
//           w_scale (scalar or [M]), w_zero_point (scalar or [M]), y_scale, y_zero_point (dtype of
//           y), B (optional i32 [M], quantized with scale x_scale * w_scale and zero point 0)
//   attrs   as Conv (auto_pad, dilations, group, kernel_shape, pads, strides); edgeopt-internal
//           `activation` (Relu/Clip, set by the fuse_qdq pass) narrows the output range, and
//           `maxpool` = 2 (set by fuse_qconv_maxpool, 2-D only) max-pools y 2x2 with stride 2 (floor).
//   y[n, m, o] = clamp(requantize(acc[n, m, o], x_scale * w_scale[m] / y_scale) + y_zero_point)
// where acc is conv_int8.h's s32 sum and requantize the fixed-point quant::requantize (within one
// step of round(acc * scale); the fast kernel equals this reference bit for bit).
#include <algorithm>
#include <optional>
#include <string>

#include "kernels/common.h"
#include "kernels/ops/qlinear_conv/conv_int8.h"
#include "kernels/quant/qop_inputs.h"

namespace edgeopt::kernels::ops::qlinear_conv {
namespace {

struct QConv {
  ConvInt8Inputs in;
  DType y_dtype = DType::kU8;
  quant::RequantParams rq_own;
  const quant::RequantParams* rq = &rq_own;  // rq_own, or the prepared copy
  const gemm_int8::x86::RequantChannelScalars* row_table = nullptr;  // the prepared one's, or null
  int32_t y_zp = 0;
  quant::QRange range;
  int64_t maxpool = 0;  // the `maxpool` attribute, validated (0, or 2 on a 2-D conv)
};

// What prepare derived from the constant scales and output zero point (the requantization
// multipliers, the output range), next to the packed weights; valid while the forward sees the
// very same tensors.
struct QLinearConvState final : OpState {
  std::shared_ptr<const OpState> conv;  // conv_int8_prepare's packed weights, or null
  const void* sources[4] = {};          // storage of x_scale, w_scale, y_scale, y_zero_point
  DType y_dtype = DType::kU8;
  quant::RequantParams rq;
  std::vector<gemm_int8::x86::RequantChannelScalars> row_table;  // gemm_int8::make_row_requant_table(rq)
  int32_t y_zp = 0;
  quant::QRange range;
  // The node's conv attributes for the prepared weights' shape (unset: invalid; the forward
  // reports them) and its `maxpool` attribute, read once instead of per run.
  std::optional<conv::ConvAttrs> attrs;
  const void* w_storage = nullptr;
  Shape w_shape;
  int64_t maxpool = 0;
};

constexpr size_t kQParamInputs[4] = {1, 4, 6, 7};

// The state whose attributes (conv attributes, maxpool) apply: read for the weights the forward sees.
const QLinearConvState* attrs_state(const ForwardCtx& ctx) {
  const auto* st = dynamic_cast<const QLinearConvState*>(ctx.state);
  if (!st || !st->attrs || ctx.in.size() < 4 || ctx.in[3].raw() != st->w_storage || ctx.in[3].shape() != st->w_shape)
    return nullptr;
  return st;
}

const QLinearConvState* matching_state(const ForwardCtx& ctx) {
  const auto* st = dynamic_cast<const QLinearConvState*>(ctx.state);
  if (!st || st->rq.multiplier.empty()) return nullptr;
  for (size_t i = 0; i < 4; ++i) {
    const size_t k = kQParamInputs[i];
    if (ctx.in.size() <= k || !ctx.node.has_input(k) || ctx.in[k].raw() != st->sources[i]) return nullptr;
  }
  return st;
}

QConv read_qlinear_conv(const ForwardCtx& ctx, const QLinearConvState* prepared = nullptr) {
  for (size_t i : {0, 1, 3, 4, 6}) required_input(ctx, i);
  auto opt = [&](size_t i) { return ctx.in.size() > i && ctx.node.has_input(i) ? ctx.in[i] : Tensor(); };
  const Tensor b = opt(8);
  QConv q;
  const QLinearConvState* with_attrs = attrs_state(ctx);
  q.in = read_conv_int8_inputs(ctx.node, ctx.in[0], opt(2), ctx.in[3], opt(5), b.defined() ? &ctx.in[8] : nullptr,
                               "x_zero_point", "w_zero_point", with_attrs ? &*with_attrs->attrs : nullptr);
  // The edgeopt-internal `maxpool` attribute (fuse_qconv_maxpool): 0, or 2 for a 2x2 stride-2
  // floor max pool of the output (2-D convs only).
  q.maxpool = with_attrs ? with_attrs->maxpool : ctx.node.attr_int("maxpool", 0);
  EDGEOPT_CHECK_ARG(q.maxpool == 0 || (q.maxpool == 2 && q.in.d.win.nd == 2),
                    "attribute maxpool is " + std::to_string(q.maxpool) + " on a " + std::to_string(q.in.d.win.nd) +
                        "-D conv; it must be 0, or 2 on a 2-D conv");
  if (prepared && static_cast<int64_t>(prepared->rq.multiplier.size()) == q.in.d.m) {
    q.y_dtype = prepared->y_dtype;
    q.y_zp = prepared->y_zp;
    q.rq = &prepared->rq;
    q.row_table = prepared->row_table.empty() ? nullptr : prepared->row_table.data();
    q.range = prepared->range;
    return q;
  }
  const Tensor y_zp = opt(7);
  q.y_dtype = y_zp.defined() ? y_zp.dtype() : DType::kU8;
  EDGEOPT_CHECK_ARG(quant::is_8bit(q.y_dtype), "input y_zero_point is " + y_zp.describe() + "; it must be u8 or i8");
  q.y_zp = quant::scalar_zero_point(y_zp, q.y_dtype, "y_zero_point");
  const float sx = quant::scalar_scale(ctx.in[1], "x_scale");
  const std::vector<float> sw = quant::read_scales(ctx.in[4], q.in.d.m, "w_scale");
  const float sy = quant::scalar_scale(ctx.in[6], "y_scale");
  q.rq_own = quant::requant_params(sx, sw, sy, q.in.d.m);
  q.range = quant::fused_qrange(ctx.node, sy, q.y_zp, q.y_dtype);
  return q;
}

gemm_int8::Epilogue epilogue_of(const QConv& q) {
  gemm_int8::Epilogue ep;
  ep.out = q.y_dtype == DType::kU8 ? gemm_int8::OutType::kU8 : gemm_int8::OutType::kS8;
  ep.multiplier = q.rq->multiplier.data();
  ep.shift = q.rq->shift.data();
  ep.row_table = q.row_table;
  ep.zero_point = q.y_zp;
  ep.qmin = q.range.lo;
  ep.qmax = q.range.hi;
  return ep;
}

std::vector<int64_t> pooled_dims(std::vector<int64_t> dims) {
  dims[2] /= 2;
  dims[3] /= 2;
  return dims;
}

// y [P, oh/2, ow/2] = the 2x2 stride-2 max of x [P, oh, ow] (planes), for codes or accumulators.
template <typename T>
void maxpool_2x2s2_planes(const T* x, int64_t planes, int64_t oh, int64_t ow, T* y) {
  const int64_t ph = oh / 2, pw = ow / 2;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < ph; ++r)
      for (int64_t c = 0; c < pw; ++c) {
        const T* a = x + (p * oh + 2 * r) * ow + 2 * c;
        y[(p * ph + r) * pw + c] = std::max(std::max(a[0], a[1]), std::max(a[ow], a[ow + 1]));
      }
}

void qlinear_conv_q8_nchw_ref(ForwardCtx& ctx) {
  const QConv q = read_qlinear_conv(ctx);
  const int64_t pool = q.maxpool;
  const Tensor acc = conv_int8_acc_ref(q.in);
  Tensor codes(q.y_dtype, acc.shape());
  const int64_t out_sz = q.in.d.win.small_numel();
  const int32_t* pa = acc.data<int32_t>();
  for (int64_t i = 0; i < acc.numel(); ++i) {
    const int64_t m = (i / out_sz) % q.in.d.m;
    const int32_t v = quant::requantize(pa[i], quant::QuantMultiplier{q.rq->multiplier[m], q.rq->shift[m]}, q.y_zp,
                                        q.range.lo, q.range.hi);
    if (q.y_dtype == DType::kU8)
      codes.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    else
      codes.data<int8_t>()[i] = static_cast<int8_t>(v);
  }
  if (!pool) {
    alloc_output(ctx, 0, q.y_dtype, acc.shape()) = codes;
    return;
  }
  // The max pool on the codes, as the MaxPool node it replaced.
  const std::vector<int64_t> dims = acc.shape().dims();
  Tensor& y = alloc_output(ctx, 0, q.y_dtype, Shape(pooled_dims(dims)));
  if (q.y_dtype == DType::kU8)
    maxpool_2x2s2_planes(codes.data<uint8_t>(), dims[0] * dims[1], dims[2], dims[3], y.data<uint8_t>());
  else
    maxpool_2x2s2_planes(codes.data<int8_t>(), dims[0] * dims[1], dims[2], dims[3], y.data<int8_t>());
}

void qlinear_conv_q8_nchw_fast(ForwardCtx& ctx) {
  const QLinearConvState* prepared = matching_state(ctx);
  const QConv q = read_qlinear_conv(ctx, prepared);
  const int64_t pool = q.maxpool;
  const std::vector<int64_t> dims = conv_int8_out_dims(q.in.d);
  // The packed weights check their own source tensor, so they serve even when the scales changed.
  const auto* st = dynamic_cast<const QLinearConvState*>(ctx.state);
  const OpState* conv_state = st ? st->conv.get() : nullptr;
  if (!pool) {
    Tensor& y = alloc_output(ctx, 0, q.y_dtype, Shape(dims));
    if (!conv_int8_fast(q.in, conv_state, epilogue_of(q), y.raw())) qlinear_conv_q8_nchw_ref(ctx);
    return;
  }
  // Pool the s32 accumulators (bias included), then requantize the quarter left: the
  // requantization and its clamp are monotonic per channel, so this equals pooling the codes.
  const std::vector<int64_t> pdims0 = pooled_dims(dims);
  Tensor& yp = alloc_output(ctx, 0, q.y_dtype, Shape(pdims0));
  if (conv_int8_fast(q.in, conv_state, epilogue_of(q), yp.raw(), /*pool2x2=*/true)) return;
  gemm_int8::Epilogue e32 = epilogue_of(q);
  e32.out = gemm_int8::OutType::kS32;
  const int64_t planes = dims[0] * dims[1], out_sz = dims[2] * dims[3];
  thread_local std::vector<int32_t> acc, pooled;
  acc.resize(static_cast<size_t>(planes * out_sz));
  if (!conv_int8_fast(q.in, conv_state, e32, acc.data())) return qlinear_conv_q8_nchw_ref(ctx);
  const std::vector<int64_t> pdims = pooled_dims(dims);
  const int64_t psz = pdims[2] * pdims[3];
  pooled.resize(static_cast<size_t>(planes * psz));
  maxpool_2x2s2_s32(acc.data(), planes, dims[2], dims[3], pooled.data());
  Tensor& y = alloc_output(ctx, 0, q.y_dtype, Shape(pdims));
  gemm_int8::Epilogue ep = epilogue_of(q);
  ep.per_row = true;
  for (int64_t n = 0; n < dims[0]; ++n)
    gemm_int8::requantize_s32(pooled.data() + n * dims[1] * psz, dims[1], psz, psz, ep,
                              static_cast<uint8_t*>(y.raw()) + n * dims[1] * psz, psz);
}

std::shared_ptr<const OpState> qlinear_conv_prepare(const PrepareCtx& ctx) {
  if (ctx.in.size() < 4 || !ctx.in[3].defined()) return nullptr;
  auto st = std::make_shared<QLinearConvState>();
  st->conv = conv_int8_prepare(ctx.node, ctx.in[3], ctx.in.size() > 5 ? ctx.in[5] : Tensor());
  try {
    st->attrs = conv::read_conv_attrs(ctx.node, ctx.in[3].shape());
    st->maxpool = ctx.node.attr_int("maxpool", 0);
    st->w_storage = ctx.in[3].raw();
    st->w_shape = ctx.in[3].shape();
  } catch (const Error&) {
    st->attrs.reset();
  }
  bool consts = ctx.in.size() > 7;
  for (size_t i = 0; consts && i < 4; ++i)
    consts = ctx.node.has_input(kQParamInputs[i]) && ctx.in[kQParamInputs[i]].defined();
  if (consts) {
    const Tensor& y_zp = ctx.in[7];
    st->y_dtype = y_zp.dtype();
    if (!quant::is_8bit(st->y_dtype)) consts = false;
  }
  if (consts) {  // the forward reports invalid scales; only valid ones are cached
    try {
      st->y_zp = quant::scalar_zero_point(ctx.in[7], st->y_dtype, "y_zero_point");
      const int64_t m = ctx.in[3].rank() >= 1 ? ctx.in[3].shape()[0] : 0;
      const float sx = quant::scalar_scale(ctx.in[1], "x_scale");
      const std::vector<float> sw = quant::read_scales(ctx.in[4], m, "w_scale");
      const float sy = quant::scalar_scale(ctx.in[6], "y_scale");
      st->rq = quant::requant_params(sx, sw, sy, m);
      st->row_table = gemm_int8::make_row_requant_table(st->rq.multiplier.data(), st->rq.shift.data(), m);
      st->range = quant::fused_qrange(ctx.node, sy, st->y_zp, st->y_dtype);
      for (size_t i = 0; i < 4; ++i) st->sources[i] = ctx.in[kQParamInputs[i]].raw();
    } catch (const Error&) {
      st->rq = {};
    }
  }
  if (!st->conv && st->rq.multiplier.empty() && !st->attrs) return nullptr;
  return st;
}

int64_t qlinear_conv_macs(const Node& node, std::span<const Shape> in, std::span<const Shape> out) {
  if (in.size() < 4 || out.empty()) return 0;
  const int64_t pooled = node.attr_int("maxpool", 0) == 2 ? 4 : 1;  // out is the pooled output
  return pooled * out[0].numel() * (in[3].numel() / std::max<int64_t>(1, in[3][0]));
}

}  // namespace

extern const OpDef kOpDef{.name = "QLinearConv",
                          .min_opset = 10,
                          .max_opset = 18,
                          .forward = qlinear_conv_q8_nchw_ref,
                          .macs = qlinear_conv_macs,
                          .forward_fast = qlinear_conv_q8_nchw_fast,
                          .prepare = qlinear_conv_prepare};

}  // namespace edgeopt::kernels::ops::qlinear_conv

#include "kernels/ops/rnn/rnn_int8.h"

#include <cmath>
#include <string>

#include "kernels/common.h"
#include "kernels/microkernels/quantize_q8/quantize_q8.h"
#include "kernels/ops/rnn/rnn_common.h"

namespace edgeopt::kernels::recurrent {
namespace {

// A weight scale: f32 with 1 or `rows` values, each finite and > 0. Returns whether it is per row.
bool read_scale(std::span<const Tensor> in, size_t i, const char* name, int64_t rows) {
  EDGEOPT_CHECK_ARG(i < in.size() && in[i].defined(), std::string("input ") + name + " (input " +
                                                          std::to_string(i) + ") is required");
  const Tensor& s = in[i];
  EDGEOPT_CHECK_ARG(s.dtype() == DType::kF32, std::string("input ") + name + " is " + s.describe() + "; it must be f32");
  EDGEOPT_CHECK_ARG(s.numel() == 1 || (s.rank() == 1 && s.numel() == rows),
                    std::string("input ") + name + " has shape " + s.shape().str() +
                        "; it must hold 1 value or one per gate row ([" + std::to_string(rows) + "])");
  const float* p = s.data<float>();
  for (int64_t k = 0; k < s.numel(); ++k)
    EDGEOPT_CHECK_ARG(std::isfinite(p[k]) && p[k] > 0.f, std::string("input ") + name + "[" + std::to_string(k) +
                                                              "] = " + std::to_string(p[k]) +
                                                              "; scales must be finite and > 0");
  return s.numel() != 1;
}

}  // namespace

Int8Weights read_int8_weights(std::span<const Tensor> in, size_t w_scale, size_t r_scale, int64_t rows) {
  Int8Weights q;
  q.w_per_row = read_scale(in, w_scale, "W_scale", rows);
  q.r_per_row = read_scale(in, r_scale, "R_scale", rows);
  q.w = in[1].data<int8_t>();
  q.r = in[2].data<int8_t>();
  q.w_scale = in[w_scale].data<float>();
  q.r_scale = in[r_scale].data<float>();
  return q;
}

quant::DynamicQ8Params quantize_block_u8(const float* v, int64_t rows, int64_t n, int32_t* q) {
  const quant::DynamicQ8Params p = quant::dynamic_u8_params(v, rows, n, n);
  for (int64_t i = 0; i < rows * n; ++i) q[i] = quant::quantize_f32(v[i], p.scale, p.zero_point, 0, 255);
  return p;
}

float dequantized_dot(const int32_t* q, const int8_t* w, int64_t n, const quant::DynamicQ8Params& p, float w_scale) {
  int32_t acc = 0, sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    acc += q[i] * w[i];
    sum += w[i];
  }
  return static_cast<float>(acc - p.zero_point * sum) * (p.scale * w_scale);
}

bool int8_weights_constant(const PrepareCtx& ctx, int64_t gates) {
  if (ctx.in.size() < 3) return false;
  const Tensor& w = ctx.in[1];
  const Tensor& r = ctx.in[2];
  const Tensor* b = optional_input(ctx.in, 3);
  if (!w.defined() || !r.defined() || (ctx.node.has_input(3) && !b)) return false;
  if (w.dtype() != DType::kI8 || r.dtype() != DType::kI8 || w.rank() != 3 || r.rank() != 3) return false;
  const int64_t dirs = w.shape()[0], G = w.shape()[1], H = r.shape()[2];
  if (G != gates * H || H <= 0 || r.shape() != Shape{dirs, G, H}) return false;
  return !b || (b->dtype() == DType::kF32 && b->shape() == Shape{dirs, 2 * G});
}

Int8WeightsKey Int8WeightsKey::of(std::span<const Tensor> in) {
  const Tensor* b = optional_input(in, 3);
  return {in[1].raw(), in[2].raw(), b ? b->raw() : nullptr, in[1].shape(), in[2].shape()};
}

PackedInt8Rows pack_int8_rows(const int8_t* w, int64_t n, int64_t k) {
  PackedInt8Rows p;
  p.n = n;
  p.k = k;
  p.packed.resize(gemm_int8::packed_rhs_bytes(k, n));
  gemm_int8::pack_rhs(w, k, n, k, /*trans=*/true, 0, p.packed.data());
  p.sums.assign(static_cast<size_t>(n), 0);
  for (int64_t j = 0; j < n; ++j)
    for (int64_t i = 0; i < k; ++i) p.sums[j] += w[j * k + i];
  return p;
}

void gemm_dynamic_int8(const float* a, int64_t m, int64_t lda, const PackedInt8Rows& w, const float* scale,
                       bool per_row, const float* bias, float* out, int64_t ldo, DynamicInt8Scratch& scratch) {
  namespace gi = gemm_int8;
  const gi::Isa isa = gi::default_isa();
  const int64_t k = w.k, n = w.n;
  const quant::DynamicQ8Params p = quant::dynamic_u8_params(a, m, k, lda);
  scratch.codes.resize(static_cast<size_t>(m * k));
  for (int64_t i = 0; i < m; ++i)
    quantize_q8::quantize_f32_to_q8(a + i * lda, k, p.scale, p.zero_point, 0, 255, false, scratch.codes.data() + i * k,
                                    isa);
  // One row (a GEMV on VNNI): the codes are read in place by the 1-row kernel, no 8-row block.
  const bool row = gi::gemv_lhs_row_ok(m, isa);
  scratch.packed.resize(row ? static_cast<size_t>(gi::padded_k(k)) : gi::packed_lhs_bytes(m, k));
  if (row) gi::pack_lhs_row(scratch.codes.data(), k, 0, scratch.packed.data());
  else gi::pack_lhs(scratch.codes.data(), m, k, k, 0, scratch.packed.data());
  scratch.acc.resize(static_cast<size_t>(m * n));
  gi::Operands op{scratch.packed.data(), w.packed.data(), m, n, k, /*lhs_unsigned=*/true};
  op.lhs_row = row;
  gi::Epilogue ep;  // s32 out; the zero-point correction is part of the scale-back below
  ep.per_row = false;
  gi::gemm_int8(op, ep, scratch.acc.data(), n, nullptr, isa);
  // The reference's expression (dequantized_dot, then + bias), term for term.
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      float v = static_cast<float>(scratch.acc[i * n + j] - p.zero_point * w.sums[j]) * (p.scale * scale[per_row ? j : 0]);
      if (bias) v += bias[j];
      out[i * ldo + j] = v;
    }
}

}  // namespace edgeopt::kernels::recurrent

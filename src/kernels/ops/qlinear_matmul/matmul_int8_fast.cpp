// Fast int8 MatMul: B (the weights) packed once as gemm_int8's column panels; A packed per call
// (s8 A shifted to u8 by +128, its zero point with it) as the unsigned operand.
#include <vector>

#include "core/thread_pool.h"
#include "kernels/ops/qlinear_matmul/matmul_int8.h"

namespace edgeopt::kernels::ops::qlinear_matmul {
namespace {

struct MatMulInt8State final : OpState {
  const void* b_storage = nullptr;
  Shape b_shape;
  std::vector<uint8_t> packed;    // B [K, N] as s8 (u8 B xor 0x80)
  std::vector<int32_t> col_sums;  // per column: sum_k B (s8 domain)
};

bool weights_ok(DType bt, const std::vector<int32_t>& zb) {
  const int32_t want = bt == DType::kU8 ? 128 : 0;
  for (int32_t z : zb)
    if (z != want) return false;
  return true;
}

std::shared_ptr<MatMulInt8State> pack_weights(const Tensor& b) {
  auto st = std::make_shared<MatMulInt8State>();
  st->b_storage = b.raw();
  st->b_shape = b.shape();
  const int64_t k = b.shape()[0], n = b.shape()[1];
  const uint8_t mask = b.dtype() == DType::kU8 ? 0x80 : 0;
  const auto* pb = static_cast<const uint8_t*>(b.raw());
  st->packed.resize(gemm_int8::packed_rhs_bytes(k, n));
  gemm_int8::pack_rhs(pb, k, n, n, false, mask, st->packed.data());
  st->col_sums.assign(static_cast<size_t>(n), 0);
  for (int64_t kk = 0; kk < k; ++kk)
    for (int64_t j = 0; j < n; ++j) st->col_sums[j] += static_cast<int8_t>(pb[kk * n + j] ^ mask);
  return st;
}

}  // namespace

std::shared_ptr<const OpState> matmul_int8_prepare(const Tensor& b, const Tensor& b_zp) {
  if (!b.defined() || b.rank() != 2 || !(b.dtype() == DType::kU8 || b.dtype() == DType::kI8)) return nullptr;
  const int64_t want = b.dtype() == DType::kU8 ? 128 : 0;
  if (!b_zp.defined() && want != 0) return nullptr;
  if (b_zp.defined()) {
    if (b_zp.dtype() != b.dtype()) return nullptr;
    for (int64_t z : b_zp.to_i64_vector())
      if (z != want) return nullptr;
  }
  return pack_weights(b);
}

bool matmul_int8_fast(const MatMulInt8Inputs& in, const OpState* state, gemm_int8::Epilogue ep, void* y) {
  if (in.b_batched || !weights_ok(in.b->dtype(), in.b_zp)) return false;
  const int64_t rows = in.batch * in.m;
  if (rows == 0 || in.n == 0) return true;
  const auto* st = dynamic_cast<const MatMulInt8State*>(state);
  std::shared_ptr<MatMulInt8State> local;
  if (!st || st->b_storage != in.b->raw() || st->b_shape != in.b->shape()) {
    local = pack_weights(*in.b);
    st = local.get();
  }
  const bool a_signed = in.a->dtype() == DType::kI8;
  const int32_t za = in.a_zp + (a_signed ? 128 : 0);
  const int32_t* pbias = in.bias ? in.bias->data<int32_t>() : nullptr;
  std::vector<int32_t> bias(static_cast<size_t>(in.n));
  for (int64_t j = 0; j < in.n; ++j)
    bias[j] = static_cast<int32_t>(static_cast<uint32_t>(pbias ? pbias[j] : 0) -
                                   static_cast<uint32_t>(za) * static_cast<uint32_t>(st->col_sums[j]));
  thread_local std::vector<uint8_t> lp;
  // Batch 1 (a GEMV): A's row read in place by the 1-row kernel, no 8-row block to pack.
  const bool row = gemm_int8::gemv_lhs_row_ok(rows, gemm_int8::default_isa());
  lp.resize(row ? static_cast<size_t>(gemm_int8::padded_k(in.k)) : gemm_int8::packed_lhs_bytes(rows, in.k));
  if (row)
    gemm_int8::pack_lhs_row(in.a->raw(), in.k, a_signed ? 0x80 : 0, lp.data());
  else
    gemm_int8::pack_lhs(in.a->raw(), rows, in.k, in.k, a_signed ? 0x80 : 0, lp.data());
  ep.per_row = false;
  ep.bias = bias.data();
  gemm_int8::Operands op{lp.data(), st->packed.data(), rows, in.n, in.k, true};
  op.lhs_row = row;
  gemm_int8::gemm_int8(op, ep, y, in.n, &default_pool());
  return true;
}

}  // namespace edgeopt::kernels::ops::qlinear_matmul

// The bf16 GEMM driver, packing, dispatch and the portable scalar tile. The AVX512-BF16 tile lives
// in gemm_bf16_x86.cpp (target-attributed: Debian's Highway 1.0 has no vdpbf16ps op, and one binary
// must still run on CPUs without it).
#include "kernels/microkernels/gemm_bf16/gemm_bf16.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"
#include "kernels/microkernels/gemm_bf16/gemm_bf16_internal.h"

namespace edgeopt::kernels::gemm_bf16 {

const char* isa_name(Isa isa) { return isa == Isa::kAvx512Bf16 ? "avx512bf16" : "scalar"; }

bool bf16_compute_supported() {
#if defined(__x86_64__)
  static const bool ok = [] {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bf16");
  }();
  return ok;
#else
  return false;
#endif
}

Isa default_isa() {
  static const Isa isa = [] {
    const char* env = std::getenv("EDGEOPT_BF16_ISA");
    if (env && std::string(env) == "scalar") return Isa::kScalar;
    return bf16_compute_supported() ? Isa::kAvx512Bf16 : Isa::kScalar;
  }();
  return isa;
}

void PackedBf16::reshape(bool is_a, int64_t rows, int64_t cols) {
  const int64_t kp = padded_k(is_a ? cols : rows);
  const int64_t tiles = is_a ? (rows + kMr - 1) / kMr * kMr : (cols + kNr - 1) / kNr * kNr;
  const size_t elems = static_cast<size_t>(tiles * kp);
  if (elems > capacity_ || !data_) {
    // 64-byte aligned (whole zmm loads of a panel pair); +32 elements of slack so no read runs past.
    const size_t bytes = (elems + 32) * sizeof(uint16_t);
    auto* p = static_cast<uint16_t*>(std::aligned_alloc(64, (bytes + 63) / 64 * 64));
    EDGEOPT_CHECK(p, ErrorCode::kInternal, "out of memory packing a bf16 operand of " + std::to_string(bytes) + " bytes");
    data_ = std::shared_ptr<uint16_t>(p, [](uint16_t* q) { std::free(q); });
    capacity_ = elems;
  }
  elems_ = elems;
  rows_ = rows;
  cols_ = cols;
  is_a_ = is_a;
}

namespace {

// Block b, pair q, row r at ((b * kq + q) * kMr + r) * 2: one row's K-pair is one 32-bit word.
template <typename Get>
void pack_a_impl(PackedBf16& dst, int64_t m, int64_t k, Get get) {
  EDGEOPT_CHECK_ARG(m >= 0 && k >= 0, "pack_a_bf16: bad shape [" + std::to_string(m) + ", " + std::to_string(k) + "]");
  dst.reshape(true, m, k);
  const int64_t kq = padded_k(k) / 2, mb = (m + kMr - 1) / kMr;
  uint16_t* out = dst.mutable_data();
  for (int64_t b = 0; b < mb; ++b)
    for (int64_t q = 0; q < kq; ++q)
      for (int64_t r = 0; r < kMr; ++r) {
        const int64_t i = b * kMr + r;
        uint16_t* o = out + ((b * kq + q) * kMr + r) * 2;
        o[0] = i < m ? get(i, 2 * q) : 0;
        o[1] = i < m && 2 * q + 1 < k ? get(i, 2 * q + 1) : 0;
      }
}

}  // namespace

void pack_a_bf16_into(PackedBf16& dst, int64_t m, int64_t k, const float* a, int64_t lda) {
  EDGEOPT_CHECK_ARG(lda >= k, "pack_a_bf16: lda " + std::to_string(lda) + " < K " + std::to_string(k));
  pack_a_impl(dst, m, k, [&](int64_t i, int64_t p) { return f32_to_bf16(a[i * lda + p]); });
}

void pack_a_bf16_pair(PackedBf16& dst, int64_t q, const float* c0, const float* c1) {
  const int64_t m = dst.rows(), kq = padded_k(dst.cols()) / 2, mb = (m + kMr - 1) / kMr;
  for (int64_t b = 0; b < mb; ++b) {
    uint16_t* o = dst.mutable_data() + (b * kq + q) * kMr * 2;
    for (int64_t r = 0; r < kMr; ++r) {
      const int64_t i = b * kMr + r;
      o[2 * r] = i < m ? f32_to_bf16(c0[i]) : uint16_t{0};
      o[2 * r + 1] = i < m && c1 ? f32_to_bf16(c1[i]) : uint16_t{0};
    }
  }
}

PackedBf16 pack_a_bf16(int64_t m, int64_t k, const float* a, int64_t lda) {
  PackedBf16 p;
  pack_a_bf16_into(p, m, k, a, lda);
  return p;
}

PackedBf16 pack_a_bf16(int64_t m, int64_t k, const uint16_t* a, int64_t lda) {
  EDGEOPT_CHECK_ARG(lda >= k, "pack_a_bf16: lda " + std::to_string(lda) + " < K " + std::to_string(k));
  PackedBf16 p;
  pack_a_impl(p, m, k, [&](int64_t i, int64_t q) { return a[i * lda + q]; });
  return p;
}

// Panel p, pair q, column c at ((p * kq + q) * kNr + c) * 2: one column's K-pair is one 32-bit word.
void pack_b_bf16_into(PackedBf16& dst, int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b) {
  EDGEOPT_CHECK_ARG(k >= 0 && n >= 0, "pack_b_bf16: bad shape [" + std::to_string(k) + ", " + std::to_string(n) + "]");
  EDGEOPT_CHECK_ARG(ldb >= (trans_b ? k : n), "pack_b_bf16: ldb " + std::to_string(ldb) + " < " +
                                                  (trans_b ? "K " + std::to_string(k) : "N " + std::to_string(n)));
  dst.reshape(false, k, n);
  const int64_t kq = padded_k(k) / 2, np = (n + kNr - 1) / kNr;
  uint16_t* out = dst.mutable_data();
  if (!trans_b) {  // the per-run case (activations): row pairs, vectorized where AVX-512 is
    for (int64_t q = 0; q < kq; ++q) pack_b_bf16_pair(dst, q, b + 2 * q * ldb, 2 * q + 1 < k ? b + (2 * q + 1) * ldb : nullptr);
    return;
  }
  for (int64_t p = 0; p < np; ++p) {
    const int64_t j0 = p * kNr, nc = std::min(kNr, n - j0);
    uint16_t* panel = out + p * kq * kNr * 2;
    for (int64_t q = 0; q < kq; ++q)
      for (int64_t c = 0; c < kNr; ++c)
        for (int64_t t = 0; t < 2; ++t) {
          const int64_t kk = 2 * q + t, j = j0 + c;
          panel[(q * kNr + c) * 2 + t] =
              c < nc && kk < k ? f32_to_bf16(b[j * ldb + kk]) : uint16_t{0};
        }
  }
}

void pack_b_bf16_pair(PackedBf16& dst, int64_t q, const float* r0, const float* r1) {
  const int64_t n = dst.cols(), kq = padded_k(dst.rows()) / 2;
  const bool vec = default_isa() == Isa::kAvx512Bf16;
  for (int64_t p = 0; p * kNr < n; ++p) {
    const int64_t j0 = p * kNr, nc = std::min(kNr, n - j0);
    uint16_t* out = dst.mutable_data() + (p * kq + q) * kNr * 2;
    if (vec) {
      detail::pack_b_pair_avx512(r0 + j0, r1 ? r1 + j0 : nullptr, nc, out);
      continue;
    }
    for (int64_t c = 0; c < kNr; ++c) {
      out[2 * c] = c < nc ? f32_to_bf16(r0[j0 + c]) : uint16_t{0};
      out[2 * c + 1] = c < nc && r1 ? f32_to_bf16(r1[j0 + c]) : uint16_t{0};
    }
  }
}

PackedBf16 pack_b_bf16(int64_t k, int64_t n, const float* b, int64_t ldb, bool trans_b) {
  PackedBf16 p;
  pack_b_bf16_into(p, k, n, b, ldb, trans_b);
  return p;
}

namespace detail {

void tile_scalar(const Tile& t) {
  float acc[kMr][kNr];
  for (int64_t i = 0; i < kMr; ++i)
    for (int64_t j = 0; j < kNr; ++j) acc[i][j] = t.load_c && i < t.mr && j < t.nr ? t.c[i * t.ldc + j] : 0.f;
  const uint16_t* a = t.a;
  const uint16_t* b = t.b;
  for (int64_t q = 0; q < t.kq; ++q, a += kMr * 2, b += kNr * 2)
    for (int64_t i = 0; i < t.mr; ++i) {
      const float a0 = bf16_to_f32(a[i * 2]), a1 = bf16_to_f32(a[i * 2 + 1]);
      for (int64_t j = 0; j < t.nr; ++j) {
        // Both products are exact in f32; the odd one first, as vdpbf16ps is specified.
        acc[i][j] += a1 * bf16_to_f32(b[j * 2 + 1]);
        acc[i][j] += a0 * bf16_to_f32(b[j * 2]);
      }
    }
  for (int64_t i = 0; i < t.mr; ++i)
    for (int64_t j = 0; j < t.nr; ++j) {
      float v = acc[i][j];
      if (t.last) {
        if (t.row_bias) v += t.row_bias[i];
        if (t.col_bias) v += t.col_bias[j];
        if (t.clamp) v = std::min(std::max(v, t.lo), t.hi);
      }
      t.c[i * t.ldc + j] = v;
    }
}

}  // namespace detail

void gemm_bf16_packed(const PackedBf16& a, const PackedBf16& b, float* c, int64_t ldc, const gemm::GemmEpilogue& ep,
                      ThreadPool* pool, bool accumulate, Isa isa) {
  EDGEOPT_CHECK_ARG(!a.empty() && !b.empty() && a.is_a() && !b.is_a(),
                    "gemm_bf16_packed: needs pack_a_bf16 output as A and pack_b_bf16 output as B");
  EDGEOPT_CHECK_ARG(a.cols() == b.rows(), "gemm_bf16_packed: A is [" + std::to_string(a.rows()) + ", " +
                                              std::to_string(a.cols()) + "] but B is [" + std::to_string(b.rows()) +
                                              ", " + std::to_string(b.cols()) + "]");
  const int64_t m = a.rows(), n = b.cols(), kq = padded_k(a.cols()) / 2;
  EDGEOPT_CHECK_ARG(ldc >= n, "gemm_bf16_packed: ldc " + std::to_string(ldc) + " < N " + std::to_string(n));
  if (m == 0 || n == 0) return;
  if (isa == Isa::kAvx512Bf16 && !bf16_compute_supported()) isa = Isa::kScalar;
  const bool clamp = ep.clamp_min != -std::numeric_limits<float>::infinity() ||
                     ep.clamp_max != std::numeric_limits<float>::infinity();
  const int64_t mblocks = (m + kMr - 1) / kMr, panels = (n + kNr - 1) / kNr;
  // K slices of 256: a panel's slice (24 KB) stays in L1 while the row blocks stream past it; the
  // partial sums go through C in f32, which changes no bits.
  constexpr int64_t kSlicePairs = 128;
  auto run = [&](int64_t begin, int64_t end) {
    for (int64_t q0 = 0; q0 < kq || q0 == 0; q0 += kSlicePairs) {
      const int64_t qn = std::min(kSlicePairs, kq - q0);
      for (int64_t item = begin; item < end; ++item) {
        const int64_t p = item / mblocks, mb = item % mblocks, i0 = mb * kMr, j0 = p * kNr;
        detail::Tile t;
        t.kq = qn;
        t.a = a.data() + (mb * kq + q0) * kMr * 2;
        t.b = b.data() + (p * kq + q0) * kNr * 2;
        t.c = c + i0 * ldc + j0;
        t.ldc = ldc;
        t.mr = std::min(kMr, m - i0);
        t.nr = std::min(kNr, n - j0);
        t.load_c = q0 > 0 || accumulate;
        t.last = q0 + kSlicePairs >= kq;
        t.row_bias = ep.row_bias ? ep.row_bias + i0 : nullptr;
        t.col_bias = ep.col_bias ? ep.col_bias + j0 : nullptr;
        t.clamp = clamp;
        t.lo = ep.clamp_min;
        t.hi = ep.clamp_max;
        if (isa == Isa::kAvx512Bf16)
          detail::tile_avx512bf16(t);
        else
          detail::tile_scalar(t);
      }
    }
  };
  const int64_t items = mblocks * panels;
  if (pool && pool->num_threads() > 1 && items > 1)
    pool->parallel_for(items, run);
  else
    run(0, items);
}

}  // namespace edgeopt::kernels::gemm_bf16

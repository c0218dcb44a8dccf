#include "kernels/microkernels/gemm_bf16/gemm_bf16.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/error.h"
#include "core/thread_pool.h"

namespace edgeopt::kernels::gemm_bf16 {
namespace {

struct Case {
  int64_t m, n, k;
  bool trans_b, row_bias, col_bias, clamp, accumulate;
  std::string describe() const {
    std::ostringstream os;
    os << "M=" << m << " N=" << n << " K=" << k << " transB=" << trans_b << " row_bias=" << row_bias
       << " col_bias=" << col_bias << " clamp=" << clamp << " accumulate=" << accumulate;
    return os.str();
  }
};

float round_bf16(float x) { return bf16_to_f32(f32_to_bf16(x)); }

struct Problem {
  Case cs;
  std::vector<float> a, b, rb, cb, c0;  // b as stored: [K, N] or [N, K] with trans_b
  gemm::GemmEpilogue ep;
  explicit Problem(const Case& c, std::mt19937& rng) : cs(c) {
    std::uniform_real_distribution<float> u(-1.f, 1.f);
    a.resize(cs.m * cs.k);
    b.resize(cs.k * cs.n);
    rb.resize(cs.m);
    cb.resize(cs.n);
    c0.resize(cs.m * cs.n);
    for (auto* v : {&a, &b, &rb, &cb, &c0})
      for (float& x : *v) x = u(rng);
    if (cs.row_bias) ep.row_bias = rb.data();
    if (cs.col_bias) ep.col_bias = cb.data();
    if (cs.clamp) ep = ep.with_clamp(-0.25f, 0.5f);
  }
  float b_at(int64_t p, int64_t j) const { return cs.trans_b ? b[j * cs.k + p] : b[p * cs.n + j]; }
  std::vector<float> run(Isa isa, ThreadPool* pool) const {
    const PackedBf16 pa = pack_a_bf16(cs.m, cs.k, a.data(), cs.k);
    const PackedBf16 pb = pack_b_bf16(cs.k, cs.n, b.data(), cs.trans_b ? cs.k : cs.n, cs.trans_b);
    std::vector<float> c = cs.accumulate ? c0 : std::vector<float>(c0.size(), std::nanf(""));
    gemm_bf16_packed(pa, pb, c.data(), cs.n, ep, pool, cs.accumulate, isa);
    return c;
  }
  // The double-precision product of the bf16-rounded inputs, and per element the bound on an f32
  // summation of its (k + 3) terms: (k + 3) * 2^-24 * the sum of their magnitudes.
  void exact(std::vector<double>* y, std::vector<double>* tol) const {
    y->assign(cs.m * cs.n, 0.0);
    tol->assign(cs.m * cs.n, 0.0);
    for (int64_t i = 0; i < cs.m; ++i)
      for (int64_t j = 0; j < cs.n; ++j) {
        double s = cs.accumulate ? c0[i * cs.n + j] : 0.0, mag = std::fabs(s);
        for (int64_t p = 0; p < cs.k; ++p) {
          const double t = double{round_bf16(a[i * cs.k + p])} * double{round_bf16(b_at(p, j))};
          s += t;
          mag += std::fabs(t);
        }
        if (cs.row_bias) s += rb[i], mag += std::fabs(rb[i]);
        if (cs.col_bias) s += cb[j], mag += std::fabs(cb[j]);
        if (cs.clamp) s = std::min(std::max(s, -0.25), 0.5);
        (*y)[i * cs.n + j] = s;
        (*tol)[i * cs.n + j] = (cs.k + 3) * std::ldexp(1.0, -24) * mag + 1e-30;
      }
  }
};

std::vector<Case> cases() {
  const int64_t shapes[][3] = {{1, 1, 1},     {1, 48, 1},   {8, 48, 2},   {7, 47, 3},    {9, 49, 5},
                               {17, 97, 33},  {2, 3, 256},  {33, 100, 257}, {4, 200, 300}, {3, 5, 1001},
                               {1, 130, 513}, {64, 96, 64}, {130, 150, 600}};
  std::vector<Case> v;
  int combo = 0;
  for (const auto& s : shapes)
    for (int e = 0; e < 8; ++e, ++combo)
      v.push_back(Case{s[0], s[1], s[2], combo % 3 == 0, (e & 1) != 0, (e & 2) != 0, (e & 4) != 0, combo % 5 == 1});
  return v;
}

TEST(GemmBf16Microkernel, ScalarMatchesDoubleProductOfRoundedInputs) {
  std::mt19937 rng(7);
  for (const Case& cs : cases()) {
    const Problem pr(cs, rng);
    const std::vector<float> c = pr.run(Isa::kScalar, nullptr);
    std::vector<double> y, tol;
    pr.exact(&y, &tol);
    for (size_t e = 0; e < c.size(); ++e)
      ASSERT_LE(std::fabs(c[e] - y[e]), tol[e])
          << cs.describe() << " at (" << e / cs.n << ", " << e % cs.n << "): scalar " << c[e] << " exact " << y[e];
  }
}

// The best ISA this CPU runs (AVX512-BF16, else the scalar path the dispatch falls back to) against
// the scalar kernel on one thread, and one thread against two bit for bit.
TEST(GemmBf16Microkernel, FastMatchesScalarAnyThreadCount) {
  const Isa fast = bf16_compute_supported() ? Isa::kAvx512Bf16 : Isa::kScalar;
  if (!bf16_compute_supported()) EXPECT_EQ(default_isa(), Isa::kScalar) << "the dispatch must fall back";
  std::mt19937 rng(11);
  ThreadPool two(2);
  for (const Case& cs : cases()) {
    const Problem pr(cs, rng);
    const std::vector<float> ref = pr.run(Isa::kScalar, nullptr);
    const std::vector<float> one = pr.run(fast, nullptr);
    const std::vector<float> par = pr.run(fast, &two);
    std::vector<double> y, tol;
    pr.exact(&y, &tol);
    for (size_t e = 0; e < ref.size(); ++e) {
      ASSERT_LE(std::fabs(one[e] - ref[e]), 2 * tol[e])
          << cs.describe() << " at (" << e / cs.n << ", " << e % cs.n << "): fast " << one[e] << " scalar " << ref[e];
      ASSERT_EQ(one[e], par[e]) << cs.describe() << " at (" << e / cs.n << ", " << e % cs.n
                                << "): 1 thread " << one[e] << " vs 2 threads " << par[e];
    }
  }
}

// The vectorized B packing (row pairs) gives f32_to_bf16's bits: ties, nan, inf, denormals, odd K.
TEST(GemmBf16Microkernel, PackBMatchesScalarRounding) {
  const float specials[] = {1.f + std::ldexp(1.f, -8), 1.f + 3 * std::ldexp(1.f, -8), -0.f,
                            std::numeric_limits<float>::infinity(), std::nanf(""),
                            std::numeric_limits<float>::denorm_min(), 3.4e38f, -1.00390625f};
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-4.f, 4.f);
  for (const int64_t k : {1, 2, 5})
    for (const int64_t n : {1, 16, 47, 48, 100}) {
      std::vector<float> b(k * n);
      for (size_t i = 0; i < b.size(); ++i) b[i] = i % 3 == 0 ? specials[i / 3 % 8] : u(rng);
      const PackedBf16 p = pack_b_bf16(k, n, b.data(), n, false);
      const int64_t kq = padded_k(k) / 2;
      for (int64_t kk = 0; kk < padded_k(k); ++kk)
        for (int64_t j = 0; j < (n + kNr - 1) / kNr * kNr; ++j) {
          const uint16_t got = p.data()[((j / kNr * kq + kk / 2) * kNr + j % kNr) * 2 + kk % 2];
          const uint16_t want = kk < k && j < n ? f32_to_bf16(b[kk * n + j]) : 0;
          ASSERT_EQ(got, want) << "K=" << k << " N=" << n << " at (" << kk << ", " << j << ")";
        }
    }
}

// The pair producers (a conv's im2col rows) give the whole-matrix packers' bits.
TEST(GemmBf16Microkernel, PairPackersMatchWholePacking) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-2.f, 2.f);
  for (const int64_t k : {1, 2, 7})
    for (const int64_t n : {1, 9, 49, 97}) {
      std::vector<float> bt(k * n);  // B [k, n] = A^T for A [n, k]
      for (float& v : bt) v = u(rng);
      std::vector<float> a(n * k);
      for (int64_t i = 0; i < n; ++i)
        for (int64_t p = 0; p < k; ++p) a[i * k + p] = bt[p * n + i];
      PackedBf16 pa, pb;
      pa.reshape(true, n, k);
      pb.reshape(false, k, n);
      for (int64_t q = 0; q < padded_k(k) / 2; ++q) {
        const float* r1 = 2 * q + 1 < k ? bt.data() + (2 * q + 1) * n : nullptr;
        pack_a_bf16_pair(pa, q, bt.data() + 2 * q * n, r1);
        pack_b_bf16_pair(pb, q, bt.data() + 2 * q * n, r1);
      }
      const PackedBf16 wa = pack_a_bf16(n, k, a.data(), k), wb = pack_b_bf16(k, n, bt.data(), n, false);
      ASSERT_EQ(pa.bytes(), wa.bytes());
      ASSERT_EQ(pb.bytes(), wb.bytes());
      for (size_t e = 0; e < pa.bytes() / 2; ++e) ASSERT_EQ(pa.data()[e], wa.data()[e]) << "A, K=" << k << " N=" << n << " @" << e;
      for (size_t e = 0; e < pb.bytes() / 2; ++e) ASSERT_EQ(pb.data()[e], wb.data()[e]) << "B, K=" << k << " N=" << n << " @" << e;
    }
}

TEST(GemmBf16Microkernel, RejectsMismatchedOperands) {
  const std::vector<float> x(12, 1.f);
  const PackedBf16 a = pack_a_bf16(3, 4, x.data(), 4), b = pack_b_bf16(3, 4, x.data(), 4, false);
  std::vector<float> c(12);
  EXPECT_THROW(gemm_bf16_packed(a, b, c.data(), 4), Error);
  EXPECT_THROW(gemm_bf16_packed(b, a, c.data(), 4), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::gemm_bf16

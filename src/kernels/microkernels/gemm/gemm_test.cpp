#include "kernels/microkernels/gemm/gemm.h"

#include <gtest/gtest.h>

#include <array>
#include <cmath>
#include <random>
#include <sstream>

#include "core/error.h"
#include "hwy/targets.h"
#include "core/thread_pool.h"

namespace edgeopt::kernels::gemm {

namespace {

// Forces one Highway target for a scope and restores the mask that was in force before it (which
// kernels_test's EDGEOPT_HWY_TARGET environment may have narrowed), also when an ASSERT returns
// early, so a failure cannot leave later tests running on the wrong target.
class ScopedHwyTarget {
 public:
  ScopedHwyTarget() : before_(hwy::SupportedTargets()) {}
  ~ScopedHwyTarget() { hwy::SetSupportedTargetsForTest(before_); }
  void force(int64_t target) const { hwy::SetSupportedTargetsForTest(target); }

 private:
  int64_t before_;
};

constexpr float kSentinel = -12345.f;

struct Case {
  bool ta = false, tb = false;
  int64_t m = 1, n = 1, k = 1;
  int64_t lda_pad = 0, ldb_pad = 0, ldc_pad = 0;
  float alpha = 1.f, beta = 0.f;
  bool row_bias = false, col_bias = false;
  float lo = -INFINITY, hi = INFINITY;
  enum Mode { kPlain, kPackedA, kPackedB } mode = kPlain;

  std::string describe() const {
    std::ostringstream os;
    os << "M=" << m << " N=" << n << " K=" << k << " transA=" << ta << " transB=" << tb << " lda+" << lda_pad
       << " ldb+" << ldb_pad << " ldc+" << ldc_pad << " alpha=" << alpha << " beta=" << beta
       << " row_bias=" << row_bias << " col_bias=" << col_bias << " clamp=[" << lo << "," << hi << "]"
       << " mode=" << (mode == kPlain ? "plain" : mode == kPackedA ? "packed_a" : "packed_b");
    return os.str();
  }
};

std::vector<float> random_vec(size_t n, std::mt19937& rng) {
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Runs the case through the fast GEMM and checks every element (and the row gaps of C) against
// a double-precision triple loop.
void check_case(const Case& cs, uint32_t seed, ThreadPool* pool = nullptr) {
  std::mt19937 rng(seed);
  const int64_t a_rows = cs.ta ? cs.k : cs.m, a_cols = cs.ta ? cs.m : cs.k;
  const int64_t b_rows = cs.tb ? cs.n : cs.k, b_cols = cs.tb ? cs.k : cs.n;
  const int64_t lda = a_cols + cs.lda_pad, ldb = b_cols + cs.ldb_pad, ldc = cs.n + cs.ldc_pad;
  auto a = random_vec(a_rows * lda + 1, rng);
  auto b = random_vec(b_rows * ldb + 1, rng);
  auto c0 = random_vec(cs.m * ldc + 1, rng);
  for (int64_t i = 0; i < cs.m; ++i)
    for (int64_t j = cs.n; j < ldc; ++j) c0[i * ldc + j] = kSentinel;
  if (cs.beta == 0.f)  // beta == 0 must never read C
    for (int64_t i = 0; i < cs.m; ++i)
      for (int64_t j = 0; j < cs.n; ++j) c0[i * ldc + j] = NAN;
  auto rb = random_vec(cs.m, rng), cb = random_vec(cs.n, rng);
  GemmEpilogue ep;
  if (cs.row_bias) ep.row_bias = rb.data();
  if (cs.col_bias) ep.col_bias = cb.data();
  ep.clamp_min = cs.lo;
  ep.clamp_max = cs.hi;

  auto c = c0;
  switch (cs.mode) {
    case Case::kPlain:
      gemm_f32(cs.ta, cs.tb, cs.m, cs.n, cs.k, cs.alpha, a.data(), lda, b.data(), ldb, cs.beta, c.data(), ldc, ep,
               pool);
      break;
    case Case::kPackedA: {
      PackedMatrix pa = pack_a_f32(cs.ta, cs.m, cs.k, a.data(), lda);
      gemm_f32_packed_a(pa, cs.tb, cs.n, cs.alpha, b.data(), ldb, cs.beta, c.data(), ldc, ep, pool);
      break;
    }
    case Case::kPackedB: {
      PackedMatrix pb = pack_b_f32(cs.tb, cs.k, cs.n, b.data(), ldb);
      gemm_f32_packed_b(cs.ta, cs.m, cs.alpha, a.data(), lda, pb, cs.beta, c.data(), ldc, ep, pool);
      break;
    }
  }

  for (int64_t i = 0; i < cs.m; ++i) {
    for (int64_t j = 0; j < cs.n; ++j) {
      double acc = 0, mag = 0;
      for (int64_t p = 0; p < cs.k; ++p) {
        double av = cs.ta ? a[p * lda + i] : a[i * lda + p];
        double bv = cs.tb ? b[j * ldb + p] : b[p * ldb + j];
        acc += av * bv;
        mag += std::fabs(av * bv);
      }
      double want = cs.alpha * acc;
      mag = std::fabs(cs.alpha) * mag;
      if (cs.beta != 0.f) {
        want += cs.beta * double(c0[i * ldc + j]);
        mag += std::fabs(cs.beta * c0[i * ldc + j]);
      }
      if (cs.row_bias) want += rb[i];
      if (cs.col_bias) want += cb[j];
      want = std::min<double>(std::max<double>(want, cs.lo), cs.hi);
      const double got = c[i * ldc + j];
      const double tol = 1e-6 + 4e-7 * (mag + 2);
      ASSERT_LE(std::fabs(got - want), tol)
          << "gemm_f32 vs triple loop at [" << i << "," << j << "]: ref=" << want << " fast=" << got
          << " |diff|=" << std::fabs(got - want) << " > tol=" << tol << "; case " << cs.describe();
    }
    for (int64_t j = cs.n; j < ldc; ++j)
      ASSERT_EQ(c[i * ldc + j], kSentinel) << "gemm_f32 wrote into the row gap at [" << i << "," << j << "]; case "
                                           << cs.describe();
  }
}

const int64_t kDims[] = {1, 2, 3, 5, 7, 8, 15, 16, 17, 31, 33, 64, 100, 129};

TEST(GemmF32, AwkwardShapesAllTransposes) {
  std::mt19937 rng(42);
  int count = 0;
  for (int64_t m : kDims)
    for (int64_t n : kDims) {
      // Every (M, N) pair with a few sampled K, cycling through transposes, pads, alpha/beta.
      for (int rep = 0; rep < 2; ++rep) {
        Case cs;
        cs.m = m;
        cs.n = n;
        cs.k = kDims[rng() % std::size(kDims)];
        cs.ta = (count >> 0) & 1;
        cs.tb = (count >> 1) & 1;
        cs.lda_pad = (count % 3 == 0) ? 3 : 0;
        cs.ldb_pad = (count % 5 == 1) ? 7 : 0;
        cs.ldc_pad = (count % 4 == 2) ? 5 : 0;
        const float alphas[] = {1.f, -0.5f, 2.f};
        const float betas[] = {0.f, 1.f, 0.25f, 0.f};
        cs.alpha = alphas[count % 3];
        cs.beta = betas[(count / 3) % 4];
        cs.mode = static_cast<Case::Mode>((count / 7) % 3);
        check_case(cs, 1000 + count);
        if (HasFatalFailure()) return;
        ++count;
      }
    }
}

// The suite above runs the best target of this CPU; this runs a sample on every compiled target
// it supports (AVX2 and SSE4 tiles, the emulated partial vectors of the 128-bit targets).
TEST(GemmF32, EveryCompiledTargetMatchesTripleLoop) {
  const ScopedHwyTarget forced;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    forced.force(target);
    SCOPED_TRACE(std::string("target ") + hwy::TargetName(target) + " kernel " + gemm_f32_kernel_name());
    int count = 0;
    for (int64_t m : {1, 5, 8, 17, 33})
      for (int64_t n : {1, 7, 16, 31, 100}) {
        Case cs;
        cs.m = m;
        cs.n = n;
        cs.k = kDims[(m + n) % std::size(kDims)];
        cs.ta = count & 1;
        cs.tb = (count >> 1) & 1;
        cs.ldc_pad = count % 3;
        cs.beta = (count % 4 == 1) ? 0.5f : 0.f;
        cs.col_bias = count % 5 == 2;
        cs.row_bias = count % 5 == 3;
        cs.lo = (count % 6 == 0) ? 0.f : -INFINITY;
        cs.mode = static_cast<Case::Mode>(count % 3);
        check_case(cs, 500 + count++);
        if (HasFatalFailure()) break;
      }
    if (HasFatalFailure()) break;
  }
}

TEST(GemmF32, EpiloguesBiasAndClamp) {
  int seed = 0;
  for (auto mode : {Case::kPlain, Case::kPackedA, Case::kPackedB})
    for (bool rb : {false, true})
      for (bool cb : {false, true})
        for (int act = 0; act < 3; ++act) {
          Case cs;
          cs.m = 17;
          cs.n = 33;
          cs.k = 31;
          cs.row_bias = rb;
          cs.col_bias = cb;
          cs.beta = (seed % 2) ? 0.5f : 0.f;
          cs.mode = mode;
          if (act == 1) cs.lo = 0.f;
          if (act == 2) cs.lo = 0.f, cs.hi = 0.3f;
          check_case(cs, 77 + seed++);
          if (HasFatalFailure()) return;
        }
}

TEST(GemmF32, LargeShapesCrossCacheBlocks) {
  // K beyond KC (several K blocks with the epilogue on the last), M beyond MC, N beyond NC.
  const Case cases[] = {
      {false, false, 40, 50, 600, 0, 0, 0, 1.f, 0.5f, true, false, 0.f, INFINITY, Case::kPlain},
      {true, true, 257, 70, 300, 1, 2, 3, 1.f, 0.f, false, true, -0.5f, 0.5f, Case::kPlain},
      {false, true, 9, 3200, 20, 0, 0, 0, 1.f, 0.f, false, true, -INFINITY, INFINITY, Case::kPlain},
      {false, false, 300, 97, 513, 0, 0, 0, 0.5f, 1.f, true, false, -INFINITY, INFINITY, Case::kPackedB},
      {true, false, 300, 97, 513, 0, 0, 0, 0.5f, 1.f, true, false, -INFINITY, INFINITY, Case::kPackedA},
      {false, false, 784, 32, 144, 0, 0, 0, 1.f, 0.f, false, true, 0.f, INFINITY, Case::kPackedB},
  };
  uint32_t seed = 5;
  for (const auto& cs : cases) {
    check_case(cs, seed++);
    if (HasFatalFailure()) return;
  }
}

TEST(GemmF32, ThreadCountDoesNotChangeBits) {
  const int64_t m = 131, n = 203, k = 517;
  std::mt19937 rng(3);
  auto a = random_vec(m * k, rng), b = random_vec(k * n, rng);
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> c(m * n);
    gemm_f32(false, false, m, n, k, 1.f, a.data(), k, b.data(), n, 0.f, c.data(), n, {}, &pool);
    results.push_back(c);
    PackedMatrix pb = pack_b_f32(false, k, n, b.data(), n);
    std::vector<float> c2(m * n);
    gemm_f32_packed_b(false, m, 1.f, a.data(), k, pb, 0.f, c2.data(), n, {}, &pool);
    results.push_back(c2);
  }
  for (size_t r = 1; r < results.size(); ++r)
    for (int64_t i = 0; i < m * n; ++i)
      ASSERT_EQ(results[0][i], results[r][i]) << "result " << r << " differs at flat index " << i;
}

// Few column tiles (N = 49: one full NR panel and one column) with a packed A: the split goes over
// M (rows) instead of giving one thread 48 columns and the other 1; the bits must not change.
TEST(GemmF32, PackedAFewColumnsThreadCountDoesNotChangeBits) {
  const int64_t m = 200, n = 49, k = 700;
  std::mt19937 rng(4);
  auto a = random_vec(m * k, rng), b = random_vec(k * n, rng), rb = random_vec(m, rng);
  const PackedMatrix pa = pack_a_f32(false, m, k, a.data(), k);
  GemmEpilogue ep;
  ep.row_bias = rb.data();
  ep.clamp_min = 0.f;
  std::vector<std::vector<float>> results;
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    std::vector<float> c(m * n);
    gemm_f32_packed_a(pa, false, n, 1.f, b.data(), n, 0.f, c.data(), n, ep, &pool);
    results.push_back(c);
  }
  for (size_t r = 1; r < results.size(); ++r)
    for (int64_t i = 0; i < m * n; ++i)
      ASSERT_EQ(results[0][i], results[r][i]) << "threads " << r + 1 << " differ at flat index " << i;
  ThreadPool two(2);
  check_case({false, false, m, n, k, 0, 0, 0, 1.f, 0.f, true, false, 0.f, INFINITY, Case::kPackedA}, 11, &two);
}

// gemm_f32_packed_a_rows over row blocks (panel-aligned starts, a ragged end, several K blocks,
// beta 0 and 1, epilogue) gives the bits of the whole product, written relative to row m0.
TEST(GemmF32, PackedARowsEqualTheWholeProduct) {
  for (const int64_t n : {5, 49, 130})
    for (const float beta : {0.f, 1.f}) {
      const int64_t m = 45, k = 600;
      std::mt19937 rng(static_cast<uint32_t>(n));
      auto a = random_vec(m * k, rng), b = random_vec(k * n, rng), rb = random_vec(m, rng), c0 = random_vec(m * n, rng);
      const PackedMatrix pa = pack_a_f32(false, m, k, a.data(), k);
      GemmEpilogue ep;
      ep.row_bias = rb.data();
      ep.clamp_min = -0.5f;
      std::vector<float> whole = c0;
      ThreadPool one(1);
      gemm_f32_packed_a(pa, false, n, 1.f, b.data(), n, beta, whole.data(), n, ep, &one);
      const int64_t step = 2 * pa.tile();
      for (int64_t m0 = 0; m0 < m; m0 += step) {
        const int64_t m1 = std::min(m, m0 + step);
        std::vector<float> part(c0.begin() + m0 * n, c0.begin() + m1 * n);
        gemm_f32_packed_a_rows(pa, m0, m1, false, n, 1.f, b.data(), n, beta, part.data(), n, ep);
        for (int64_t i = 0; i < (m1 - m0) * n; ++i)
          ASSERT_EQ(part[i], whole[m0 * n + i]) << "rows [" << m0 << "," << m1 << ") N=" << n << " beta=" << beta
                                                << " differ at row " << m0 + i / n << " col " << i % n;
      }
    }
  std::vector<float> a(64 * 16), b(16 * 4), c(64 * 4);
  const PackedMatrix pa = pack_a_f32(false, 64, 16, a.data(), 16);
  EXPECT_THROW(gemm_f32_packed_a_rows(pa, 1, 9, false, 4, 1.f, b.data(), 4, 0.f, c.data(), 4), Error);
  EXPECT_THROW(gemm_f32_packed_a_rows(pa, 0, 65, false, 4, 1.f, b.data(), 4, 0.f, c.data(), 4), Error);
}

// Indirect B (gemm_f32_packed_a_indirect_b): B's rows read in place at arbitrary offsets of one
// buffer (overlapping, unaligned, as a conv's taps are), on every compiled target, against the
// packed-A product of the same B materialized; beta, row bias and clamp; one thread and two.
TEST(GemmF32, IndirectBEqualsTheMaterializedB) {
  const ScopedHwyTarget forced;
  for (int64_t target : hwy::SupportedAndGeneratedTargets()) {
    forced.force(target);
    SCOPED_TRACE(std::string("target ") + hwy::TargetName(target));
    // The vector targets run the same intrinsics in the same order on both paths: bit-equal. The
    // one-lane targets are plain C++, which the compiler may contract into FMAs differently in the
    // two instantiations where FMA is baseline (AArch64): equal to a few ulp there.
    const bool one_lane = target == HWY_SCALAR || target == HWY_EMU128;
    std::mt19937 rng(77);
    for (const auto& [m, n, k] : std::vector<std::array<int64_t, 3>>{{8, 48, 9}, {17, 100, 37}, {64, 700, 72}, {5, 3, 600}}) {
      const int64_t tile = gemm_f32_b_tile(), span = (n + tile - 1) / tile * tile;
      std::uniform_int_distribution<int64_t> at(0, 900);
      std::vector<int64_t> offs(static_cast<size_t>(k));
      for (auto& o : offs) o = at(rng);
      const std::vector<float> buf = random_vec(static_cast<size_t>(900 + span), rng);
      std::vector<float> b(static_cast<size_t>(k * n));
      for (int64_t kk = 0; kk < k; ++kk)
        for (int64_t j = 0; j < n; ++j) b[kk * n + j] = buf[offs[kk] + j];
      const std::vector<float> a = random_vec(static_cast<size_t>(m * k), rng);
      const std::vector<float> bias = random_vec(static_cast<size_t>(m), rng);
      const std::vector<float> c0 = random_vec(static_cast<size_t>(m * (n + 2)), rng);
      const PackedMatrix pa = pack_a_f32(false, m, k, a.data(), k);
      GemmEpilogue ep;
      ep.row_bias = bias.data();
      ep = ep.with_clamp(-0.5f, INFINITY);
      for (float beta : {0.f, 0.75f})
        for (int threads : {1, 2}) {
          ThreadPool pool(threads);
          std::vector<float> want = c0, got = c0;
          gemm_f32_packed_a(pa, false, n, 1.f, b.data(), n, beta, want.data(), n + 2, ep, &pool);
          gemm_f32_packed_a_indirect_b(pa, n, buf.data(), offs.data(), beta, got.data(), n + 2, ep, &pool);
          const std::string where = "M=" + std::to_string(m) + " N=" + std::to_string(n) + " K=" + std::to_string(k) +
                                    " beta=" + std::to_string(beta) + " threads=" + std::to_string(threads);
          if (!one_lane) {
            ASSERT_EQ(want, got) << where;
          } else {
            for (size_t i = 0; i < want.size(); ++i)
              ASSERT_NEAR(want[i], got[i], 1e-5f * (1.f + std::fabs(want[i]))) << where << " at " << i;
          }
        }
    }
  }
}

TEST(GemmF32, KZeroScalesCAndAppliesEpilogue) {
  Case cs;
  cs.m = 5;
  cs.n = 19;
  cs.k = 0;
  cs.beta = 0.5f;
  cs.col_bias = true;
  cs.lo = 0.f;
  check_case(cs, 9);
}

TEST(GemmF32, RejectsBadLeadingDimensions) {
  std::vector<float> a(64), b(64), c(64);
  EXPECT_THROW(gemm_f32(false, false, 4, 4, 4, 1.f, a.data(), 3, b.data(), 4, 0.f, c.data(), 4), Error);
  EXPECT_THROW(gemm_f32(false, true, 4, 4, 4, 1.f, a.data(), 4, b.data(), 2, 0.f, c.data(), 4), Error);
  EXPECT_THROW(gemm_f32(false, false, 4, 4, 4, 1.f, a.data(), 4, b.data(), 4, 0.f, c.data(), 3), Error);
  EXPECT_THROW(gemm_f32(false, false, -1, 4, 4, 1.f, a.data(), 4, b.data(), 4, 0.f, c.data(), 4), Error);
  EXPECT_THROW(gemm_f32_packed_b(false, 4, 1.f, a.data(), 4, PackedMatrix(), 0.f, c.data(), 4), Error);
  PackedMatrix pa = pack_a_f32(false, 4, 4, a.data(), 4);
  EXPECT_THROW(gemm_f32_packed_b(false, 4, 1.f, a.data(), 4, pa, 0.f, c.data(), 4), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::gemm

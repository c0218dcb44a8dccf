#include "quantize/observers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "core/error.h"

namespace edgeopt::quantize {
namespace {

std::vector<float> normal(size_t n, float sigma, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<float> d(0.f, sigma);
  std::vector<float> v(n);
  for (auto& x : v) x = d(r);
  return v;
}

Range observe_all(CalibMethod m, const std::vector<float>& v, ActScheme s = ActScheme::kAsymmetricU8,
                  size_t batch = 1000, double pct = 99.99) {
  auto o = make_observer(m, pct);
  for (size_t i = 0; i < v.size(); i += batch) o->observe(v.data() + i, static_cast<int64_t>(std::min(batch, v.size() - i)));
  return o->range(s);
}

}  // namespace

TEST(Observers, MinMaxIsExact) {
  std::vector<float> v = {0.5f, -2.f, 3.25f, NAN, 1.f};
  Range r = observe_all(CalibMethod::kMinMax, v);
  EXPECT_EQ(r.lo, -2.f);
  EXPECT_EQ(r.hi, 3.25f);
}

TEST(Observers, MovingAverageFollowsBatchesWithC001) {
  auto o = make_observer(CalibMethod::kMovingAverage);
  std::vector<float> b1 = {-1.f, 1.f}, b2 = {-3.f, 5.f};
  o->observe(b1.data(), 2);
  o->observe(b2.data(), 2);
  Range r = o->range(ActScheme::kAsymmetricU8);
  EXPECT_NEAR(r.lo, -1.f + 0.01f * (-3.f + 1.f), 1e-6);
  EXPECT_NEAR(r.hi, 1.f + 0.01f * (5.f - 1.f), 1e-6);
}

// Histogram bins are 2048 over a range that doubles: quantiles are within a bin width or two.
TEST(Observers, PercentileOfUniformAndNormal) {
  std::vector<float> u(200000);
  for (size_t i = 0; i < u.size(); ++i) u[i] = static_cast<float>(i) / static_cast<float>(u.size()) * 10.f;
  Range r = observe_all(CalibMethod::kPercentile, u, ActScheme::kAsymmetricU8, 1000, 99.0);
  EXPECT_NEAR(r.hi, 9.9f, 0.02f);
  EXPECT_EQ(r.lo, 0.f);
  // N(0, 1): the 99.99th percentile is 3.72 sigma.
  Range n = observe_all(CalibMethod::kPercentile, normal(400000, 1.f, 3), ActScheme::kSymmetricI8, 1000, 99.99);
  EXPECT_NEAR(n.hi, 3.72f, 0.15f);
  EXPECT_NEAR(n.lo, -3.72f, 0.15f);
}

// Entropy clips a heavy-tailed distribution well inside its max, but keeps almost all of a
// uniform one (nothing to gain by clipping).
TEST(Observers, EntropyClipsOutliersNotUniform) {
  std::vector<float> v = normal(200000, 1.f, 5);
  for (auto& x : v) x = std::abs(x);  // a ReLU-like output
  v.push_back(60.f);                  // one outlier
  Range r = observe_all(CalibMethod::kEntropy, v);
  EXPECT_GT(r.hi, 2.5f);
  EXPECT_LT(r.hi, 12.f);
  std::vector<float> u(100000);
  for (size_t i = 0; i < u.size(); ++i) u[i] = static_cast<float>(i) / static_cast<float>(u.size()) * 4.f;
  Range ru = observe_all(CalibMethod::kEntropy, u);
  EXPECT_GT(ru.hi, 3.8f);
}

// Normalized images: half the pixels sit at the background value -0.8, the rest spread up to 2.
// A spike on the negative side must not clip the positive side (folding |x| would put the
// threshold at 0.8).
TEST(Observers, EntropyKeepsTheOtherSideOfASpike) {
  std::vector<float> v(100000);
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 2 ? -0.8f : 2.f * static_cast<float>(i) / static_cast<float>(v.size());
  Range r = observe_all(CalibMethod::kEntropy, v);
  EXPECT_GT(r.hi, 1.8f);
  EXPECT_NEAR(r.lo, -0.8f, 0.01f);
}

// MSE-optimal clipping of a Gaussian for 8 bits is near 4 sigma (Banner et al. 2019), inside the
// largest of 200k samples (about 4.9 sigma): min-max would waste range on the tail.
TEST(Observers, MseClipsGaussianNearFourSigma) {
  std::vector<float> v = normal(200000, 1.f, 7);
  Range r = observe_all(CalibMethod::kMse, v, ActScheme::kSymmetricI8);
  Range mm = observe_all(CalibMethod::kMinMax, v, ActScheme::kSymmetricI8);
  EXPECT_GT(r.hi, 3.3f);
  EXPECT_LT(r.hi, 4.7f);
  EXPECT_LT(r.hi, mm.hi);
}

TEST(Observers, HistogramGrowsWithoutLosingCounts) {
  Histogram h;
  std::vector<float> a = {0.f, 0.f}, b = {1.f, 2.f}, c = {-100.f, 300.f};
  h.add(a.data(), 2);
  h.add(b.data(), 2);
  h.add(c.data(), 2);
  double total = 0;
  for (double x : h.counts()) total += x;
  EXPECT_EQ(total, 6.0);
  EXPECT_LE(h.lo(), -100.0);
  EXPECT_GE(h.hi(), 300.0);
  EXPECT_EQ(h.min_seen(), -100.f);
  EXPECT_EQ(h.max_seen(), 300.f);
}

TEST(Observers, ChooseQParams) {
  QParam p = choose_qparams({0.f, 2.55f}, ActScheme::kAsymmetricU8);
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_FLOAT_EQ(p.scale, 0.01f);
  p = choose_qparams({-1.f, 1.f}, ActScheme::kAsymmetricU8);
  EXPECT_NEAR(p.zero_point, 127.5, 0.5);  // 1 / (2/255) = 127.5 up to f32 rounding of the scale
  p = choose_qparams({-0.5f, 2.f}, ActScheme::kSymmetricI8);
  EXPECT_EQ(p.zero_point, 0);
  EXPECT_FLOAT_EQ(p.scale, 2.f / 127.f);
  p = choose_qparams({0.5f, 2.f}, ActScheme::kAsymmetricU8);  // widened to contain 0
  EXPECT_EQ(p.zero_point, 0);
  p = choose_qparams({0.f, 0.f}, ActScheme::kAsymmetricU8);
  EXPECT_EQ(p.scale, 1.f);
  EXPECT_FLOAT_EQ(weight_scale(12.7f), 0.1f);
}

TEST(Observers, Errors) {
  EXPECT_THROW(calib_method_from_name("kmeans"), Error);
  EXPECT_THROW(make_observer(CalibMethod::kPercentile, 20.0), Error);
  auto o = make_observer(CalibMethod::kEntropy);
  std::vector<float> v = {1.f, INFINITY};
  EXPECT_THROW(o->observe(v.data(), 2), Error);
}

}  // namespace edgeopt::quantize

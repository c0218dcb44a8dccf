#include "monitor/drift.h"

#include <random>

#include <gtest/gtest.h>

#include "core/error.h"
#include "train/data/load_dataset.h"

namespace edgeopt::monitor {
namespace {

TEST(Drift, KsStatisticAndPValue) {
  EXPECT_DOUBLE_EQ(ks_statistic({1, 2, 3}, {4, 5, 6}), 1.0);
  EXPECT_DOUBLE_EQ(ks_statistic({1, 2, 3, 4}, {1, 2, 3, 4}), 0.0);
  EXPECT_NEAR(ks_statistic({1, 2, 3, 4}, {3, 4, 5, 6}), 0.5, 1e-12);
  // The Kolmogorov distribution's 5% and 1% points: lambda 1.358 and 1.628 (n = m = 100, ne = 50).
  const double scale = std::sqrt(50.0) + 0.12 + 0.11 / std::sqrt(50.0);
  EXPECT_NEAR(ks_p_value(1.358 / scale, 100, 100), 0.05, 0.001);
  EXPECT_NEAR(ks_p_value(1.628 / scale, 100, 100), 0.01, 0.0005);
  EXPECT_DOUBLE_EQ(ks_p_value(0.0, 100, 100), 1.0);
  EXPECT_LT(ks_p_value(1.0, 200, 2000), 1e-30);
}

TEST(Drift, PsiIsZeroForTheSameDistributionAndGrowsWithShift) {
  std::mt19937 rng(1);
  std::normal_distribution<double> n01(0, 1);
  std::vector<double> ref(5000), same(2000), shifted(2000);
  for (auto& v : ref) v = n01(rng);
  for (auto& v : same) v = n01(rng);
  for (auto& v : shifted) v = n01(rng) + 1.0;
  EXPECT_LT(psi(ref, same), 0.02);
  EXPECT_GT(psi(ref, shifted), 0.5);
}

TEST(Drift, OutputFeaturesOfLogitsAndValues) {
  Tensor logits = Tensor::from_vector<float>({2, 3}, {0, 0, 0, 10, 0, 0});
  std::vector<std::string> names;
  auto r = extract_output_features(logits, &names);
  ASSERT_EQ(names, (std::vector<std::string>{"output.confidence", "output.entropy"}));
  EXPECT_NEAR(r[0][0], 1.0 / 3, 1e-9);
  EXPECT_NEAR(r[0][1], std::log(3.0), 1e-9);
  EXPECT_GT(r[1][0], 0.999);
  Tensor values = Tensor::from_vector<float>({2, 1}, {1.5f, -2.f});
  r = extract_output_features(values, &names);
  EXPECT_EQ(names, std::vector<std::string>{"output.value"});
  EXPECT_DOUBLE_EQ(r[1][0], -2.0);
}

// Real data: Fashion-MNIST. Reference = the training split; the unshifted held-out test images
// (10,000) must raise no alarm; brightness, contrast and noise changes must within 500 samples.
class FashionDrift : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    train::DatasetOptions o;
    o.seed = 1;
    d_ = new train::DataSplits(train::load_dataset("fashion-mnist", o));
  }
  static void TearDownTestSuite() { delete d_; }
  static train::DataSplits* d_;

  // Applies a change in pixel space ([0, 1], before the loader's normalization) to a copy of x.
  static Tensor shifted(const Tensor& x, const std::function<float(float, std::mt19937&)>& f) {
    Tensor y = x.clone();
    const float mean = d_->feature_mean[0], sd = d_->feature_std[0];
    std::mt19937 rng(7);
    float* p = y.data<float>();
    for (int64_t i = 0; i < y.numel(); ++i) p[i] = (std::clamp(f(p[i] * sd + mean, rng), 0.f, 1.f) - mean) / sd;
    return y;
  }
  // Streams x in batches of 10; the sample count at the first alarm (-1: none).
  static int64_t first_alarm(DriftDetector det, const Tensor& x, int64_t limit) {
    const int64_t n = std::min<int64_t>(x.shape()[0], limit), per = x.numel() / x.shape()[0];
    for (int64_t i = 0; i < n; i += 10) {
      const int64_t b = std::min<int64_t>(10, n - i);
      std::vector<int64_t> dims = x.shape().dims();
      dims[0] = b;
      Tensor batch(DType::kF32, Shape(dims));
      std::copy(x.data<float>() + i * per, x.data<float>() + (i + b) * per, batch.data<float>());
      DriftStatus s = det.observe(batch);
      if (s.first_alarm_at >= 0) return s.first_alarm_at;
    }
    return -1;
  }
};
train::DataSplits* FashionDrift::d_ = nullptr;

TEST_F(FashionDrift, NoAlarmOnHeldOutDataAndFastAlarmOnRealShifts) {
  DriftDetector det = DriftDetector::fit(d_->train.x, nullptr, {});
  DriftDetector live = DriftDetector::from_json(det.to_json());  // what a node loads
  EXPECT_EQ(first_alarm(live, d_->test.x, 10000), -1) << "false alarm on the unshifted test set";
  struct Shift {
    const char* name;
    std::function<float(float, std::mt19937&)> f;
  };
  std::normal_distribution<float> noise(0.f, 0.1f);
  const std::vector<Shift> shifts = {
      {"brightness +0.1", [](float v, std::mt19937&) { return v + 0.1f; }},
      {"contrast x0.7", [](float v, std::mt19937&) { return 0.5f + 0.7f * (v - 0.5f); }},
      {"gaussian noise 0.1", [&](float v, std::mt19937& r) { return v + noise(r); }},
  };
  for (const auto& s : shifts) {
    Tensor x = shifted(d_->test.x, s.f);
    const int64_t at = first_alarm(live, x, 2000);
    EXPECT_GE(at, 0) << s.name << ": no alarm in 2000 samples";
    EXPECT_LE(at, 500) << s.name << ": alarm only at sample " << at;
    std::printf("drift %-20s first alarm at sample %lld\n", s.name, static_cast<long long>(at));
  }
}

TEST(Drift, SavedReferenceErrorsNameTheField) {
  Tensor x(DType::kF32, Shape({100, 3}));
  std::mt19937 rng(2);
  std::normal_distribution<float> n01;
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = n01(rng);
  DriftConfig c;
  c.window = 40;
  auto j = DriftDetector::fit(x, nullptr, c).to_json();
  auto bad = j;
  bad.erase("reference");
  try {
    DriftDetector::from_json(bad);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'reference'"), std::string::npos) << e.what();
  }
  bad = j;
  bad["features"].push_back("extra");
  EXPECT_THROW(DriftDetector::from_json(bad), Error);
  EXPECT_THROW(DriftDetector::fit(x, nullptr, {}), Error);  // 100 samples < 2 x window 200
  DriftDetector d = DriftDetector::from_json(j);
  Tensor wrong(DType::kF32, Shape({5, 4}));
  EXPECT_THROW(d.observe(wrong), Error);
}

}  // namespace
}  // namespace edgeopt::monitor

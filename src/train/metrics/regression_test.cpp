#include "train/metrics/regression.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "train/data/timeseries.h"

namespace edgeopt::train {
namespace {

TEST(RegressionMetrics, HandComputed) {
  RegressionMetrics m = regression_metrics({1, 2, 6, 1}, {2, 2, 4, 0});
  EXPECT_DOUBLE_EQ(m.mae, (1 + 0 + 2 + 1) / 4.0);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt((1 + 0 + 4 + 1) / 4.0));
  EXPECT_EQ(m.mape_count, 3);  // the zero target is left out of MAPE
  EXPECT_DOUBLE_EQ(m.mape, 100.0 * (0.5 + 0 + 0.5) / 3);
  EXPECT_DOUBLE_EQ(m.to_map("test/").at("test/rmse"), m.rmse);
  EXPECT_THROW(regression_metrics({1}, {1, 2}), Error);
  EXPECT_THROW(regression_metrics({}, {}), Error);
}

TEST(RegressionMetrics, StandardizedInputsAreReportedInOriginalUnits) {
  DataSplits d;
  d.target_mean = {20};
  d.target_std = {5};
  Tensor pred = Tensor::from_vector<float>(Shape{2, 1}, {0.f, 1.f});
  Tensor y = Tensor::from_vector<float>(Shape{2, 1}, {0.2f, 1.f});
  EXPECT_NEAR(regression_metrics_std(pred, y, d).mae, 0.5, 1e-5);  // 0.2 std * 5 / 2 samples
}

TEST(Ridge, RecoversALinearMap) {
  // y = 2 x0 - 3 x1 + 0.5 x2 + 7, exact.
  const int64_t n = 50;
  Tensor x(DType::kF32, Shape{n, 3});
  Tensor y(DType::kF32, Shape{n, 1});
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::sin(0.3f * i), b = std::cos(0.7f * i), c = static_cast<float>(i % 7) - 3;
    x.data<float>()[3 * i] = a;
    x.data<float>()[3 * i + 1] = b;
    x.data<float>()[3 * i + 2] = c;
    y.data<float>()[i] = 2 * a - 3 * b + 0.5f * c + 7;
  }
  RidgeModel m = fit_ridge(x, y, 0);
  EXPECT_NEAR(m.weights[0], 2, 1e-4);
  EXPECT_NEAR(m.weights[1], -3, 1e-4);
  EXPECT_NEAR(m.weights[2], 0.5, 1e-4);
  EXPECT_NEAR(m.bias[0], 7, 1e-4);
  const auto p = m.predict(x).to_f32_vector();
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(p[static_cast<size_t>(i)], y.data<float>()[i], 1e-4);
  // A large lambda shrinks the weights toward 0 but keeps the (unpenalized) intercept at mean(y).
  RidgeModel big = fit_ridge(x, y, 1e9);
  EXPECT_NEAR(big.weights[0], 0, 1e-3);
  double mean_y = 0;
  for (int64_t i = 0; i < n; ++i) mean_y += y.data<float>()[i];
  EXPECT_NEAR(big.bias[0], mean_y / n, 1e-2);
  EXPECT_THROW(fit_ridge(x, y, -1), Error);
  EXPECT_THROW(fit_ridge(x, Tensor::zeros(DType::kF32, Shape{n - 1, 1}), 1), Error);
  EXPECT_THROW(m.predict(Tensor::zeros(DType::kF32, Shape{2, 4})), Error);
}

TEST(ForecastBaselines, RidgeRecoversALinearRecurrencePersistenceDoesNot) {
  // s[t] = 5 + 3 sin(0.3 t) + 2 cos(0.11 t) obeys a linear recurrence of order 4, so ridge on a
  // window of 4 fits it almost exactly with a tiny lambda (the lags are nearly collinear, so the
  // default grid's shrinkage costs a little); persistence lags by a step.
  std::string csv = "v\n";
  for (int t = 0; t < 400; ++t) csv += std::to_string(5 + 3 * std::sin(0.3 * t) + 2 * std::cos(0.11 * t)) + "\n";
  SeriesOptions o;
  o.target = "v";
  o.window = 4;
  o.horizon = 1;
  o.test_fraction = 0.25;
  o.val_fraction = 0.2;
  DataSplits d = load_series_table(parse_csv(csv, "ar.csv"), o);
  ForecastBaselines f = forecast_baselines(d);
  EXPECT_LT(f.ridge.rmse, 0.05 * f.persistence.rmse);
  EXPECT_EQ(f.ridge_lambda, 1e-3);  // the smallest in the default grid
  EXPECT_EQ(f.val_rmse.size(), kRidgeLambdas.size());
  ForecastBaselines exact = forecast_baselines(d, {1e-8, 1e-3, 1});
  EXPECT_EQ(exact.ridge_lambda, 1e-8);
  EXPECT_LT(exact.ridge.rmse, 1e-3);
  const auto flat = f.to_map();
  EXPECT_DOUBLE_EQ(flat.at("ridge/rmse"), f.ridge.rmse);
  EXPECT_DOUBLE_EQ(flat.at("persistence/rmse"), f.persistence.rmse);
  // Persistence needs the target among the inputs.
  DataSplits no_target = d;
  no_target.target_feature_index = -1;
  EXPECT_THROW(persistence_forecast(d.test.x, no_target), Error);
}

}  // namespace
}  // namespace edgeopt::train

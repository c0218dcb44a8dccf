// Regression / forecasting metrics in original units, and the two forecasting baselines every
// model is compared with on the same test windows.
//
//   RegressionMetrics m = regression_metrics_std(pred /*f32 [N,1] standardized*/, d.test.y, d);
//   ForecastBaselines b = forecast_baselines(d);        // persistence and ridge, test RMSE
//   std::map<std::string, double> flat = b.to_map();    // "persistence/rmse", "ridge/rmse", ...
//
// MAPE is over the samples whose true value is not 0 (|truth| > 1e-12); mape_count says how many.
// Persistence predicts the target's last observed value in the window (x[n, window-1, target
// feature]). Ridge fits y = W x + b on the flattened training windows (closed form in double,
// intercept unpenalized), picks lambda by validation RMSE from a small grid, and reports test
// metrics of the model fitted on train.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"
#include "train/data/dataset.h"

namespace edgeopt::train {

struct RegressionMetrics {
  int64_t count = 0;
  double mae = 0, rmse = 0, mape = 0;  // mape in percent
  int64_t mape_count = 0;
  // "count", "mae", "rmse", "mape", "mape_count", each prefixed with `prefix` when not empty.
  std::map<std::string, double> to_map(const std::string& prefix = "") const;
};

// Throws InvalidArgument when the lengths differ or are 0.
RegressionMetrics regression_metrics(const std::vector<double>& predicted, const std::vector<double>& truth);
// Standardized predictions and targets (f32 [N,k]) -> metrics in original units via d.inverse_target.
RegressionMetrics regression_metrics_std(const Tensor& pred_std, const Tensor& y_std, const DataSplits& d);

// Persistence forecast f32 [N,1] in standardized target units for windows x f32 [N,window,F].
// Throws FailedPrecondition when the target is not one of the input features.
Tensor persistence_forecast(const Tensor& x, const DataSplits& d);

struct RidgeModel {
  double lambda = 0;
  int64_t inputs = 0, outputs = 0;
  std::vector<double> weights;  // [inputs][outputs]
  std::vector<double> bias;     // [outputs]
  // x f32 [N, ...] flattened to [N, inputs] -> f32 [N, outputs].
  Tensor predict(const Tensor& x) const;
};
// Closed-form ridge: minimizes |Y - XW - 1b|^2 + lambda |W|^2 (b unpenalized). x f32 [N, ...],
// y f32 [N,k]. Throws InvalidArgument for mismatched N, lambda < 0, or a singular system.
RidgeModel fit_ridge(const Tensor& x, const Tensor& y, double lambda);

struct ForecastBaselines {
  RegressionMetrics persistence;  // test split, original units
  RegressionMetrics ridge;        // test split, original units
  double ridge_lambda = 0;
  std::vector<std::pair<double, double>> val_rmse;  // (lambda, val RMSE in original units)
  // "persistence/rmse", "ridge/rmse", "ridge/lambda", "ridge_over_persistence_rmse", ...
  std::map<std::string, double> to_map() const;
};
inline const std::vector<double> kRidgeLambdas = {1e-3, 1e-2, 1e-1, 1, 10, 100, 1000};
// Needs a forecasting DataSplits (x [N,window,F], y [N,1]) with non-empty val and test.
ForecastBaselines forecast_baselines(const DataSplits& d, const std::vector<double>& lambdas = kRidgeLambdas);

}  // namespace edgeopt::train

#include "train/metrics/regression.h"

#include <Eigen/Dense>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace edgeopt::train {

std::map<std::string, double> RegressionMetrics::to_map(const std::string& prefix) const {
  return {{prefix + "count", static_cast<double>(count)},
          {prefix + "mae", mae},
          {prefix + "rmse", rmse},
          {prefix + "mape", mape},
          {prefix + "mape_count", static_cast<double>(mape_count)}};
}

RegressionMetrics regression_metrics(const std::vector<double>& predicted, const std::vector<double>& truth) {
  EDGEOPT_CHECK_ARG(predicted.size() == truth.size(), "regression_metrics: " + std::to_string(predicted.size()) +
                                                          " predictions but " + std::to_string(truth.size()) + " targets");
  EDGEOPT_CHECK_ARG(!truth.empty(), "regression_metrics: no samples");
  RegressionMetrics m;
  double abs_sum = 0, sq_sum = 0, ape_sum = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    const double e = predicted[i] - truth[i];
    abs_sum += std::abs(e);
    sq_sum += e * e;
    if (std::abs(truth[i]) > 1e-12) {
      ape_sum += std::abs(e / truth[i]);
      ++m.mape_count;
    }
  }
  m.count = static_cast<int64_t>(truth.size());
  m.mae = abs_sum / static_cast<double>(m.count);
  m.rmse = std::sqrt(sq_sum / static_cast<double>(m.count));
  m.mape = m.mape_count > 0 ? 100.0 * ape_sum / static_cast<double>(m.mape_count) : 0;
  return m;
}

namespace {
std::vector<double> to_double(const Tensor& t) {
  const std::vector<float> f = t.to_f32_vector();
  return {f.begin(), f.end()};
}
}  // namespace

RegressionMetrics regression_metrics_std(const Tensor& pred_std, const Tensor& y_std, const DataSplits& d) {
  EDGEOPT_CHECK_ARG(pred_std.shape() == y_std.shape(), "regression_metrics: predictions " + pred_std.describe() +
                                                           " and targets " + y_std.describe() + " differ in shape");
  return regression_metrics(to_double(d.inverse_target(pred_std)), to_double(d.inverse_target(y_std)));
}

Tensor persistence_forecast(const Tensor& x, const DataSplits& d) {
  EDGEOPT_CHECK(d.target_feature_index >= 0, ErrorCode::kFailedPrecondition,
                "persistence: the target of '" + d.name + "' is not one of its input features");
  EDGEOPT_CHECK_ARG(x.dtype() == DType::kF32 && x.rank() == 3 && x.shape()[2] > d.target_feature_index,
                    "persistence: x must be f32 [N,window,F] with F > " + std::to_string(d.target_feature_index) +
                        ", got " + x.describe());
  EDGEOPT_CHECK_ARG(d.target_mean.size() == 1, "persistence: needs exactly one target");
  const int64_t n = x.shape()[0], w = x.shape()[1], f = x.shape()[2];
  const size_t ti = static_cast<size_t>(d.target_feature_index);
  Tensor out(DType::kF32, Shape{n, 1});
  const float* p = x.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    // Back to original units with the feature statistics, then into target units.
    const double v = static_cast<double>(p[(i * w + (w - 1)) * f + static_cast<int64_t>(ti)]) * d.feature_std[ti] + d.feature_mean[ti];
    out.data<float>()[i] = static_cast<float>((v - d.target_mean[0]) / d.target_std[0]);
  }
  return out;
}

Tensor RidgeModel::predict(const Tensor& x) const {
  EDGEOPT_CHECK_ARG(x.dtype() == DType::kF32 && x.rank() >= 1 && x.shape()[0] > 0 && x.numel() / x.shape()[0] == inputs,
                    "ridge: x " + x.describe() + " needs " + std::to_string(inputs) + " values per sample");
  const int64_t n = x.shape()[0];
  Tensor out(DType::kF32, Shape{n, outputs});
  const float* p = x.data<float>();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t o = 0; o < outputs; ++o) {
      double s = bias[static_cast<size_t>(o)];
      for (int64_t j = 0; j < inputs; ++j) s += p[i * inputs + j] * weights[static_cast<size_t>(j * outputs + o)];
      out.data<float>()[i * outputs + o] = static_cast<float>(s);
    }
  return out;
}

RidgeModel fit_ridge(const Tensor& x, const Tensor& y, double lambda) {
  EDGEOPT_CHECK_ARG(lambda >= 0, "ridge: lambda must be >= 0, got " + std::to_string(lambda));
  EDGEOPT_CHECK_ARG(x.dtype() == DType::kF32 && y.dtype() == DType::kF32 && x.rank() >= 1 && y.rank() == 2,
                    "ridge: needs x f32 [N,...] and y f32 [N,k], got " + x.describe() + " and " + y.describe());
  const int64_t n = x.shape()[0];
  EDGEOPT_CHECK_ARG(n >= 2 && y.shape()[0] == n, "ridge: x " + x.describe() + " and y " + y.describe() +
                                                     " need the same N >= 2");
  const int64_t d = x.numel() / n, k = y.shape()[1];
  Eigen::MatrixXd X(n, d), Y(n, k);
  const float* px = x.data<float>();
  const float* py = y.data<float>();
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = 0; j < d; ++j) X(i, j) = px[i * d + j];
    for (int64_t o = 0; o < k; ++o) Y(i, o) = py[i * k + o];
  }
  // Centering removes the intercept from the penalty: b = mean(Y) - mean(X) W.
  const Eigen::RowVectorXd mx = X.colwise().mean(), my = Y.colwise().mean();
  X.rowwise() -= mx;
  Y.rowwise() -= my;
  Eigen::MatrixXd A = X.transpose() * X;
  A.diagonal().array() += lambda;
  Eigen::LDLT<Eigen::MatrixXd> ldlt(A);
  EDGEOPT_CHECK_ARG(ldlt.info() == Eigen::Success && (lambda > 0 || ldlt.isPositive()),
                    "ridge: X^T X + lambda I is singular (lambda " + std::to_string(lambda) + ")");
  const Eigen::MatrixXd W = ldlt.solve(X.transpose() * Y);
  EDGEOPT_CHECK_ARG(W.allFinite(), "ridge: the solution is not finite (lambda " + std::to_string(lambda) + ")");
  const Eigen::RowVectorXd b = my - mx * W;
  RidgeModel m;
  m.lambda = lambda;
  m.inputs = d;
  m.outputs = k;
  m.weights.resize(static_cast<size_t>(d * k));
  for (int64_t j = 0; j < d; ++j)
    for (int64_t o = 0; o < k; ++o) m.weights[static_cast<size_t>(j * k + o)] = W(j, o);
  m.bias.assign(b.data(), b.data() + k);
  return m;
}

std::map<std::string, double> ForecastBaselines::to_map() const {
  std::map<std::string, double> m = persistence.to_map("persistence/");
  for (const auto& [key, v] : ridge.to_map("ridge/")) m[key] = v;
  m["ridge/lambda"] = ridge_lambda;
  m["ridge_over_persistence_rmse"] = persistence.rmse > 0 ? ridge.rmse / persistence.rmse : 0;
  return m;
}

ForecastBaselines forecast_baselines(const DataSplits& d, const std::vector<double>& lambdas) {
  EDGEOPT_CHECK_ARG(d.test.size() > 0 && d.val.size() > 0 && d.train.size() > 1,
                    "forecast_baselines: '" + d.name + "' needs train, val and test windows");
  EDGEOPT_CHECK_ARG(!lambdas.empty(), "forecast_baselines: empty lambda grid");
  ForecastBaselines r;
  r.persistence = regression_metrics_std(persistence_forecast(d.test.x, d), d.test.y, d);
  double best = std::numeric_limits<double>::infinity();
  RidgeModel best_model;
  for (double lambda : lambdas) {
    RidgeModel m = fit_ridge(d.train.x, d.train.y, lambda);
    const double rmse = regression_metrics_std(m.predict(d.val.x), d.val.y, d).rmse;
    r.val_rmse.emplace_back(lambda, rmse);
    if (rmse < best) {
      best = rmse;
      best_model = std::move(m);
    }
  }
  r.ridge_lambda = best_model.lambda;
  r.ridge = regression_metrics_std(best_model.predict(d.test.x), d.test.y, d);
  return r;
}

}  // namespace edgeopt::train

#include "train/loop/evaluate.h"

#include <cmath>

#include "train/loop/trainer.h"
#include "train/metrics/classification.h"
#include "train/metrics/event.h"
#include "train/metrics/regression.h"

namespace edgeopt::train {

EvalResult evaluate(const Graph& g, const DataSplits& d, const std::string& split) {
  const Dataset* ds = split == "test" ? &d.test : split == "val" ? &d.val : split == "train" ? &d.train : nullptr;
  EDGEOPT_CHECK_ARG(ds, "unknown split '" + split + "' (train, val or test)");
  EDGEOPT_CHECK_ARG(ds->size() > 0, "the " + split + " split of '" + d.name + "' is empty");
  EvalResult r;
  r.task = d.task;
  r.split = split;
  Tensor pred = predict(g, *ds);
  if (d.task == "classification") {
    EDGEOPT_CHECK_ARG(pred.rank() == 2 && pred.shape()[1] == d.num_classes,
                      "the model output " + pred.describe() + " does not fit " + std::to_string(d.num_classes) +
                          " classes");
    ClassificationMetrics m = classification_metrics_from_logits(pred, ds->y, d.class_names);
    r.metrics = m.to_map();
    double p = 0, rc = 0;
    for (size_t k = 0; k < m.precision.size(); ++k) {
      p += m.precision[k];
      rc += m.recall[k];
    }
    r.metrics["precision"] = m.precision.empty() ? 0 : p / static_cast<double>(m.precision.size());
    r.metrics["recall"] = m.recall.empty() ? 0 : rc / static_cast<double>(m.recall.size());
    r.confusion = m.confusion;
    r.class_names = m.class_names;
    if (d.name == "wsn-events" && d.num_classes == 2) {
      // Event score = softmax probability of class 1.
      std::vector<double> score(static_cast<size_t>(ds->size()));
      const float* pl = pred.data<float>();
      for (int64_t i = 0; i < ds->size(); ++i) score[i] = 1.0 / (1.0 + std::exp(pl[2 * i] - pl[2 * i + 1]));
      EventMetrics em = event_metrics(score, ds->y.to_i64_vector(), 0.5, d.sample_period_s, ds->group, ds->step);
      for (const auto& [k, v] : em.to_map()) r.metrics["event/" + k] = v;
    }
    return r;
  }
  RegressionMetrics m = regression_metrics_std(pred, ds->y, d);
  r.metrics = m.to_map();
  if (d.window > 0 && split == "test" && d.val.size() > 0) {
    ForecastBaselines b = forecast_baselines(d);
    r.metrics["baseline_rmse"] = b.persistence.rmse;
    r.metrics["baseline_mae"] = b.persistence.mae;
    r.metrics["linear_rmse"] = b.ridge.rmse;
    r.metrics["linear_mae"] = b.ridge.mae;
    r.metrics["linear_lambda"] = b.ridge_lambda;
    if (b.persistence.rmse > 0) r.metrics["rmse_over_baseline"] = m.rmse / b.persistence.rmse;
    if (b.ridge.rmse > 0) r.metrics["rmse_over_linear"] = m.rmse / b.ridge.rmse;
  }
  return r;
}

}  // namespace edgeopt::train

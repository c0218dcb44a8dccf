// Evaluates a model on one split of a DataSplits and returns the metrics under their plain names,
// as `edgeopt eval --json` prints them:
//   classification: accuracy (fraction), macro_f1, precision and recall (macro averages),
//                   per-class precision/<name>, recall/<name>, f1/<name>;
//   forecasting:    mae, rmse, mape (original units), baseline_rmse (persistence), linear_rmse
//                   (ridge fitted on the training windows), and their ratios;
//   wsn-events:     also event recall, precision and false alarms per hour at threshold 0.5.
#pragma once
#include <map>
#include <string>

#include "core/graph.h"
#include "train/data/dataset.h"

namespace edgeopt::train {

struct EvalResult {
  std::map<std::string, double> metrics;
  std::string task;
  std::string split;
  std::vector<std::vector<int64_t>> confusion;  // classification only
  std::vector<std::string> class_names;
};

// split: "train", "val" or "test". Throws InvalidArgument for another name or an empty split.
EvalResult evaluate(const Graph& g, const DataSplits& d, const std::string& split = "test");

}  // namespace edgeopt::train

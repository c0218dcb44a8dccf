// Per-layer sensitivity and automatic mixed precision.
//
//   Quality fp = measure_quality(f, splits, "val");
//   auto sens = layer_sensitivity(f, plan, ranges, opts, splits, "val");   // one entry per planned node
//   MixedPrecision mp = choose_mixed_precision(f, ranges, opts, splits, /*max_drop=*/0.3, "val");
//   // mp.graph: QDQ with mp.kept_float nodes left in f32, the fewest needed (greedy) for the budget
//
// Quality is accuracy in points (0-100, higher is better) for classification and RMSE in the
// data's units (lower is better) for regression; a drop is points of accuracy lost, or the RMSE
// increase in percent of the fp32 RMSE. Selection runs on the validation split so that the test
// split stays an unbiased measurement.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/graph.h"
#include "quantize/ptq.h"
#include "train/data/dataset.h"

namespace edgeopt::quantize {

struct Quality {
  double value = 0;
  bool higher_is_better = true;
  std::string name;  // "accuracy_pct" | "rmse"
};

Quality measure_quality(const Graph& g, const train::DataSplits& d, const std::string& split);
// Accuracy points lost, or RMSE increase in percent of ref.
double quality_drop(const Quality& ref, const Quality& q);

struct LayerSensitivity {
  std::string node, op_type;
  double quality = 0;  // with only this node quantized
  double drop = 0;
};

// ranges must hold every activation of the plan (calibrate plan.activations, not only .calibrated).
std::vector<LayerSensitivity> layer_sensitivity(const Graph& f, const QuantPlan& plan,
                                                const std::map<std::string, Range>& ranges, const QuantOptions& o,
                                                const train::DataSplits& d, const std::string& split);

struct MixedPrecision {
  Graph graph;                      // QDQ graph meeting the budget (or all layers f32 if none does)
  std::set<std::string> kept_float; // nodes left in f32, most sensitive first
  double drop = 0;                  // measured on `split`
  std::vector<LayerSensitivity> sensitivity;
  std::vector<std::pair<int, double>> steps;  // (layers kept f32, drop) tried in order
};

// Starts from all layers int8; while the drop on `split` exceeds max_drop, keeps the next most
// sensitive layer in f32 and re-measures.
MixedPrecision choose_mixed_precision(const Graph& f, const std::map<std::string, Range>& ranges,
                                      const QuantOptions& o, const train::DataSplits& d, double max_drop,
                                      const std::string& split);

}  // namespace edgeopt::quantize

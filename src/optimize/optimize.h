// `edgeopt optimize`: the whole pipeline under budgets. Takes a trained model (or trains a zoo
// model), builds every candidate a recipe (or the automatic search) describes, measures each one on
// real held-out data and on this machine, and picks the best within the budgets.
//
//   OptimizeOptions o;
//   o.model = "vision_cnn"; o.data = "fashion-mnist"; o.out_dir = "out/opt"; o.auto_search = true;
//   o.budgets.max_latency_ms = 0.05;
//   nlohmann::json report = run_optimize(o);     // also written to out/opt/report.json
//
// Measurements per candidate (its "card", see docs/optimize.md for every field):
// - quality on the validation split (what selection and budgets use, so the test split stays an
//   unbiased measurement) and on the test split (what the report headlines);
// - batch-1 latency p50/p99 on this machine: every candidate is timed again at the end, all of
//   them interleaved round-robin, so load on a shared machine hits each alike;
// - size in bytes of its ONNX file, peak memory (activations + weights) of the runtime session.
//
// Resume: every finished candidate leaves its model and card in out_dir/candidates/, every
// intermediate model (e.g. pruned and fine-tuned, before int8) in out_dir/stages/, keyed by the
// steps that made it; a rerun with the same model, data and seed reuses them and only builds what
// is missing.
#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "optimize/recipe.h"
#include "train/data/load_dataset.h"

namespace edgeopt::optimize {

struct Budgets {
  std::optional<double> max_latency_ms;
  std::optional<double> max_size_mb;
  // Accuracy points for classifiers, percent of the baseline RMSE for forecasters; < 0: the default
  // (0.5 points, 2%).
  double max_accuracy_drop = -1;
  // A candidate meets the accuracy budget when the one-sided upper confidence bound of its drop on
  // the selection set (paired bootstrap against the baseline, same samples) is within the budget;
  // 0: the point estimate alone; < 0: per task, 0.9 for classifiers (a candidate whose true drop is
  // at the budget is chosen about one time in ten at most) and 0 for forecasters (on
  // seattle-weather's ~110 selection windows the 90% bound exceeded the 2% budget for every
  // structural candidate, including ones within it on the test split; see docs/optimize.md).
  double selection_confidence = -1;
};

struct OptimizeOptions {
  std::string model;             // MODEL.onnx (trained) or a zoo name (trained here first)
  std::string data;              // data-set spec (load_dataset)
  train::DatasetOptions data_opts;
  std::string target = "host";
  std::string recipe_file;       // recipes from a file; else auto_search
  bool auto_search = true;
  Budgets budgets;
  std::string objective = "latency";  // what "best" minimizes within the budgets: latency | size | energy
  std::string out_dir;
  uint64_t seed = 1;
  int threads = 1;               // latency is measured with this many threads
  int train_epochs = 8;          // for a zoo model
  int fine_tune_epochs = -1;     // structural candidates; < 0: per family (4 images, 10 others)
  int64_t max_steps_per_epoch = 0;  // cap (quick runs and tests)
  int latency_rounds = 5;        // final interleaved timing: rounds x latency_runs per candidate
  int latency_runs = 40;
  double host_power_w = 0;       // host active power for energy estimates when RAPL is unreadable (0: assumed)
  bool ort = true;               // time the baseline in ONNX Runtime when a Python with it is found
  bool progress = true;
};

// Runs the search, writes out_dir/report.json (and the candidates) and returns the report.
// Throws InvalidArgument for bad options (naming the flag) and what loading the model/data throws.
nlohmann::json run_optimize(const OptimizeOptions& o);

// Accuracy drop of a candidate against the baseline on the same samples, with a one-sided upper
// confidence bound from a paired bootstrap (resampling samples, both models together).
// Classifiers: `base`/`cand` hold 1 (correct) or 0 per sample, the drop is in points; forecasters:
// squared errors per sample, the drop is the RMSE increase in percent. Deterministic for a seed.
struct DropEstimate {
  double drop = 0;   // on all samples
  double upper = 0;  // the bootstrap's `confidence` quantile (== drop when confidence is 0)
};
DropEstimate paired_drop(const std::vector<double>& base, const std::vector<double>& cand, bool classification,
                         double confidence, uint64_t seed, int resamples = 2000);

// The non-dominated candidates for (quality up, latency down, size down): indices into `cards`.
// quality is higher-is-better (callers negate RMSE).
std::vector<size_t> pareto_front(const std::vector<double>& quality, const std::vector<double>& latency,
                                 const std::vector<double>& size);

}  // namespace edgeopt::optimize

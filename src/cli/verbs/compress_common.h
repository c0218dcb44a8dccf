// Shared by the compression verbs (prune, factorize, distill): data and fine-tuning flags, and the
// before/after measurement every verb prints (accuracy or RMSE, parameters, bytes, FLOPs, latency).
#pragma once
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "compress/model_stats.h"
#include "core/graph.h"
#include "train/data/load_dataset.h"
#include "train/loop/evaluate.h"
#include "train/loop/trainer.h"

namespace edgeopt::cli {

struct CompressArgs {
  std::string model, data, out, report;
  train::DatasetOptions data_opts;
  train::TrainOptions train;
  float lr = -1.f;
  int64_t batch = -1;
  int latency_runs = 100;
  int latency_threads = 1;
  bool no_progress = false;
};

// --data, --out, --report, --epochs, --seed, --lr, --batch, --max-steps-per-epoch,
// --latency-runs, --no-progress and the data-set flags. `epochs_default` is the fine-tuning length.
void add_compress_flags(CLI::App* cmd, CompressArgs& a, int epochs_default);
// Loads the data (seeded like training) and fills the fine-tuning defaults (lr, batch, progress).
train::DataSplits load_compress_data(CompressArgs& a);

struct Measurement {
  train::EvalResult eval;
  compress::ModelStats stats;
  nlohmann::json to_json() const;
};

// Metrics and sizes (no latency: see add_paired_latency).
Measurement measure(const Graph& g, const train::DataSplits& d);
// Latency of both models, timed in alternation (compress::paired_latency_ms).
void add_paired_latency(Measurement& before, Measurement& after, const Graph& gb, const Graph& ga, int runs,
                        int threads);
// One table: before, after, ratio per row.
void print_before_after(const Measurement& before, const Measurement& after);
// The headline metric: test accuracy (classification) or RMSE.
double headline_metric(const Measurement& m);

}  // namespace edgeopt::cli

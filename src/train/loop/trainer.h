// The training loop: mini-batches from a DataSplits, autograd, a loss suited to the task, an
// optimizer with a schedule, validation after every epoch (the best weights are kept), checkpoints
// and resume, a progress bar.
//
//   TrainOptions o{.epochs = 10, .batch = 128, .lr = 2e-3f, .seed = 1};
//   TrainReport r = train_model(graph, splits, o);   // graph.initializers now hold the best weights
#pragma once
#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/graph.h"
#include "runtime/session.h"
#include "train/data/dataset.h"

namespace edgeopt::train {

struct TrainOptions {
  int epochs = 10;
  int64_t batch = 64;
  float lr = 1e-3f;
  std::string optimizer = "adamw";   // sgd | adam | adamw
  float weight_decay = 1e-4f;
  std::string schedule = "cosine";   // cosine | step | constant
  int64_t warmup_steps = -1;         // -1: one epoch's worth capped at 500 steps
  float label_smoothing = 0.f;
  std::string loss = "auto";         // auto | cross_entropy | mse | mae | huber
  double clip_norm = 5.0;            // 0 disables
  uint64_t seed = 1;
  ImageAugment augment;
  std::string checkpoint;            // path; written after every epoch when set
  bool resume = false;               // continue from `checkpoint`
  bool progress = true;
  int64_t max_steps_per_epoch = 0;   // 0 = full epochs (benchmarks and tests cap it)
  std::set<std::string> frozen;      // parameter names not updated
  std::unordered_map<std::string, Tensor> masks;  // 0/1 masks applied after each step (pruning)
  // Distillation: when set, returns the teacher's output for a batch; the loss becomes
  // alpha * hard loss + (1 - alpha) * T^2 KL (classification) or MSE to the teacher (regression).
  std::function<Tensor(const Tensor& x)> teacher;
  float distill_alpha = 0.5f;
  float distill_temperature = 4.f;
};

struct EpochLog {
  int epoch = 0;
  double train_loss = 0;
  double val_metric = 0;       // accuracy (classification) or RMSE in standardized units (regression)
  double seconds = 0;
  double samples_per_s = 0;
  double lr = 0;
};

struct TrainReport {
  std::vector<EpochLog> epochs;
  int best_epoch = -1;
  double best_val_metric = 0;
  std::string val_metric_name;  // "accuracy" | "rmse_std"
  double seconds = 0;
  int64_t steps = 0;
};

// Trains `g` in place (its f32 initializers). The model's first input takes batches of x, its first
// output is compared with y. Throws InvalidArgument when the output does not fit the loss
// (e.g. a [N,1] output for 10 classes), naming both shapes.
TrainReport train_model(Graph& g, const DataSplits& d, const TrainOptions& o);

// Runs the model over a split in batches (inference mode) and returns its first output [N, ...].
// `so` picks how the runtime runs it (e.g. optimize = false runs a QDQ model exactly as written
// instead of through the int8 kernels).
Tensor predict(const Graph& g, const Dataset& ds, int64_t batch = 256, const runtime::SessionOptions& so = {});

}  // namespace edgeopt::train

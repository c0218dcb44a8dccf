// Unstructured magnitude pruning: zero the smallest-|w| weights of Conv, Gemm, MatMul and
// LSTM/GRU (W, R) and keep them zero through fine-tuning with masks (TrainOptions::masks).
//
//   MagnitudeOptions o{.sparsity = 0.9, .global = false};
//   std::unordered_map<std::string, Tensor> masks;
//   MagnitudeReport r = prune_magnitude(g, o, &masks);          // one shot
//   train::TrainOptions t; t.masks = masks; train_model(g, data, t);  // fine-tune, zeros stay
//   prune_gradual(g, data, t, {.final_sparsity = 0.9, .rounds = 4});  // polynomial schedule
//
// Layer-wise: every prunable weight gets the target sparsity (its k smallest magnitudes, ties by
// index). Global: one magnitude threshold over all prunable weights, so layers with many small
// weights lose more. Weights already zero count as pruned, so repeated calls with growing sparsity
// only add zeros. Weights with fewer than min_weights entries (e.g. a 1-channel stem) are left dense.
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/graph.h"
#include "train/data/dataset.h"
#include "train/loop/trainer.h"

namespace edgeopt::compress {

struct MagnitudeOptions {
  double sparsity = 0.9;     // fraction of each (or all, when global) prunable weight set to zero
  bool global = false;
  int64_t min_weights = 1024;
};

struct PrunedWeight {
  std::string name, node;
  int64_t numel = 0, zeros = 0;
};

struct MagnitudeReport {
  std::vector<PrunedWeight> weights;
  int64_t pruned_numel = 0, pruned_zeros = 0;  // over the prunable weights
  double sparsity() const { return pruned_numel ? static_cast<double>(pruned_zeros) / pruned_numel : 0; }
  nlohmann::json to_json() const;
};

// Names (initializers) of the weights magnitude pruning may touch, with the node using each.
std::vector<std::pair<std::string, std::string>> prunable_weights(const Graph& g, int64_t min_weights);

// Rewrites the pruned weights as new tensors (the old ones may be shared). masks, when given,
// receives a 0/1 f32 tensor per pruned weight. Throws InvalidArgument for sparsity outside [0, 1)
// or when no weight qualifies.
MagnitudeReport prune_magnitude(Graph& g, const MagnitudeOptions& o,
                                std::unordered_map<std::string, Tensor>* masks = nullptr);

// Zhu & Gupta (2017) polynomial schedule: s(t) = s_f + (s_i - s_f) * (1 - t)^3, t in [0, 1].
double polynomial_sparsity(double initial, double final_sparsity, double t);

struct GradualOptions {
  double initial_sparsity = 0.0;
  double final_sparsity = 0.9;
  int rounds = 4;               // prune -> fine-tune rounds; round i reaches s(i / rounds)
  int epochs_per_round = 1;
  int final_epochs = 0;         // more fine-tuning at the final sparsity (masks fixed)
  bool global = false;
  int64_t min_weights = 1024;
};

struct GradualReport {
  std::vector<double> sparsity_per_round;
  std::vector<double> val_metric_per_round;
  MagnitudeReport final_report;
  nlohmann::json to_json() const;
};

// Gradual pruning: for each round, prune to the schedule's sparsity and fine-tune with masks for
// epochs_per_round epochs (train options `t`, epochs overridden), then final_epochs more at the
// final sparsity. g ends at final_sparsity.
GradualReport prune_gradual(Graph& g, const train::DataSplits& d, const train::TrainOptions& t,
                            const GradualOptions& o);

}  // namespace edgeopt::compress

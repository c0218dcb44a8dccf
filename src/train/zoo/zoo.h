// The model zoo: C++ builders that return a ready-to-train Graph (weights initialized from a seed)
// for the three smart-city model families.
//
//   Graph g = build_zoo_model("vision_cnn", {.input_shape = {1, 28, 28}, .num_outputs = 10});
//
// | name          | for                         | input                    | knobs                      |
// |---------------|-----------------------------|--------------------------|----------------------------|
// | vision_cnn    | small images (28x28, 32x32) | [N, C, H, W]             | width (base channels), depth (conv blocks) |
// | mobilenet_v2  | images, depthwise separable | [N, C, H, W]             | width multiplier, depth (stages kept) |
// | env_lstm      | sensor time series forecast | [N, T, F] (batch first)  | width (hidden), depth (stacked layers) |
// | env_gru       | same, GRU cells             | [N, T, F]                | width, depth               |
// | safety_mlp    | tabular / window features   | [N, F]                   | width (hidden), depth (hidden layers), dropout |
//
// The batch dim is symbolic ("N"); the output is named "output": logits for classifiers, the
// forecast for regressors.
#pragma once
#include <string>
#include <vector>

#include "core/graph.h"
#include "train/data/dataset.h"
#include "train/loop/trainer.h"

namespace edgeopt::train {

struct ZooOptions {
  std::vector<int64_t> input_shape;  // without the batch dim
  int64_t num_outputs = 10;          // classes, or forecast values
  int64_t width = 0;                 // 0 = the model's default
  int64_t depth = 0;                 // 0 = the model's default
  float width_mult = 1.f;            // mobilenet_v2
  float dropout = 0.f;               // safety_mlp, vision_cnn head
  uint64_t seed = 1;
  // env_lstm/env_gru: when >= 0, the forecast is the last observed value of this input feature plus
  // the network's output (the network learns the change, not the level: persistence is the
  // starting point, which matters at short horizons where persistence is hard to beat).
  int64_t residual_feature = -1;
};

// Throws InvalidArgument listing the known names for an unknown one.
Graph build_zoo_model(const std::string& name, const ZooOptions& opts);
const std::vector<std::string>& zoo_model_names();

// The ZooOptions that fit a data set: input shape and outputs from the data, and for env_lstm /
// env_gru with a one-value forecast of an input feature, the residual (persistence) head.
ZooOptions zoo_options_for_data(const std::string& name, const DataSplits& d, uint64_t seed);
// Batch size and learning rate that train each zoo model well on the packaged data sets (measured),
// written into o unless batch/lr are given (> 0).
void apply_zoo_train_defaults(const std::string& name, bool image, TrainOptions& o, int64_t batch = -1,
                              float lr = -1.f);

}  // namespace edgeopt::train

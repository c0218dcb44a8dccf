// Shared by the partition and offload verbs: the profiling sample and calibration data.
#pragma once
#include <string>

#include "core/graph.h"
#include "train/data/load_dataset.h"

namespace edgeopt::cli {

struct SplitData {
  bool have_data = false;
  train::DataSplits splits;  // when have_data
  Tensor sample;             // one input at batch 1: the first test sample, or seeded N(0,1) noise
  Tensor calib;              // up to 256 training samples (when have_data)
};

// Without a data spec the sample is noise of the model's input shape (batch 1); throws
// InvalidArgument when a non-batch input dim is symbolic (then --data is needed).
SplitData load_split_data(const Graph& model, const std::string& spec, train::DatasetOptions opts, uint64_t seed);
// "models/cnn.onnx" -> "cnn" (characters other than [A-Za-z0-9_-] become '_').
std::string model_prefix_from_path(const std::string& path);

}  // namespace edgeopt::cli

// The calibration runner: runs the float model on calibration samples and feeds every requested
// intermediate tensor to an observer (observers.h), by running a Session on a copy of the graph
// whose outputs also name those intermediates.
//
//   Tensor x = calibration_samples(splits.train, 512, /*seed=*/1);   // a seeded random subset
//   std::map<std::string, Range> r = calibrate(g, {"conv1.relu", "fc1"}, x, opts);
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "quantize/observers.h"
#include "quantize/ptq.h"
#include "train/data/dataset.h"

namespace edgeopt::quantize {

// n samples of ds.x drawn without replacement by seed (all of them when n >= size), in a new tensor.
// Throws InvalidArgument when the split is empty or n <= 0.
Tensor calibration_samples(const train::Dataset& ds, int64_t n, uint64_t seed);

// Ranges of the named tensors (graph inputs or node outputs, f32) over x [N, ...], fed to the
// graph's first input in batches of o.batch, with o.calib's observer. Throws InvalidArgument
// naming a tensor that is not a value of g or that no sample produced.
std::map<std::string, Range> calibrate(const Graph& g, const std::vector<std::string>& tensors, const Tensor& x,
                                       const QuantOptions& o);

}  // namespace edgeopt::quantize

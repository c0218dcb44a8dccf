#include "cli/verbs/split_common.h"

#include <filesystem>
#include <random>

#include "quantize/calibrate.h"
#include "split/partitioner.h"

namespace edgeopt::cli {

SplitData load_split_data(const Graph& model, const std::string& spec, train::DatasetOptions opts, uint64_t seed) {
  SplitData d;
  EDGEOPT_CHECK_ARG(!model.inputs.empty(), "the model has no graph input");
  if (!spec.empty()) {
    opts.seed = seed;
    d.splits = train::load_dataset(spec, opts);
    d.have_data = true;
    d.sample = split::slice_rows(d.splits.test.x, 0, 1);
    d.calib = quantize::calibration_samples(d.splits.train, 256, seed);
    return d;
  }
  const ValueInfo& in = model.inputs[0];
  std::vector<int64_t> dims = in.shape.dims();
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i == 0 && dims[0] < 0) dims[0] = 1;
    EDGEOPT_CHECK_ARG(dims[i] > 0, "input '" + in.name + "' has shape " + in.shape.str() +
                                       " with a symbolic dim besides the batch: pass --data so a real sample sets it");
  }
  EDGEOPT_CHECK_ARG(in.dtype == DType::kF32, "input '" + in.name + "' is not f32: pass --data");
  d.sample = Tensor(DType::kF32, Shape(dims));
  std::mt19937_64 r(seed);
  std::normal_distribution<float> n(0.f, 1.f);
  for (int64_t i = 0; i < d.sample.numel(); ++i) d.sample.data<float>()[i] = n(r);
  return d;
}

std::string model_prefix_from_path(const std::string& path) {
  std::string s = std::filesystem::path(path).stem().string();
  for (char& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') c = '_';
  return s.empty() ? "model" : s;
}

}  // namespace edgeopt::cli

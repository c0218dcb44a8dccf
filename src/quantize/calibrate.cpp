#include "quantize/calibrate.h"

#include <algorithm>
#include <memory>

#include "runtime/session.h"
#include "train/loop/progress.h"

namespace edgeopt::quantize {

Tensor calibration_samples(const train::Dataset& ds, int64_t n, uint64_t seed) {
  EDGEOPT_CHECK_ARG(ds.size() > 0, "calibration needs samples, but the training split is empty");
  EDGEOPT_CHECK_ARG(n > 0, "--calib-samples must be > 0, got " + std::to_string(n));
  std::vector<int64_t> perm = train::seeded_permutation(ds.size(), seed);
  perm.resize(static_cast<size_t>(std::min<int64_t>(n, ds.size())));
  return ds.subset(perm).x;
}

std::map<std::string, Range> calibrate(const Graph& g, const std::vector<std::string>& tensors, const Tensor& x,
                                       const QuantOptions& o) {
  EDGEOPT_CHECK_ARG(!g.inputs.empty(), "the model has no inputs to calibrate with");
  EDGEOPT_CHECK_ARG(x.defined() && x.rank() >= 1 && x.shape()[0] > 0, "calibration needs at least one sample");
  Graph c = g;
  std::map<std::string, std::unique_ptr<Observer>> obs;
  for (const auto& t : tensors) {
    bool known = c.find_input(t) != nullptr;
    for (const auto& n : c.nodes)
      known = known || std::find(n.outputs.begin(), n.outputs.end(), t) != n.outputs.end();
    EDGEOPT_CHECK_ARG(known, "calibration tensor '" + t + "' is neither a graph input nor a node output");
    bool is_out = false;
    for (const auto& v : c.outputs) is_out = is_out || v.name == t;
    if (!is_out) c.outputs.push_back({t, DType::kF32, Shape{}});
    obs[t] = make_observer(o.calib, o.percentile);
  }
  // No graph rewrites: every named intermediate must exist as computed by the model.
  runtime::Session s(std::move(c), {.optimize = false});
  const int64_t n = x.shape()[0], batch = std::max<int64_t>(o.batch, 1);
  const int64_t steps = (n + batch - 1) / batch;
  train::Progress bar("calibrate", steps, static_cast<double>(batch), o.progress);
  std::vector<int64_t> idx;
  train::Dataset all{x, Tensor(), {}, {}};
  for (int64_t b = 0; b < steps; ++b) {
    idx.clear();
    for (int64_t i = b * batch; i < std::min(n, (b + 1) * batch); ++i) idx.push_back(i);
    Tensor xb = all.subset(idx).x;
    auto out = s.run({{g.inputs[0].name, xb}});
    for (auto& [name, ob] : obs) {
      const Tensor& t = out.at(name);
      EDGEOPT_CHECK_ARG(t.dtype() == DType::kF32, "calibration tensor '" + name + "' is " + t.describe() + ", not f32");
      ob->observe(t.data<float>(), t.numel());
    }
    bar.update(b + 1);
  }
  bar.finish();
  std::map<std::string, Range> r;
  for (auto& [name, ob] : obs) {
    EDGEOPT_CHECK_ARG(!ob->empty(), "calibration tensor '" + name + "' held no finite value on any sample");
    r[name] = ob->range(o.activations);
  }
  return r;
}

}  // namespace edgeopt::quantize

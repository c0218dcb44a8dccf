#include "quantize/sensitivity.h"

#include <algorithm>

#include "train/loop/evaluate.h"
#include "train/loop/progress.h"

namespace edgeopt::quantize {

Quality measure_quality(const Graph& g, const train::DataSplits& d, const std::string& split) {
  train::EvalResult r = train::evaluate(g, d, split);
  Quality q;
  if (d.task == "classification") {
    q.value = 100.0 * r.metrics.at("accuracy");
    q.name = "accuracy_pct";
  } else {
    q.value = r.metrics.at("rmse");
    q.higher_is_better = false;
    q.name = "rmse";
  }
  return q;
}

double quality_drop(const Quality& ref, const Quality& q) {
  if (ref.higher_is_better) return ref.value - q.value;
  return ref.value > 0 ? 100.0 * (q.value - ref.value) / ref.value : q.value - ref.value;
}

std::vector<LayerSensitivity> layer_sensitivity(const Graph& f, const QuantPlan& plan,
                                                const std::map<std::string, Range>& ranges, const QuantOptions& o,
                                                const train::DataSplits& d, const std::string& split) {
  const Quality ref = measure_quality(f, d, split);
  std::vector<LayerSensitivity> out;
  train::Progress bar("sensitivity", static_cast<int64_t>(plan.targets.size()), 0, o.progress);
  for (const auto& t : plan.targets) {
    QuantOptions one = o;
    for (const auto& other : plan.targets)
      if (other.node != t.node) one.exclude.insert(other.node);
    QuantPlan p = plan_quantization(f, one);
    Graph qg = emit_qdq(f, p, activation_qparams(p, ranges, one), one);
    LayerSensitivity s{t.node, t.op_type, 0, 0};
    const Quality qq = measure_quality(qg, d, split);
    s.quality = qq.value;
    s.drop = quality_drop(ref, qq);
    out.push_back(s);
    bar.update(static_cast<int64_t>(out.size()), t.node + " drop " + std::to_string(s.drop));
  }
  bar.finish();
  return out;
}

MixedPrecision choose_mixed_precision(const Graph& f, const std::map<std::string, Range>& ranges,
                                      const QuantOptions& o, const train::DataSplits& d, double max_drop,
                                      const std::string& split) {
  MixedPrecision mp;
  const QuantPlan full = plan_quantization(f, o);
  mp.sensitivity = layer_sensitivity(f, full, ranges, o, d, split);
  std::vector<LayerSensitivity> order = mp.sensitivity;
  std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) { return a.drop > b.drop; });
  const Quality ref = measure_quality(f, d, split);
  QuantOptions cur = o;
  train::Progress bar("mixed precision", static_cast<int64_t>(order.size()) + 1, 0, o.progress);
  for (size_t k = 0; k <= order.size(); ++k) {
    if (k > 0) {
      cur.exclude.insert(order[k - 1].node);
      mp.kept_float.insert(order[k - 1].node);
    }
    QuantPlan p = plan_quantization(f, cur);
    mp.graph = emit_qdq(f, p, activation_qparams(p, ranges, cur), cur);
    mp.drop = quality_drop(ref, measure_quality(mp.graph, d, split));
    mp.steps.push_back({static_cast<int>(k), mp.drop});
    bar.update(static_cast<int64_t>(k) + 1, std::to_string(k) + " layer(s) f32, drop " + std::to_string(mp.drop));
    if (mp.drop <= max_drop) break;
  }
  bar.finish("stopped with " + std::to_string(mp.kept_float.size()) + " layer(s) kept f32");
  return mp;
}

}  // namespace edgeopt::quantize

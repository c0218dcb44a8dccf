#include "split/profile.h"

#include <algorithm>
#include <map>
#include <numeric>

#include "runtime/session.h"

namespace edgeopt::split {

double LayerProfile::prefix_ms(size_t k) const {
  k = std::min(k, node_ms.size());
  return std::accumulate(node_ms.begin(), node_ms.begin() + static_cast<std::ptrdiff_t>(k), 0.0);
}

double LayerProfile::suffix_ms(size_t k) const { return total_ms() - prefix_ms(k); }

namespace {
double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(v.size() / 2), v.end());
  return v[v.size() / 2];
}
}  // namespace

LayerProfile profile_edge(const Graph& g, const Tensor& sample, int runs) {
  EDGEOPT_CHECK_ARG(runs >= 1, "profile runs must be >= 1, got " + std::to_string(runs));
  EDGEOPT_CHECK_ARG(g.inputs.size() == 1, "profile_edge needs exactly one graph input");
  runtime::Session s(g, {.profile = true});
  const std::map<std::string, Tensor> feeds{{g.inputs[0].name, sample}};
  for (int i = 0; i < 2; ++i) s.run(feeds);
  // Timings accumulate over runs: per-run values are differences of consecutive snapshots.
  std::map<std::string, std::vector<double>> per_node;
  std::vector<double> whole;
  std::map<std::string, double> prev;
  for (const auto& t : s.timings()) prev[t.node] += t.total_ms;
  for (int r = 0; r < runs; ++r) {
    s.run(feeds);
    whole.push_back(s.stats().last_run_ms);
    std::map<std::string, double> now;
    for (const auto& t : s.timings()) now[t.node] += t.total_ms;
    for (const auto& [name, ms] : now) per_node[name].push_back(ms - prev[name]);
    prev = std::move(now);
  }
  LayerProfile p;
  p.source = "measured on this host (" + std::to_string(runs) + " runs, median per node)";
  for (const auto& n : g.nodes) {
    auto it = per_node.find(n.name);
    p.node_ms.push_back(it == per_node.end() ? 0.0 : median(it->second));
  }
  const double sum = p.total_ms(), run = median(whole);
  if (sum > 0 && run > sum)
    for (double& v : p.node_ms) v *= run / sum;
  return p;
}

LayerProfile scale_profile(const LayerProfile& edge, double speedup, const std::string& source, double request_ms) {
  EDGEOPT_CHECK_ARG(speedup > 0, "cloud speedup must be > 0, got " + std::to_string(speedup));
  EDGEOPT_CHECK_ARG(request_ms >= 0, "cloud request overhead must be >= 0 ms, got " + std::to_string(request_ms));
  LayerProfile p;
  p.request_ms = request_ms;
  p.source = source.empty() ? "edge profile / " + std::to_string(speedup) : source;
  for (double v : edge.node_ms) p.node_ms.push_back(v / speedup);
  return p;
}

}  // namespace edgeopt::split

#include "split/edge_node.h"

#include <algorithm>

namespace edgeopt::split {

std::string cloud_model_name(const std::string& prefix, size_t cut, Transport t) {
  return prefix + "_cut" + std::to_string(cut) + "_" + transport_name(t);
}

EdgeNode::EdgeNode(Graph g, std::vector<Cut> cuts, LayerProfile edge, LayerProfile cloud, TransportParams q,
                   SolverOptions solver, NetworkEstimate prior, EdgeNodeOptions opts)
    : graph_(std::move(g)),
      q_(std::move(q)),
      opts_(std::move(opts)),
      planner_(std::move(cuts), std::move(edge), std::move(cloud), std::move(solver), prior, opts_.replan_threshold),
      estimator_(prior, opts_.ewma_alpha) {
  EDGEOPT_CHECK_ARG(planner_.cuts().size() == graph_.nodes.size() + 1,
                    "EdgeNode: " + std::to_string(planner_.cuts().size()) + " cuts for a graph of " +
                        std::to_string(graph_.nodes.size()) + " nodes");
  EDGEOPT_CHECK_ARG(opts_.deadline_ms > 0, "deadline must be > 0 ms");
  if (!opts_.cloud_url.empty()) client_ = std::make_unique<OipClient>(opts_.cloud_url, opts_.cloud_client);
}

EdgeNode::~EdgeNode() = default;

SplitRunner& EdgeNode::runner(size_t cut, Transport t) {
  auto key = std::make_pair(cut, t);
  auto it = runners_.find(key);
  if (it == runners_.end())
    it = runners_.emplace(key, std::make_unique<SplitRunner>(split_model(graph_, planner_.cuts()[cut], t, q_))).first;
  return *it->second;
}

bool EdgeNode::probe() {
  if (!client_) return false;
  double ms = 0;
  const bool ok = client_->ready(std::max(50.0, opts_.deadline_ms), &ms);
  if (ok) estimator_.add_rtt_sample(ms);
  return ok;
}

EdgeAnswer EdgeNode::infer(const std::map<std::string, Tensor>& feeds) {
  const CutPrediction& best = planner_.plan().best();
  return infer_at(feeds, best.cut, best.transport);
}

EdgeAnswer EdgeNode::infer_at(const std::map<std::string, Tensor>& feeds, size_t cut, Transport t) {
  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  auto since = [&](clock::time_point a) { return std::chrono::duration<double, std::milli>(clock::now() - a).count(); };
  EDGEOPT_CHECK_ARG(cut < planner_.cuts().size(), "cut " + std::to_string(cut) + " out of range");
  ++stats_.requests;
  EdgeAnswer a;
  a.cut = cut;
  a.transport = t;
  const size_t all_edge = graph_.nodes.size();
  const bool want_cloud = cut != all_edge && planner_.cuts()[cut].allowed;
  auto finish = [&](EdgeAnswer& ans) -> EdgeAnswer {
    ans.total_ms = since(t0);
    ans.met_deadline = ans.total_ms <= opts_.deadline_ms;
    if (!ans.met_deadline) ++stats_.deadline_misses;
    (ans.from_cloud ? stats_.cloud_answers : stats_.local_answers)++;
    if (!ans.fallback.empty()) {
      ++stats_.fallbacks;
      ++stats_.fallback_reasons[ans.fallback];
    }
    return ans;
  };
  if (want_cloud && (!client_ || clock::now() < breaker_until_)) {
    a.fallback = client_ ? "circuit_open" : "no_cloud";
    a.outputs = runner(all_edge, Transport::kF32).run(feeds);
    a.local_ms = since(t0);
    return finish(a);
  }
  if (!want_cloud) {
    a.outputs = runner(all_edge, Transport::kF32).run(feeds);
    a.edge_ms = since(t0);
    return finish(a);
  }
  SplitRunner& r = runner(cut, t);
  auto e = r.run_edge(feeds);
  a.edge_ms = since(t0);
  for (const auto& name : r.halves().edge_outputs) a.outputs[name] = e.at(name);
  std::map<std::string, Tensor> wire;
  for (const auto& w : r.halves().wire) wire[w.wire_name] = e.at(w.wire_name);

  const double local_rest_ms = planner_.edge_profile().suffix_ms(cut) * 1.25 + opts_.safety_ms;
  // 5% of the deadline stays unused: socket timeouts and thread wake-ups overshoot by milliseconds
  // on a loaded machine.
  const double budget = 0.95 * opts_.deadline_ms - a.edge_ms - local_rest_ms;
  OipStatus status = OipStatus::kDeadline;
  if (budget > 0) {
    OipResult res = client_->infer(cloud_model_name(opts_.model_prefix, cut, t), wire, r.halves().cloud_outputs, budget);
    a.cloud_call_ms = res.ms;
    a.bytes_sent = res.bytes_sent;
    a.bytes_received = res.bytes_received;
    status = res.status;
    a.error = res.error;
    if (res.ok()) {
      for (auto& [name, tensor] : res.outputs) a.outputs[name] = std::move(tensor);
      a.from_cloud = true;
      breaker_backoff_ms_ = 0;
      const double wire_ms = res.ms - planner_.cloud_profile().suffix_ms(cut) - planner_.cloud_profile().request_ms;
      estimator_.observe_offload(res.bytes_sent + res.bytes_received, wire_ms);
      if (planner_.update(estimator_.estimate())) ++stats_.replans;
      return finish(a);
    }
  }
  // The cloud failed or there is no time for it: finish here, on the very tensors we would have sent.
  a.fallback = budget > 0 ? oip_status_name(status) : "no_time";
  if (budget > 0) {
    breaker_backoff_ms_ = breaker_backoff_ms_ == 0 ? opts_.breaker_ms : std::min(breaker_backoff_ms_ * 2, 8 * opts_.breaker_ms);
    breaker_until_ = clock::now() + std::chrono::microseconds(static_cast<int64_t>(breaker_backoff_ms_ * 1e3));
  }
  const auto tl = clock::now();
  for (auto& [name, tensor] : r.run_cloud(wire)) a.outputs[name] = std::move(tensor);
  a.local_ms = since(tl);
  return finish(a);
}

}  // namespace edgeopt::split

// The edge node of edge-cloud co-inference: runs the edge half of the planned cut, offloads the
// cut tensors to an Open Inference Protocol server, learns bandwidth/RTT from every offload and
// re-plans; when the cloud is down or would miss the deadline it answers alone. No request is lost:
// every infer() returns the model's outputs, from the cloud or computed locally.
//
//   EdgeNode node(g, cuts, edge_profile, cloud_profile, qparams, solver_opts,
//                 {.bandwidth_mbps = 10, .rtt_ms = 20},
//                 {.cloud_url = "http://10.0.0.2:8080", .model_prefix = "vision_cnn", .deadline_ms = 100});
//   EdgeAnswer a = node.infer({{"input", x}});       // a.outputs, a.cut, a.fallback ("" = cloud)
//   node.stats().fallbacks;
//
// Deadline handling: after the edge half ran, the cloud gets the time left minus what finishing
// locally would take (the edge profile of the cloud half, x1.25, plus safety_ms) minus 5% of the
// deadline (timer and scheduling overshoot on a loaded machine), so a failed or
// slow offload still leaves time to compute the rest here (the cloud half itself, on the wire
// tensors: the same numbers the cloud would return). After a failure a circuit breaker sends
// requests straight to the local model for breaker_ms (doubling, at most 8x, while the cloud keeps
// failing), then tries the cloud again.
// Cloud model names: cloud_model_name(prefix, cut, transport) = "<prefix>_cut<k>_<transport>".
// Not thread-safe: one EdgeNode per serving thread.
#pragma once
#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "split/oip_client.h"
#include "split/solver.h"
#include "split/split_export.h"

namespace edgeopt::split {

std::string cloud_model_name(const std::string& prefix, size_t cut, Transport t);

struct EdgeNodeOptions {
  std::string cloud_url;       // "" = no cloud: every request runs locally
  OipClientOptions cloud_client;  // CA for https:// (the cloud's certificate is verified), mTLS, token
  std::string model_prefix = "model";
  double deadline_ms = 1000;   // per request, from infer() entry to the answer
  double safety_ms = 2;        // kept back from the cloud's budget for scheduling noise
  double ewma_alpha = 0.3;
  double replan_threshold = 0.15;
  double breaker_ms = 500;
};

struct EdgeAnswer {
  std::map<std::string, Tensor> outputs;  // every graph output
  size_t cut = 0;
  Transport transport = Transport::kF32;
  bool from_cloud = false;
  std::string fallback;        // "" when the cloud answered or the cut is all-edge; else why local
  std::string error;           // the offload's error message when it failed
  double edge_ms = 0, cloud_call_ms = 0, local_ms = 0, total_ms = 0;
  bool met_deadline = true;
  int64_t bytes_sent = 0, bytes_received = 0;  // the offload's request and response bodies (0: none)
};

struct EdgeNodeStats {
  int64_t requests = 0;
  int64_t cloud_answers = 0;
  int64_t local_answers = 0;     // all-edge plan or fallback
  int64_t fallbacks = 0;         // an offload was planned but the edge answered
  std::map<std::string, int64_t> fallback_reasons;  // oip_status_name / "circuit_open" / "no_time"
  int64_t deadline_misses = 0;
  int64_t replans = 0;
};

class EdgeNode {
 public:
  // g: prepared (cut_analysis.h); cuts: enumerate_cuts(g, ...). Throws InvalidArgument when they do
  // not match, and what OipClient throws for a bad URL.
  EdgeNode(Graph g, std::vector<Cut> cuts, LayerProfile edge, LayerProfile cloud, TransportParams q,
           SolverOptions solver, NetworkEstimate prior, EdgeNodeOptions opts);
  ~EdgeNode();
  // Runs at the planner's current cut. Never throws for cloud failures (they become fallbacks).
  EdgeAnswer infer(const std::map<std::string, Tensor>& feeds);
  // Runs at a given cut and transport (for measuring every cut); still falls back, still learns. A
  // cut privacy forbids, or the all-edge cut, runs the whole model locally (no fallback counted).
  // Throws InvalidArgument for a cut out of range, and what Session::run throws for bad feeds.
  EdgeAnswer infer_at(const std::map<std::string, Tensor>& feeds, size_t cut, Transport t);
  // One GET /v2/health/ready; its time is an RTT sample. False when the cloud is not ready.
  bool probe();

  const Plan& plan() const { return planner_.plan(); }
  NetworkEstimate network() const { return estimator_.estimate(); }
  const EdgeNodeStats& stats() const { return stats_; }
  const std::vector<Cut>& cuts() const { return planner_.cuts(); }

 private:
  SplitRunner& runner(size_t cut, Transport t);
  Graph graph_;
  TransportParams q_;
  EdgeNodeOptions opts_;
  AdaptivePlanner planner_;
  NetworkEstimator estimator_;
  std::unique_ptr<OipClient> client_;
  std::map<std::pair<size_t, Transport>, std::unique_ptr<SplitRunner>> runners_;
  EdgeNodeStats stats_;
  std::chrono::steady_clock::time_point breaker_until_{};
  double breaker_backoff_ms_ = 0;
};

}  // namespace edgeopt::split

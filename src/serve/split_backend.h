// serve::SplitBackend: a served model version that runs through an edge-cloud split (src/split,
// docs/edge-cloud.md): the edge half here, the cut tensors to a cloud Open Inference Protocol
// server, the rest there. One split::EdgeNode per worker thread (EdgeNode is not thread-safe) does
// the offload, the deadline fallback and the circuit breaker, so every request is answered: from
// the cloud, or locally when the cloud is slow or gone.
//
//   SplitSpec s;  s.cloud_url = "http://10.0.0.2:8000";  s.plan_path = "split/plan.json";
//   auto b = std::make_shared<SplitBackend>(graph, s, "vision_cnn", /*workers=*/2);
//   auto outputs = b->infer(/*worker=*/0, {{"input", x}});     // at the active cut
//   b->set_cut(b->all_edge_cut(), split::Transport::kF32, "cloud_unreachable");  // hot swap
//
// The served cut starts as the plan's choice (plan.json from `edgeopt partition`, re-solved from
// its network prior) and moves only through set_cut (the controller's "resplit" action,
// src/control): requests that start after set_cut use the new cut, those in flight finish on theirs.
// propose() re-solves the split from what the node measured: the bandwidth/RTT the EdgeNodes
// learned from real offloads (or from health probes, probe()) and the edge's current speed (the
// median of measured / profiled edge compute over recent answers scales the edge profile, so a
// loaded edge CPU shows). The cloud half's model names are "<prefix>_cut<k>_<wire>" with the plan's
// prefix (`partition --repo` writes them).
// Thread-safety: infer() for distinct workers, and every other member, may be called concurrently.
#pragma once
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "core/graph.h"
#include "split/edge_node.h"
#include "split/partitioner.h"

namespace edgeopt::serve {

struct SplitSpec {
  std::string cloud_url;                 // http[s]://host:port of the server with the cloud halves
  std::string plan_path;                 // plan.json written by `edgeopt partition --out`
  split::OipClientOptions client;        // TLS CA / client certificate / bearer token for the cloud
  double deadline_ms = 1000;             // per request: past it the edge answers alone
  double breaker_ms = 500;               // EdgeNodeOptions::breaker_ms
};

// Parses "MODEL=URL,PLAN" (the `edgeopt serve --split` syntax) into the model name and a spec.
// Throws InvalidArgument naming the text and what is missing.
std::pair<std::string, SplitSpec> parse_split_flag(const std::string& text);

// Cumulative counters (for /metrics).
struct SplitCounters {
  std::map<std::string, int64_t> answers;       // by path: "edge_only", "split", "fallback"
  std::map<std::string, int64_t> fallbacks;     // by reason: unavailable, deadline, http_error, protocol, circuit_open, no_time
  std::map<std::string, int64_t> cloud_errors;  // failed offloads by status: unavailable, deadline, http_error, protocol
  std::map<std::string, int64_t> decisions;     // cut changes (and the initial plan) by reason
  int64_t bytes_sent = 0, bytes_received = 0;   // offload request / response bodies
  int64_t deadline_misses = 0;
  int64_t probes = 0, probe_failures = 0;
};

// The recent answers (a sliding window), what the controller judges the split by.
struct SplitWindow {
  int64_t answers = 0, edge_only = 0, split = 0, fallback = 0, cloud_errors = 0;
  double fallback_fraction = 0;  // fallback / (split + fallback): offloads planned but answered here
  double edge_slowdown = 1;      // median measured / profiled edge compute (1: as profiled or unknown)
  double p50_ms = 0, p99_ms = 0; // end-to-end in the backend (edge + offload or local)
};

struct SplitProposal {
  size_t cut = 0;
  split::Transport transport = split::Transport::kF32;
  double predicted_ms = 0;          // of the proposed cut
  double predicted_current_ms = 0;  // of the cut serving now, same inputs
  double predicted_all_edge_ms = 0;
  split::NetworkEstimate network;
  double edge_slowdown = 1;
  std::string basis;                // what it was solved from, for the log
};

class SplitBackend {
 public:
  // model: the served graph (the plan's node names must match it once prepared, else
  // InvalidArgument: the plan belongs to another model). Throws NotFound / InvalidArgument for a
  // plan that cannot be read or parsed, and what OipClient throws for a bad URL or TLS file.
  SplitBackend(const Graph& model, const SplitSpec& spec, const std::string& model_name, int workers);
  ~SplitBackend();
  SplitBackend(const SplitBackend&) = delete;
  SplitBackend& operator=(const SplitBackend&) = delete;

  // Worker `worker` (< workers) runs one request or batch at the active cut; returns every graph
  // output. Cloud failures become local answers; throws only what the model itself throws.
  std::map<std::string, Tensor> infer(size_t worker, const std::map<std::string, Tensor>& feeds);

  struct Active {
    size_t cut = 0;
    split::Transport transport = split::Transport::kF32;
    std::string after_node;   // the last edge node ("" for all-cloud)
    std::string placement;    // "all_edge" | "split" | "all_cloud"
    std::string reason;       // why this cut: "plan" or the reason given to set_cut
    double since_s = 0;       // steady-clock seconds when it became active
  };
  Active active() const;
  size_t all_edge_cut() const { return partition_.cuts.size() - 1; }
  // Hot swap. Throws InvalidArgument for a cut out of range or one privacy forbids.
  void set_cut(size_t cut, split::Transport t, const std::string& reason);

  // Re-solves from the serving EdgeNodes' network estimate and the window's edge slowdown. With
  // cloud_unreachable, proposes all-edge (the prediction still says what offloading would cost).
  SplitProposal propose(const SplitWindow& w, bool cloud_unreachable) const;
  // One health probe (GET /v2/health/ready) through a dedicated EdgeNode whose estimate learns only
  // from probes (seeded with the plan's prior); false when the cloud is not ready.
  bool probe();
  // Re-solves from the probes' estimate (a cloud that came back: the serving EdgeNodes still hold
  // the estimate from when it was slow or down).
  SplitProposal propose_from_probes(const SplitWindow& w) const;

  SplitWindow window(double seconds) const;
  SplitCounters counters() const;
  split::NetworkEstimate network() const;  // the serving EdgeNodes' latest estimate
  const split::Partition& partition() const { return partition_; }
  const SplitSpec& spec() const { return spec_; }
  const std::string& cloud_model_prefix() const { return options_.model_prefix; }

 private:
  struct Worker {
    std::mutex mu;
    std::unique_ptr<split::EdgeNode> node;
  };
  struct Recent {
    std::chrono::steady_clock::time_point at;
    int path = 0;             // 0 edge_only, 1 split, 2 fallback
    bool cloud_error = false;
    double total_ms = 0;
    double edge_ratio = -1;   // measured / profiled edge compute per row; < 0: not measured
  };
  std::unique_ptr<split::EdgeNode> make_node() const;
  SplitProposal solve(const split::NetworkEstimate& net, const SplitWindow& w, const std::string& basis) const;

  std::string model_name_;
  SplitSpec spec_;
  split::PartitionOptions options_;
  split::Partition partition_;
  std::vector<std::unique_ptr<Worker>> workers_;
  mutable Worker probe_;  // mutable: propose_from_probes() locks it
  mutable std::mutex mu_;  // everything below
  Active active_;
  SplitCounters counters_;
  std::deque<Recent> recent_;
  size_t last_cloud_worker_ = 0;
};

}  // namespace edgeopt::serve

// The whole partition workflow behind `edgeopt partition` and `edgeopt offload`: prepare the graph,
// measure shapes and the edge profile, get the cloud profile (a speed factor or a measurement
// against a live OIP server), calibrate the int8 wire, solve; then plan.json in and out, the
// accuracy of a split on held-out data, and the Triton-layout repository of cloud halves.
//
//   PartitionOptions o;  o.cloud = "speedup:8";  o.network = {.bandwidth_mbps = 10, .rtt_ms = 20};
//   Partition p = partition_model(onnx::load_model("m.onnx"), sample, &calib_x, o);
//   p.plan.best();                                          // the cut to deploy
//   SplitHalves h = p.halves(p.plan.best().cut, p.plan.best().transport);
//   write_plan_json(p, o, "plan.json");
#pragma once
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "split/cut_analysis.h"
#include "split/solver.h"
#include "split/split_export.h"
#include "train/data/dataset.h"

namespace edgeopt::split {

struct PartitionOptions {
  PrivacyRules privacy;
  std::vector<Transport> transports;  // empty = fp32, fp16, and int8 when calibration data is given
  Objective objective = Objective::kLatency;
  EnergyModel energy;
  NetworkEstimate network{.bandwidth_mbps = 10, .rtt_ms = 10};
  // "speedup:X" (the cloud runs every layer X times faster than this host) or an http:// URL of an
  // OIP server that serves the full model as `cloud_model`: the cloud's speed is then measured
  // (median of profile_runs requests minus the RTT of health probes and the transfer time at
  // network.bandwidth_mbps) and applied per layer as a speed factor.
  std::string cloud = "speedup:4";
  double cloud_request_ms = 0;  // with speedup:X, the server's fixed cost per request
  std::string cloud_model;
  std::string model_prefix = "model";  // cloud model names: <prefix>_cut<k>_<transport>
  int profile_runs = 20;
  double min_offload_gain = 0.05;  // SolverOptions::min_offload_gain
  SolverOptions solver() const { return {transports, objective, energy, min_offload_gain}; }
};

struct Partition {
  Graph graph;               // prepared (cut k = nodes [0, k))
  std::vector<Cut> cuts;
  LayerProfile edge, cloud;
  TransportParams wire;      // int8 scales (empty without calibration data)
  Plan plan;
  SplitHalves halves(size_t cut, Transport t) const { return split_model(graph, cuts.at(cut), t, wire); }
};

// sample: one input at batch 1; calib: samples [N, ...] for the int8 wire (null: no int8). Throws
// InvalidArgument for an int8-only transport list without calibration data, a bad cloud spec, and
// Unavailable when the cloud server cannot be measured (naming the URL and model).
Partition partition_model(Graph model, const Tensor& sample, const Tensor* calib, const PartitionOptions& o);

// The cloud's speed measured against a live OIP server serving the full model `model`: the median
// time of `runs` requests minus the RTT of health probes and the transfer at bandwidth_mbps. When
// `tail` (the cloud half of the last cut, whose compute is negligible) is given and served, its
// requests measure the server's per-request overhead (LayerProfile::request_ms) and the full
// model's time minus the tail's is the compute, with only the difference in payload attributed
// to bandwidth. `tail_inputs` are that half's wire tensors.
LayerProfile measure_cloud_profile(const Graph& g, const LayerProfile& edge, const std::string& url,
                                   const std::string& model, const Tensor& sample, double bandwidth_mbps, int runs,
                                   const std::string& tail = "", const std::map<std::string, Tensor>& tail_inputs = {},
                                   const std::vector<std::string>& tail_outputs = {});

// plan.json: everything `edgeopt offload` needs besides the model (node names, privacy, profiles,
// int8 scales, the network prior, every cut's prediction and the chosen one).
nlohmann::json plan_to_json(const Partition& p, const PartitionOptions& o);
// Rebuilds a Partition from the model and its plan.json (the graph is prepared again and must have
// the same node names, else InvalidArgument: the plan belongs to another model). *o gets the
// options stored in the plan.
Partition partition_from_json(Graph model, const Tensor& sample, const nlohmann::json& plan, PartitionOptions* o);

// Accuracy of the split (edge half, wire, cloud half, in-process) against the full model on up to
// max_samples of ds: the task metric of both (accuracy for i64 labels, RMSE otherwise), how often
// they agree (top-1 for classification), and the largest output difference.
struct SplitAccuracy {
  int64_t samples = 0;
  std::string metric;  // "accuracy" or "rmse"
  double full = 0, split = 0;
  double agreement = 0;      // fraction of samples with the same top-1 (classification)
  double max_abs_diff = 0;
};
SplitAccuracy evaluate_split(const Graph& full, const SplitHalves& h, const train::Dataset& ds, int64_t max_samples = 2000);

// Writes every allowed cut's cloud half (for each transport in o, or the plan's pick when
// all_transports is false) and the full model as "<prefix>_full" in Triton's layout,
// dir/<name>/1/model.onnx. Returns the model names written.
std::vector<std::string> write_cloud_repository(const Partition& p, const PartitionOptions& o, const std::string& dir,
                                                bool all_transports);

// Rows [begin, begin + n) of x (a copy).
Tensor slice_rows(const Tensor& x, int64_t begin, int64_t n);

}  // namespace edgeopt::split

#include "serve/split_backend.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <random>

namespace edgeopt::serve {

namespace {

using Clock = std::chrono::steady_clock;

double steady_s() { return std::chrono::duration<double>(Clock::now().time_since_epoch()).count(); }

double median_of(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(q * static_cast<double>(v.size()));
  return v[static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(v.size()))) - 1];
}

// One input at batch 1 of the model's first input, for measuring the cut tensors' shapes (the
// plan carries everything else). Noise: shapes do not depend on values.
Tensor shape_sample(const Graph& g, const std::string& model) {
  EDGEOPT_CHECK_ARG(!g.inputs.empty(), "split model '" + model + "' has no graph input");
  const ValueInfo& in = g.inputs[0];
  std::vector<int64_t> dims = in.shape.dims();
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i == 0 && dims[0] < 0) dims[0] = 1;
    EDGEOPT_CHECK_ARG(dims[i] > 0, "split model '" + model + "': input '" + in.name + "' has shape " + in.shape.str() +
                                       " with a symbolic dim besides the batch; the split needs fixed shapes");
  }
  EDGEOPT_CHECK_ARG(in.dtype == DType::kF32, "split model '" + model + "': input '" + in.name + "' is not f32");
  Tensor t(DType::kF32, Shape(dims));
  std::mt19937_64 r(1);
  std::normal_distribution<float> n(0.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = n(r);
  return t;
}

std::string placement_of(size_t cut, size_t all_edge) {
  return cut == all_edge ? "all_edge" : cut == 0 ? "all_cloud" : "split";
}

}  // namespace

std::pair<std::string, SplitSpec> parse_split_flag(const std::string& text) {
  const size_t eq = text.find('=');
  EDGEOPT_CHECK_ARG(eq != std::string::npos && eq > 0,
                    "--split '" + text + "': expected MODEL=CLOUD_URL,PLAN (e.g. vision_cnn=http://10.0.0.2:8000,split/plan.json)");
  const std::string model = text.substr(0, eq), rest = text.substr(eq + 1);
  const size_t comma = rest.find(',');
  EDGEOPT_CHECK_ARG(comma != std::string::npos && comma > 0 && comma + 1 < rest.size(),
                    "--split '" + text + "': expected MODEL=CLOUD_URL,PLAN (the plan.json `edgeopt partition --out` wrote)");
  SplitSpec s;
  s.cloud_url = rest.substr(0, comma);
  s.plan_path = rest.substr(comma + 1);
  return {model, s};
}

SplitBackend::SplitBackend(const Graph& model, const SplitSpec& spec, const std::string& model_name, int workers)
    : model_name_(model_name), spec_(spec) {
  EDGEOPT_CHECK_ARG(workers >= 1, "split model '" + model_name + "': needs at least one worker");
  EDGEOPT_CHECK_ARG(!spec.cloud_url.empty(), "split model '" + model_name + "': no cloud URL");
  EDGEOPT_CHECK_ARG(spec.deadline_ms > 0, "split model '" + model_name + "': the deadline must be > 0 ms");
  std::ifstream f(spec.plan_path);
  EDGEOPT_CHECK(f.good(), ErrorCode::kNotFound, "split model '" + model_name + "': cannot open plan '" + spec.plan_path + "'");
  const nlohmann::json j = nlohmann::json::parse(f, nullptr, false);
  EDGEOPT_CHECK_ARG(!j.is_discarded(), "split model '" + model_name + "': plan '" + spec.plan_path + "' is not JSON");
  try {
    partition_ = split::partition_from_json(model, shape_sample(model, model_name), j, &options_);
  } catch (const Error& e) {
    throw_error(e.code(), "split model '" + model_name + "', plan '" + spec.plan_path + "': " + e.what());
  }
  for (int i = 0; i < workers; ++i) {
    workers_.push_back(std::make_unique<Worker>());
    workers_.back()->node = make_node();
  }
  probe_.node = make_node();
  const split::CutPrediction& best = partition_.plan.best();
  active_ = {best.cut, best.transport, partition_.cuts[best.cut].after_node, placement_of(best.cut, all_edge_cut()), "plan",
             steady_s()};
  ++counters_.decisions["plan"];
}

SplitBackend::~SplitBackend() = default;

std::unique_ptr<split::EdgeNode> SplitBackend::make_node() const {
  split::EdgeNodeOptions eo;
  eo.cloud_url = spec_.cloud_url;
  eo.cloud_client = spec_.client;
  eo.model_prefix = options_.model_prefix;
  eo.deadline_ms = spec_.deadline_ms;
  eo.breaker_ms = spec_.breaker_ms;
  return std::make_unique<split::EdgeNode>(partition_.graph, partition_.cuts, partition_.edge, partition_.cloud,
                                           partition_.wire, options_.solver(), options_.network, eo);
}

std::map<std::string, Tensor> SplitBackend::infer(size_t worker, const std::map<std::string, Tensor>& feeds) {
  EDGEOPT_CHECK_ARG(worker < workers_.size(), "split backend: worker " + std::to_string(worker) + " out of range");
  Active a;
  {
    std::lock_guard<std::mutex> lock(mu_);
    a = active_;
  }
  split::EdgeAnswer ans;
  {
    Worker& w = *workers_[worker];
    std::lock_guard<std::mutex> lock(w.mu);
    ans = w.node->infer_at(feeds, a.cut, a.transport);
  }
  int64_t rows = 1;
  if (!feeds.empty() && feeds.begin()->second.rank() > 0) rows = std::max<int64_t>(1, feeds.begin()->second.shape()[0]);
  Recent r;
  r.at = Clock::now();
  r.total_ms = ans.total_ms;
  const bool planned_cloud = a.cut != all_edge_cut();
  r.path = ans.from_cloud ? 1 : (planned_cloud && !ans.fallback.empty()) ? 2 : 0;
  r.cloud_error = r.path == 2 && ans.fallback != "circuit_open" && ans.fallback != "no_time" && ans.fallback != "no_cloud";
  // The edge's speed now against its profile, per row: edge-only answers ran the whole model, split
  // ones the prefix. Tiny prefixes are all timer noise.
  const double profiled = r.path == 0 ? partition_.edge.total_ms() : r.path == 1 ? partition_.edge.prefix_ms(a.cut) : 0;
  if (profiled >= 0.02 && ans.edge_ms > 0) r.edge_ratio = ans.edge_ms / static_cast<double>(rows) / profiled;
  std::lock_guard<std::mutex> lock(mu_);
  static const char* kPath[] = {"edge_only", "split", "fallback"};
  ++counters_.answers[kPath[r.path]];
  if (r.path == 2) ++counters_.fallbacks[ans.fallback];
  if (r.cloud_error) ++counters_.cloud_errors[ans.fallback];
  counters_.bytes_sent += ans.bytes_sent;
  counters_.bytes_received += ans.bytes_received;
  counters_.deadline_misses += !ans.met_deadline;
  if (ans.from_cloud) last_cloud_worker_ = worker;
  recent_.push_back(r);
  while (recent_.size() > 4096) recent_.pop_front();
  return std::move(ans.outputs);
}

SplitBackend::Active SplitBackend::active() const {
  std::lock_guard<std::mutex> lock(mu_);
  return active_;
}

void SplitBackend::set_cut(size_t cut, split::Transport t, const std::string& reason) {
  EDGEOPT_CHECK_ARG(cut < partition_.cuts.size(), "split model '" + model_name_ + "': cut " + std::to_string(cut) +
                                                      " out of range 0.." + std::to_string(all_edge_cut()));
  EDGEOPT_CHECK_ARG(partition_.cuts[cut].allowed, "split model '" + model_name_ + "': cut " + std::to_string(cut) +
                                                      " is forbidden: " + partition_.cuts[cut].reason);
  std::lock_guard<std::mutex> lock(mu_);
  active_ = {cut, t, partition_.cuts[cut].after_node, placement_of(cut, all_edge_cut()), reason, steady_s()};
  ++counters_.decisions[reason];
}

SplitWindow SplitBackend::window(double seconds) const {
  const auto since = Clock::now() - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
  SplitWindow w;
  std::vector<double> ratios, ms;
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = recent_.rbegin(); it != recent_.rend() && it->at >= since; ++it) {
    ++w.answers;
    (it->path == 0 ? w.edge_only : it->path == 1 ? w.split : w.fallback)++;
    w.cloud_errors += it->cloud_error;
    ms.push_back(it->total_ms);
    if (it->edge_ratio > 0) ratios.push_back(it->edge_ratio);
  }
  w.fallback_fraction = w.split + w.fallback ? static_cast<double>(w.fallback) / static_cast<double>(w.split + w.fallback) : 0;
  // A few samples say little about the speed of the box; keep the profile then.
  if (ratios.size() >= 5) w.edge_slowdown = median_of(ratios);
  w.p50_ms = quantile(ms, 0.5);
  w.p99_ms = quantile(ms, 0.99);
  return w;
}

SplitCounters SplitBackend::counters() const {
  std::lock_guard<std::mutex> lock(mu_);
  SplitCounters c = counters_;
  return c;
}

split::NetworkEstimate SplitBackend::network() const {
  size_t w = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    w = last_cloud_worker_;
  }
  std::lock_guard<std::mutex> lock(workers_[w]->mu);
  return workers_[w]->node->network();
}

SplitProposal SplitBackend::solve(const split::NetworkEstimate& net, const SplitWindow& w, const std::string& basis) const {
  SplitProposal p;
  // Only a slowdown moves the prediction: the profile is the box's quiet speed (measured with
  // per-node timing on, which itself costs time, so a quiet box measures a little under it). Above
  // 20x is a measurement artefact (a page fault, a first run), not a slower box.
  p.edge_slowdown = std::clamp(w.edge_slowdown, 1.0, 20.0);
  const split::LayerProfile edge =
      p.edge_slowdown == 1 ? partition_.edge : split::scale_profile(partition_.edge, 1.0 / p.edge_slowdown, "edge now");
  const split::Plan plan = split::solve_split(partition_.cuts, edge, partition_.cloud, net, options_.solver());
  p.network = net;
  p.cut = plan.best().cut;
  p.transport = plan.best().transport;
  p.predicted_ms = plan.best().total_ms;
  p.predicted_all_edge_ms = plan.cuts.back().total_ms;
  const Active a = active();
  p.predicted_current_ms = plan.cuts.at(a.cut).total_ms;
  char b[256];
  std::snprintf(b, sizeof b, "%s: %.2f Mbit/s, RTT %.2f ms, edge at %.2fx its profiled time", basis.c_str(),
                net.bandwidth_mbps, net.rtt_ms, p.edge_slowdown);
  p.basis = b;
  return p;
}

SplitProposal SplitBackend::propose(const SplitWindow& w, bool cloud_unreachable) const {
  SplitProposal p = solve(network(), w, "learned from offloads");
  if (cloud_unreachable) {
    p.cut = all_edge_cut();
    p.transport = split::Transport::kF32;
    p.predicted_ms = p.predicted_all_edge_ms;
    p.basis = "all-edge while the cloud is unreachable (offloading as " + p.basis + ")";
  }
  return p;
}

bool SplitBackend::probe() {
  bool ok = false;
  {
    std::lock_guard<std::mutex> lock(probe_.mu);
    ok = probe_.node->probe();
  }
  std::lock_guard<std::mutex> lock(mu_);
  ++counters_.probes;
  counters_.probe_failures += !ok;
  return ok;
}

SplitProposal SplitBackend::propose_from_probes(const SplitWindow& w) const {
  split::NetworkEstimate net;
  {
    std::lock_guard<std::mutex> lock(probe_.mu);
    net = probe_.node->network();
  }
  return solve(net, w, "probed RTT, plan's bandwidth");
}

}  // namespace edgeopt::serve

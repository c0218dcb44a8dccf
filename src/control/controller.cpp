#include "control/controller.h"

#include <algorithm>
#include <cctype>
#include <set>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <cmath>
#include <limits>
#include <optional>

#include "core/error.h"
#include "onnx/export.h"
#include "onnx/import.h"
#include "quantize/ptq.h"
#include "runtime/session.h"
#include "serve/monitor_json.h"
#include "train/loop/trainer.h"

namespace edgeopt::control {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

double steady_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// FNV-1a of the request id: a stable holdout membership (the same sample is held out in every
// job, so no candidate is ever trained on a sample another one was validated on).
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ULL;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ULL;
  }
  return h;
}

bool is_int8(const Graph& g) {
  for (const auto& n : g.nodes)
    if (n.op_type == "QuantizeLinear" || n.op_type == "QLinearConv" || n.op_type == "QLinearMatMul") return true;
  return false;
}

double accuracy_on(const Graph& g, const train::Dataset& ds) {
  const Tensor out = train::predict(g, ds, 256);
  const int64_t n = ds.size();
  const int64_t k = out.numel() / std::max<int64_t>(1, n);
  const float* p = out.data<float>();
  int64_t correct = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t pred = std::max_element(p + i * k, p + (i + 1) * k) - (p + i * k);
    correct += pred == ds.y.data<int64_t>()[i];
  }
  return n ? static_cast<double>(correct) / static_cast<double>(n) : 0;
}

// Per-channel location and scale of inputs x: images [N, C, ...]: the mean over all pixels of a
// channel and the mean over samples of the per-sample standard deviation (both move exactly with
// an affine brightness/contrast change x' = a x + b); vectors [N, F]: each feature's mean and
// standard deviation over the samples.
struct InputStats {
  std::vector<double> mean, scale;
};

InputStats input_stats(const Tensor& x) {
  InputStats st;
  const auto& sh = x.shape().dims();
  const int64_t n = sh.at(0), c = sh.size() >= 2 ? sh[1] : 1;
  const int64_t per = n > 0 && c > 0 ? x.numel() / (n * c) : 0;
  const float* p = x.data<float>();
  st.mean.assign(static_cast<size_t>(c), 0);
  st.scale.assign(static_cast<size_t>(c), 0);
  for (int64_t ch = 0; ch < c; ++ch) {
    double sum = 0, sum2 = 0, sample_sd = 0;
    for (int64_t i = 0; i < n; ++i) {
      const float* q = p + (i * c + ch) * per;
      double s1 = 0, s2 = 0;
      for (int64_t j = 0; j < per; ++j) s1 += q[j], s2 += static_cast<double>(q[j]) * q[j];
      sum += s1, sum2 += s2;
      if (per > 1) sample_sd += std::sqrt(std::max(0.0, s2 / per - (s1 / per) * (s1 / per)));
    }
    const double cnt = static_cast<double>(n * per);
    st.mean[static_cast<size_t>(ch)] = sum / cnt;
    st.scale[static_cast<size_t>(ch)] =
        per > 1 ? sample_sd / static_cast<double>(n) : std::sqrt(std::max(0.0, sum2 / cnt - (sum / cnt) * (sum / cnt)));
  }
  return st;
}

// The model with x -> a x + b per channel in front of it, (a, b) mapping `now`'s statistics onto
// `ref`'s: an affine input shift (lighting, gain, sensor offset) is undone before the first layer,
// so the unchanged weights see inputs like the ones they were trained on. Empty when the input is
// not float or a channel is constant now.
std::optional<Graph> renormalize_input(const Graph& base, const InputStats& ref, const InputStats& now, json* fitted) {
  if (base.inputs.empty() || base.inputs[0].dtype != DType::kF32 || ref.mean.size() != now.mean.size()) return std::nullopt;
  const size_t c = ref.mean.size();
  std::vector<float> a(c), b(c);
  for (size_t i = 0; i < c; ++i) {
    if (now.scale[i] < 1e-6 || ref.scale[i] < 1e-6) return std::nullopt;
    // Clamped: a tenfold change of contrast is no longer a lighting shift worth undoing this way.
    const double ai = std::clamp(ref.scale[i] / now.scale[i], 0.1, 10.0);
    a[i] = static_cast<float>(ai);
    b[i] = static_cast<float>(ref.mean[i] - ai * now.mean[i]);
  }
  (*fitted)["scale"] = a;
  (*fitted)["shift"] = b;
  Graph g = base;
  const std::string x = g.inputs[0].name;
  const std::string mid = g.unique_name("renorm_scaled"), out = g.unique_name("renorm_input");
  for (auto& n : g.nodes)
    for (auto& in : n.inputs)
      if (in == x) in = out;
  for (auto& o : g.outputs)
    if (o.name == x) return std::nullopt;
  const size_t rank = std::max<size_t>(2, g.inputs[0].shape.dims().size());
  std::vector<int64_t> cs(rank, 1);
  cs[1] = static_cast<int64_t>(c);
  const std::string an = g.unique_name("renorm_a");
  g.initializers[an] = Tensor::from_vector<float>(Shape(cs), a);
  const std::string bn = g.unique_name("renorm_b");
  g.initializers[bn] = Tensor::from_vector<float>(Shape(cs), b);
  Node mul, add;
  mul.name = g.unique_name("renorm_mul"), mul.op_type = "Mul", mul.inputs = {x, an}, mul.outputs = {mid};
  add.name = g.unique_name("renorm_add"), add.op_type = "Add", add.inputs = {mid, bn}, add.outputs = {out};
  g.nodes.insert(g.nodes.begin(), {mul, add});
  return g;
}

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

Controller::Controller(serve::Server& server, Policy policy, std::function<void(const std::string&)> log)
    : server_(server), policy_(std::move(policy)), log_fn_(std::move(log)) {
  serve::Server::MonitorExtension ext;
  ext.metrics = [this] { return metrics_text(); };
  ext.status = [this] { return status().dump(); };
  server_.set_monitor_extension(std::move(ext));
}

Controller::~Controller() {
  stop();
  // The server may outlive us: it must not call into a destroyed controller.
  server_.set_monitor_extension({});
}

double Controller::now_s() const {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

void Controller::start() {
  auto mv = server_.repository().get(policy_.model, "");  // throws kNotFound naming the model
  if (mv->config().version_policy.kind != serve::VersionPolicy::Kind::kAll)
    throw_error(ErrorCode::kFailedPrecondition,
                "controller: model '" + policy_.model + "' must keep every version loaded to switch between them: put "
                "'version_policy: { all {} }' in " + server_.repository().dir() + "/" + policy_.model + "/config.pbtxt");
  {
    std::lock_guard<std::mutex> lock(tick_mu_);
    refresh_variants();
    // Benchmark every variant now, while the node is quiet: the ratios steer latency decisions later.
    std::lock_guard<std::mutex> l(mu_);
    for (auto& [v, var] : variants_) bench(var);
  }
  record({now_s(), "start", 0, mv->version(), "ok", "policy " + policy_.origin, {}});
  thread_ = std::thread([this] { loop(); });
}

void Controller::stop() {
  if (stopping_.exchange(true)) return;
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
  if (job_.joinable()) job_.join();
}

void Controller::loop() {
  std::unique_lock<std::mutex> lock(cv_mu_);
  const auto period = std::chrono::duration<double>(policy_.tick_s);
  while (!cv_.wait_for(lock, period, [this] { return stopping_.load(); })) {
    lock.unlock();
    try {
      tick();
    } catch (const std::exception& e) {
      record({now_s(), "error", 0, 0, "failed", std::string("tick: ") + e.what(), {}});
    }
    lock.lock();
  }
}

bool Controller::wait_idle(double timeout_s) {
  const double until = steady_s() + timeout_s;
  while (busy_ && steady_s() < until) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return !busy_;
}

void Controller::set_p99_budget_ms(double budget) {
  std::lock_guard<std::mutex> lock(mu_);
  policy_.p99_budget_ms = budget;
}

void Controller::refresh_variants() {
  const auto versions = server_.repository().versions(policy_.model);
  std::lock_guard<std::mutex> lock(mu_);
  for (auto it = variants_.begin(); it != variants_.end();)
    it = std::find(versions.begin(), versions.end(), it->first) == versions.end() ? variants_.erase(it) : std::next(it);
  for (int64_t v : versions) {
    if (variants_.count(v)) continue;
    auto mv = server_.repository().get(policy_.model, std::to_string(v));
    Variant var;
    var.version = v;
    var.file = (fs::path(server_.repository().dir()) / policy_.model / std::to_string(v) / mv->config().default_model_filename).string();
    var.precision = is_int8(onnx::load_model(var.file)) ? "int8" : "fp32";
    var.name = "v" + std::to_string(v) + " " + var.precision;
    variants_[v] = var;
  }
}

Controller::Variant& Controller::variant(int64_t version) {
  auto it = variants_.find(version);
  if (it == variants_.end())
    throw_error(ErrorCode::kNotFound, "controller: model '" + policy_.model + "' has no loaded version " + std::to_string(version));
  return it->second;
}

double Controller::bench(Variant& v) {
  if (v.bench_ms > 0) return v.bench_ms;
  v.bench_ms = bench_now(v);
  return v.bench_ms;
}

double Controller::bench_now(const Variant& v) {
  Graph g = onnx::load_model(v.file);
  Tensor x = server_.feedback().recent_inputs(policy_.model, 1);
  if (!x.defined()) {
    std::vector<int64_t> dims;
    for (int64_t d : g.inputs.at(0).shape.dims()) dims.push_back(d > 0 ? d : 1);
    x = Tensor(DType::kF32, Shape(dims));
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = 0.f;
  }
  runtime::Session s(g);
  std::map<std::string, Tensor> feeds = {{g.inputs.at(0).name, x}};
  for (int i = 0; i < 3; ++i) s.run(feeds);
  std::vector<double> ms;
  for (int i = 0; i < 21; ++i) {
    const double t0 = steady_s();
    s.run(feeds);
    ms.push_back(1e3 * (steady_s() - t0));
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::optional<double> Controller::holdout_accuracy(int64_t version) {
  std::string file;
  {
    std::lock_guard<std::mutex> lock(mu_);
    file = variant(version).file;
  }
  monitor::LabelledSamples s = server_.feedback().labelled(policy_.model, policy_.max_samples);
  if (s.size() == 0 || s.y.dtype() != DType::kI64) return std::nullopt;
  std::vector<int64_t> idx;
  for (int64_t i = 0; i < s.size(); ++i)
    if (static_cast<double>(fnv1a(s.ids[static_cast<size_t>(i)]) % 1000) < 1000 * policy_.holdout_fraction) idx.push_back(i);
  if (idx.size() < 20) return std::nullopt;
  train::Dataset all{s.x, s.y, {}, {}};
  return accuracy_on(onnx::load_model(file), all.subset(idx));
}

void Controller::record(LogEntry e) {
  json j = {{"time_s", e.time_s}, {"model", policy_.model}, {"action", e.action}, {"from", e.from}, {"to", e.to},
            {"result", e.result}, {"reason", e.reason}};
  if (!e.details.is_null()) j["details"] = e.details;
  {
    std::lock_guard<std::mutex> lock(mu_);
    log_.push_back(e);
    while (log_.size() > 500) log_.pop_front();
    ++counts_[{e.action, e.result}];
  }
  if (!policy_.log_path.empty()) {
    std::ofstream f(policy_.log_path, std::ios::app);
    f << j.dump() << "\n";
  }
  if (log_fn_) log_fn_("controller: " + j.dump());
}

void Controller::switch_to(int64_t to, const std::string& action, const std::string& reason, json details) {
  const int64_t from = server_.repository().serving(policy_.model);
  server_.repository().set_serving(policy_.model, to);
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_action_s_ = steady_s();
    latency_breach_ = energy_breach_ = accuracy_breach_ = 0;
    restore_clear_since_ = -1;
  }
  record({now_s(), action, from, to, "deployed", reason, std::move(details)});
}

void Controller::check_watch(double now) {
  std::optional<Watch> w;
  {
    std::lock_guard<std::mutex> lock(mu_);
    w = watch_;
  }
  if (!w) return;
  const int64_t serving = server_.repository().serving(policy_.model);
  if (serving != w->to) {  // another action replaced it
    std::lock_guard<std::mutex> lock(mu_);
    watch_.reset();
    return;
  }
  if (w->kind == "accuracy") {
    auto r = server_.feedback().rolling(policy_.model, w->to);
    if (!r || r->n < policy_.rollback_min_labels) return;
    json d = {{"rolling_accuracy", r->accuracy}, {"baseline", w->baseline}, {"labels", r->n}};
    if (r->accuracy < w->baseline - policy_.rollback_margin) {
      switch_to(w->from, "rollback", "rolling accuracy " + fmt("%.4f", r->accuracy) + " fell below the previous version's " +
                                         fmt("%.4f", w->baseline) + " - margin", d);
    } else {
      record({now_s(), "verify", w->from, w->to, "kept", "rolling accuracy " + fmt("%.4f", r->accuracy) + " after " +
                                                             std::to_string(r->n) + " labels (baseline " + fmt("%.4f", w->baseline) + ")", d});
    }
  } else if (w->kind == "energy") {
    if (now - w->since_s < 2 * policy_.latency_window_s) return;
    auto mv = server_.repository().get(policy_.model, std::to_string(w->to));
    if (mv->stats().rows < policy_.latency_min_samples) return;
    const auto e = server_.energy_per_inference(*mv);
    json d = {{"energy_mj", 1e3 * e.joules}, {"baseline_mj", w->baseline}, {"energy_source", e.source}};
    if (1e3 * e.joules >= w->baseline) {
      switch_to(w->from, "rollback", "energy " + fmt("%.4f", 1e3 * e.joules) + " mJ/inference is not below the " +
                                         fmt("%.4f", w->baseline) + " mJ that prompted the change", d);
      std::lock_guard<std::mutex> lock(mu_);
      if (latency_origin_ == w->from) latency_origin_ = 0;
    } else {
      record({now_s(), "verify", w->from, w->to, "kept",
              "energy " + fmt("%.4f", 1e3 * e.joules) + " mJ/inference (baseline " + fmt("%.4f", w->baseline) + " mJ)", d});
    }
  } else {
    if (now - w->since_s < 2 * policy_.latency_window_s) return;
    auto mv = server_.repository().get(policy_.model, std::to_string(w->to));
    std::vector<double> lat = mv->recent_latencies(policy_.latency_window_s);
    if (lat.size() < policy_.latency_min_samples) return;
    const double p99 = 1e3 * serve::percentile(lat, 99);
    json d = {{"p99_ms", p99}, {"baseline_ms", w->baseline}};
    if (p99 > w->baseline) {
      switch_to(w->from, "rollback", "p99 " + fmt("%.2f", p99) + " ms is worse than the " + fmt("%.2f", w->baseline) +
                                         " ms that prompted the change", d);
      std::lock_guard<std::mutex> lock(mu_);
      if (latency_origin_ == w->from) latency_origin_ = 0;
    } else {
      record({now_s(), "verify", w->from, w->to, "kept", "p99 " + fmt("%.2f", p99) + " ms (baseline " + fmt("%.2f", w->baseline) + " ms)", d});
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  watch_.reset();
}

void Controller::tick() {
  std::lock_guard<std::mutex> tick_lock(tick_mu_);
  if (stopping_) return;
  refresh_variants();
  const double now = steady_s();
  const int64_t serving = server_.repository().serving(policy_.model);
  auto mv = server_.repository().get(policy_.model, "");
  std::vector<double> lat = mv->recent_latencies(policy_.latency_window_s);
  std::optional<double> p99;
  if (lat.size() >= policy_.latency_min_samples) p99 = 1e3 * serve::percentile(lat, 99);
  auto roll = server_.feedback().rolling(policy_.model, serving);
  auto drift = mv->drift_status();
  auto energy = server_.energy_per_inference(*mv);
  double budget = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    budget = policy_.p99_budget_ms;
    last_p99_ms_ = p99.value_or(0);
    last_accuracy_ = roll && roll->task == "classification" ? roll->accuracy : -1;
    last_energy_mj_ = energy.known ? 1e3 * energy.joules : 0;
    last_drift_alarm_ = drift && drift->alarm;
  }
  check_watch(now);
  if (busy_) return;
  if (mv->split() && policy_.allow_resplit) {
    check_split_watch(*mv, now);
    if (split_tick(*mv, now, p99, budget)) return;
  }
  std::unique_lock<std::mutex> lock(mu_);
  const bool cooling = now - last_action_s_ < policy_.cooldown_s;
  const bool lat_breach = budget > 0 && p99 && *p99 > budget;
  const bool en_breach = policy_.energy_budget_mj > 0 && energy.known && 1e3 * energy.joules > policy_.energy_budget_mj;
  latency_breach_ = lat_breach ? latency_breach_ + 1 : 0;
  energy_breach_ = en_breach ? energy_breach_ + 1 : 0;
  auto wait = [&](const std::string& why) {  // at most one "waiting" line per 30 s
    const bool owned = lock.owns_lock();
    if (!owned) lock.lock();
    if (now - last_wait_log_s_ < 30) {
      if (!owned) lock.unlock();
      return;
    }
    last_wait_log_s_ = now;
    lock.unlock();
    record({now_s(), "wait", serving, 0, "waiting", why, {}});
    if (owned) lock.lock();
  };

  // Latency / energy over budget: a faster (cheaper) variant.
  if (policy_.allow_switch && !cooling && (latency_breach_ >= policy_.breach_ticks || energy_breach_ >= policy_.breach_ticks)) {
    const std::string why = latency_breach_ >= policy_.breach_ticks
                                ? "p99 " + fmt("%.2f", *p99) + " ms > budget " + fmt("%.2f", budget) + " ms for " +
                                      std::to_string(latency_breach_) + " ticks"
                                : "energy " + fmt("%.3f", 1e3 * energy.joules) + " mJ/inference > budget " +
                                      fmt("%.3f", policy_.energy_budget_mj) + " mJ";
    const double cur_ms = bench(variant(serving));
    std::vector<Variant*> faster;
    for (auto& [v, var] : variants_)
      if (v != serving && bench(var) < 0.9 * cur_ms) faster.push_back(&var);
    std::sort(faster.begin(), faster.end(), [](const Variant* a, const Variant* b) { return a->bench_ms < b->bench_ms; });
    json rejected = json::array();
    for (Variant* cand : faster) {
      const int64_t cv = cand->version;
      const double cand_ms = cand->bench_ms;
      lock.unlock();
      const auto acc = holdout_accuracy(cv);
      lock.lock();
      if (policy_.accuracy_floor > 0 && acc && *acc < policy_.accuracy_floor) {
        rejected.push_back({{"version", cv}, {"holdout_accuracy", *acc}});
        continue;
      }
      json d = {{"bench_ms_from", cur_ms}, {"bench_ms_to", cand_ms}, {"p99_ms", p99.value_or(0)},
                {"holdout_accuracy", acc ? json(*acc) : json(nullptr)}, {"rejected", rejected}};
      const int64_t origin = latency_origin_ ? latency_origin_ : serving;
      const bool for_latency = latency_breach_ >= policy_.breach_ticks;
      const double baseline = for_latency ? *p99 : 1e3 * energy.joules;
      lock.unlock();
      switch_to(cv, "switch", why + "; to a variant " + fmt("%.1fx", cur_ms / cand_ms) + " faster in the benchmark", d);
      lock.lock();
      latency_origin_ = origin;
      watch_ = Watch{for_latency ? "latency" : "energy", serving, cv, baseline, now};
      return;
    }
    wait(why + "; no faster variant passes validation");
  }

  // Back to the variant left for latency once the breach has cleared for restore_after_s.
  if (latency_origin_ && latency_origin_ != serving && variants_.count(latency_origin_) && !cooling && budget > 0 && p99 &&
      !en_breach) {
    // Both variants benchmarked again now, on this machine as loaded as it is now: the serving p99
    // minus the current variant's compute plus the origin's compute predicts the origin's p99.
    // (A CPU hog inflates the fresh benchmarks, so no restore happens while it runs.)
    Variant& cur_v = variant(serving);
    Variant& org_v = variant(latency_origin_);
    const double cur_now = bench_now(cur_v), org_now = bench_now(org_v);
    const double predicted = *p99 - cur_now + org_now;
    if (predicted < policy_.restore_fraction * budget) {
      if (restore_clear_since_ < 0) restore_clear_since_ = now;
      if (now - restore_clear_since_ >= policy_.restore_after_s) {
        const int64_t origin = latency_origin_;
        json d = {{"p99_ms", *p99}, {"predicted_p99_ms", predicted}, {"bench_ms_now_from", cur_now}, {"bench_ms_now_to", org_now}};
        lock.unlock();
        switch_to(origin, "restore", "predicted p99 of v" + std::to_string(origin) + " " + fmt("%.2f", predicted) + " ms < " +
                                         fmt("%.2f", policy_.restore_fraction * budget) + " ms for " +
                                         fmt("%.0f", policy_.restore_after_s) + " s",
                  d);
        lock.lock();
        latency_origin_ = 0;
        watch_ = Watch{"latency", serving, origin, budget, now};
        return;
      }
    } else {
      restore_clear_since_ = -1;
    }
  } else if (!latency_origin_ || latency_origin_ == serving) {
    restore_clear_since_ = -1;
  }

  // Accuracy below the floor, or drift: re-optimize on recent data in the background.
  const bool acc_breach = policy_.accuracy_floor > 0 && roll && roll->task == "classification" && roll->n >= policy_.min_labels &&
                          roll->accuracy < policy_.accuracy_floor;
  const bool drift_breach = policy_.drift_psi_threshold > 0 && drift && drift->alarm && drift->max_psi >= policy_.drift_psi_threshold;
  accuracy_breach_ = acc_breach || drift_breach ? accuracy_breach_ + 1 : 0;
  if (accuracy_breach_ == 1) breach_labelled_mark_ = server_.feedback().labelled_total(policy_.model);
  if (accuracy_breach_ >= policy_.breach_ticks && !cooling && (policy_.allow_recalibrate || policy_.allow_finetune)) {
    const std::string why = acc_breach ? "rolling accuracy " + fmt("%.4f", roll->accuracy) + " < floor " +
                                             fmt("%.4f", policy_.accuracy_floor) + " over " + std::to_string(roll->n) + " labels"
                                       : "drift alarm: " + drift->reason;
    const uint64_t mark = breach_labelled_mark_;
    lock.unlock();
    size_t have = static_cast<size_t>(server_.feedback().labelled(policy_.model, policy_.max_samples).size());
    if (policy_.since_breach)
      have = std::min<size_t>(have, static_cast<size_t>(server_.feedback().labelled_total(policy_.model) - mark));
    if (have < policy_.min_samples) {
      wait(why + "; " + std::to_string(have) + " labelled samples" + (policy_.since_breach ? " since the breach began" : " kept") +
           ", need " + std::to_string(policy_.min_samples));
      return;
    }
    lock.lock();
    busy_ = true;
    last_action_s_ = now;
    accuracy_breach_ = 0;
    const double baseline = roll ? roll->accuracy : 0;
    lock.unlock();
    if (job_.joinable()) job_.join();
    job_ = std::thread([this, why, serving, baseline, have, mark] { reoptimize(why, serving, baseline, have, mark); });
  }
}

void Controller::wait_log(int64_t serving, double now, const std::string& why) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (now - last_wait_log_s_ < 30) return;  // at most one "waiting" line per 30 s
    last_wait_log_s_ = now;
  }
  record({now_s(), "wait", serving, 0, "waiting", why, {}});
}

namespace {
json proposal_json(const serve::SplitProposal& p) {
  return {{"cut", p.cut}, {"transport", split::transport_name(p.transport)}, {"predicted_ms", p.predicted_ms},
          {"predicted_current_ms", p.predicted_current_ms}, {"predicted_all_edge_ms", p.predicted_all_edge_ms},
          {"bandwidth_mbps", p.network.bandwidth_mbps}, {"rtt_ms", p.network.rtt_ms}, {"edge_slowdown", p.edge_slowdown},
          {"basis", p.basis}};
}
json window_json(const serve::SplitWindow& w) {
  return {{"answers", w.answers}, {"split", w.split}, {"edge_only", w.edge_only}, {"fallback", w.fallback},
          {"cloud_errors", w.cloud_errors}, {"fallback_fraction", w.fallback_fraction}};
}
}  // namespace

bool Controller::split_tick(serve::ModelVersion& mv, double now, std::optional<double> p99, double budget) {
  serve::SplitBackend& sb = *mv.split();
  const serve::SplitWindow w = sb.window(policy_.latency_window_s);
  const auto act = sb.active();
  const size_t all_edge = sb.all_edge_cut();
  const bool offloading = act.cut != all_edge;
  const bool unreachable = offloading && w.split + w.fallback > 0 && w.fallback_fraction >= policy_.split_fallback_fraction;
  const bool lat_breach = budget > 0 && p99 && *p99 > budget;
  bool cooling = false;
  int breach = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    split_breach_ = unreachable || lat_breach ? split_breach_ + 1 : 0;
    breach = split_breach_;
    cooling = now - last_action_s_ < policy_.cooldown_s;
  }
  const int64_t version = mv.version();
  auto go = [&](const serve::SplitProposal& p, const std::string& code, const std::string& why, double baseline, json d) {
    sb.set_cut(p.cut, p.transport, code);
    d["proposal"] = proposal_json(p);
    d["window"] = window_json(w);
    d["version"] = version;
    char pred[160];
    std::snprintf(pred, sizeof pred, "; cut %zu predicted %.2f ms vs %.2f ms for cut %zu (all-edge %.2f ms)", p.cut,
                  p.predicted_ms, p.predicted_current_ms, act.cut, p.predicted_all_edge_ms);
    record({now_s(), "resplit", static_cast<int64_t>(act.cut), static_cast<int64_t>(p.cut), "deployed",
            why + "; re-plan: " + p.basis + pred, d});
    std::lock_guard<std::mutex> lock(mu_);
    last_action_s_ = steady_s();
    split_breach_ = latency_breach_ = 0;
    split_restore_since_ = -1;
    if (code == "cloud_recovered" || (!offloading && p.cut != all_edge)) {
      split_origin_ = -1;  // offloading again: nothing left to restore
    } else if (split_origin_ < 0 && offloading) {
      split_origin_ = static_cast<int64_t>(act.cut);
    }
    split_watch_ = SplitWatch{code, act.cut, p.cut, baseline, steady_s()};
  };

  if (breach >= policy_.breach_ticks && !cooling) {
    const std::string code = unreachable ? "cloud_unreachable" : "latency";
    const std::string why =
        unreachable ? "cloud unreachable: " + std::to_string(w.fallback) + " of " + std::to_string(w.split + w.fallback) +
                          " offloads in the last " + fmt("%.0f", policy_.latency_window_s) + " s answered locally (" +
                          std::to_string(w.cloud_errors) + " cloud errors) for " + std::to_string(breach) + " ticks"
                    : "p99 " + fmt("%.2f", *p99) + " ms > budget " + fmt("%.2f", budget) + " ms for " +
                          std::to_string(breach) + " ticks";
    const serve::SplitProposal p = sb.propose(w, unreachable);
    // Off an unreachable cloud, the learned estimate predates the failure: offload again only to a
    // cloud that answers a probe now (else the move would only fall back).
    if (p.cut != all_edge && act.reason == "cloud_unreachable" && !sb.probe()) {
      wait_log(version, now, why + "; the re-solved split would offload (cut " + std::to_string(p.cut) +
                                 ") but the cloud does not answer probes");
      return false;
    }
    if (p.cut != act.cut) {
      go(p, code, why, p99.value_or(w.p99_ms), json::object());
      return true;
    }
    wait_log(version, now, why + "; the re-solved split keeps cut " + std::to_string(act.cut) + " (" + p.basis + ")");
    return false;
  }

  // Back to offloading once the cloud answers probes and the solver prefers it again.
  int64_t origin = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    origin = split_origin_;
  }
  // Not blocked by a latency breach: off the cloud, the breach may be the slow edge's own (all-edge
  // on a loaded board), which going back to a healthy cloud is what fixes.
  if (origin < 0 || static_cast<size_t>(origin) == act.cut || unreachable) {
    std::lock_guard<std::mutex> lock(mu_);
    split_restore_since_ = -1;
    return false;
  }
  if (!sb.probe()) {
    std::lock_guard<std::mutex> lock(mu_);
    split_restore_since_ = -1;
    return false;
  }
  const serve::SplitProposal p = sb.propose_from_probes(w);
  double since = -1;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (p.cut == all_edge || p.cut == act.cut) {
      split_restore_since_ = -1;
      return false;
    }
    if (split_restore_since_ < 0) split_restore_since_ = now;
    since = split_restore_since_;
  }
  if (now - since < policy_.split_restore_after_s || cooling) return false;
  go(p, "cloud_recovered",
     "cloud healthy again: probes answered and the solver preferred offloading for " + fmt("%.0f", now - since) + " s",
     p99.value_or(w.p99_ms), {{"left_cut", origin}});
  return true;
}

void Controller::check_split_watch(serve::ModelVersion& mv, double now) {
  std::optional<SplitWatch> sw;
  {
    std::lock_guard<std::mutex> lock(mu_);
    sw = split_watch_;
  }
  if (!sw) return;
  serve::SplitBackend& sb = *mv.split();
  if (sb.active().cut != sw->to) {  // another action moved it
    std::lock_guard<std::mutex> lock(mu_);
    split_watch_.reset();
    return;
  }
  if (now - sw->since_s < 2 * policy_.latency_window_s) return;
  std::vector<double> lat = mv.recent_latencies(policy_.latency_window_s);
  if (lat.size() < policy_.latency_min_samples) return;
  const double p99 = 1e3 * serve::percentile(lat, 99);
  const serve::SplitWindow w = sb.window(policy_.latency_window_s);
  double budget = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    budget = policy_.p99_budget_ms;
  }
  const bool falling_back = w.split + w.fallback > 0 && w.fallback_fraction >= policy_.split_fallback_fraction;
  // A latency re-plan must beat the p99 that prompted it; a move away from an unreachable cloud or
  // back to a recovered one must stop the fallbacks and not leave the node over its budget worse off
  // than before.
  std::string bad;
  if (falling_back) bad = fmt("%.0f%%", 100 * w.fallback_fraction) + " of the offloads still answered locally";
  else if (sw->reason == "latency" && p99 > sw->baseline_p99_ms)
    bad = "p99 " + fmt("%.2f", p99) + " ms is worse than the " + fmt("%.2f", sw->baseline_p99_ms) + " ms that prompted the re-plan";
  else if (sw->reason != "latency" && budget > 0 && p99 > budget && p99 > sw->baseline_p99_ms)
    bad = "p99 " + fmt("%.2f", p99) + " ms is over the " + fmt("%.2f", budget) + " ms budget and worse than the " +
          fmt("%.2f", sw->baseline_p99_ms) + " ms before";
  json d = {{"p99_ms", p99}, {"baseline_ms", sw->baseline_p99_ms}, {"window", window_json(w)}, {"reason", sw->reason}};
  if (!bad.empty()) {
    sb.set_cut(sw->from, sb.partition().plan.cuts.at(sw->from).transport, "rollback");
    record({now_s(), "rollback", static_cast<int64_t>(sw->to), static_cast<int64_t>(sw->from), "deployed",
            "split cut " + std::to_string(sw->to) + ": " + bad + "; back to cut " + std::to_string(sw->from), d});
    std::lock_guard<std::mutex> lock(mu_);
    last_action_s_ = steady_s();
    if (sw->reason == "cloud_recovered") split_origin_ = static_cast<int64_t>(sw->to);  // try again later
    else if (static_cast<int64_t>(sw->from) == split_origin_) split_origin_ = -1;
  } else {
    record({now_s(), "verify", static_cast<int64_t>(sw->from), static_cast<int64_t>(sw->to), "kept",
            "split cut " + std::to_string(sw->to) + ": p99 " + fmt("%.2f", p99) + " ms (before " + fmt("%.2f", sw->baseline_p99_ms) +
                " ms), " + std::to_string(w.fallback) + " fallbacks in the window",
            d});
  }
  std::lock_guard<std::mutex> lock(mu_);
  split_watch_.reset();
}

int64_t Controller::float_base() {
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t serving = server_.repository().serving(policy_.model);
  if (variants_.count(serving) && variants_[serving].precision == "fp32") return serving;
  int64_t best = 0;
  for (const auto& [v, var] : variants_)
    if (var.precision == "fp32") best = v;
  if (!best) throw_error(ErrorCode::kFailedPrecondition, "controller: model '" + policy_.model + "' has no fp32 version to re-optimize from");
  return best;
}

int64_t Controller::deploy(const Graph& g, const std::string& tag, const std::string& precision) {
  const fs::path dir = fs::path(server_.repository().dir()) / policy_.model;
  int64_t next = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (!n.empty() && std::all_of(n.begin(), n.end(), ::isdigit) && n.size() < 12) next = std::max<int64_t>(next, std::stoll(n));
  }
  ++next;
  auto mv = server_.repository().get(policy_.model, "");
  // Pin what serves now: the new, higher version must not take over by being the highest when the
  // poll loads it, only through switch_to (logged, watched).
  server_.repository().set_serving(policy_.model, mv->version());
  // Written beside the version folders under a name the repository ignores, then renamed in, so a
  // poll never sees half a model.
  const fs::path tmp = dir / (".controller-tmp-" + std::to_string(next));
  fs::remove_all(tmp);
  fs::create_directories(tmp);
  onnx::save_model(g, (tmp / mv->config().default_model_filename).string());
  fs::rename(tmp, dir / std::to_string(next));
  server_.repository().poll();
  const auto versions = server_.repository().versions(policy_.model);
  if (std::find(versions.begin(), versions.end(), next) == versions.end())
    throw_error(ErrorCode::kInternal, "controller: the new version " + std::to_string(next) + " of '" + policy_.model + "' did not load");
  refresh_variants();
  std::lock_guard<std::mutex> lock(mu_);
  variants_[next].name = "v" + std::to_string(next) + " " + precision + " (" + tag + ")";
  bench(variants_[next]);
  return next;
}

void Controller::reoptimize(std::string reason, int64_t from, double baseline, size_t samples, uint64_t mark) {
  const double t0 = steady_s();
  try {
    monitor::LabelledSamples s = server_.feedback().labelled(policy_.model, samples);
    if (s.y.dtype() != DType::kI64) throw_error(ErrorCode::kUnimplemented, "re-optimization needs class labels (classifier)");
    // Three disjoint parts by id: holdout (validation gate), val (the trainer's epoch selection),
    // train.
    std::vector<int64_t> hold, val, tr;
    const double h = 1000 * policy_.holdout_fraction;
    for (int64_t i = 0; i < s.size(); ++i) {
      const double u = static_cast<double>(fnv1a(s.ids[static_cast<size_t>(i)]) % 1000);
      (u < h ? hold : u < h + 100 ? val : tr).push_back(i);
    }
    if (hold.size() < 20 || tr.size() < 20)
      throw_error(ErrorCode::kFailedPrecondition, "too few labelled samples to split (" + std::to_string(s.size()) + ")");
    train::Dataset all{s.x, s.y, {}, {}};
    train::Dataset holdout = all.subset(hold);
    train::DataSplits d;
    d.name = "recent labelled requests of '" + policy_.model + "'";
    d.task = "classification";
    d.train = all.subset(tr);
    d.val = all.subset(val);
    // Reference for input re-normalization: samples labelled before the breach began, minus the
    // last feedback window of them (an abrupt shift breaches the floor within one window, so the
    // window that showed the breach may hold shifted samples; older ones do not).
    train::Dataset reference;
    json reference_info = json::object();
    if (mark > 0) {
      monitor::LabelledSamples kept = server_.feedback().labelled(policy_.model, std::numeric_limits<size_t>::max());
      const uint64_t total = server_.feedback().labelled_total(policy_.model);  // read after: errs towards fewer
      const int64_t after = static_cast<int64_t>(total - std::min(total, mark));
      const int64_t pre = kept.size() - after - static_cast<int64_t>(server_.feedback().options().window);
      reference_info["samples"] = std::max<int64_t>(0, pre);
      if (pre >= 50 && kept.y.dtype() == DType::kI64) {
        std::vector<int64_t> idx(static_cast<size_t>(pre));
        for (int64_t i = 0; i < pre; ++i) idx[static_cast<size_t>(i)] = i;
        reference = train::Dataset{kept.x, kept.y, {}, {}}.subset(idx);
      }
    }
    std::string from_file;
    bool serving_int8 = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      from_file = variant(from).file;
      serving_int8 = variant(from).precision == "int8";
    }
    const double cur = accuracy_on(onnx::load_model(from_file), holdout);
    const int64_t base_v = float_base();
    std::string base_file;
    {
      std::lock_guard<std::mutex> lock(mu_);
      base_file = variant(base_v).file;
    }
    const Graph base = onnx::load_model(base_file);
    int64_t classes = 0;
    for (int64_t i = 0; i < s.size(); ++i) classes = std::max(classes, s.y.data<int64_t>()[i] + 1);
    d.num_classes = static_cast<int>(std::max<int64_t>(classes, base.outputs.at(0).shape.dims().back()));

    std::vector<Scored> cands;
    json scores = json::object();
    quantize::QuantOptions qo;
    Tensor calib = server_.feedback().recent_inputs(policy_.model, policy_.calib_samples);
    qo.calib_samples = calib.defined() ? calib.shape()[0] : 0;
    auto add = [&](std::string kind, std::string name, Graph g, std::string precision) {
      const double sc = accuracy_on(g, holdout);
      scores[name] = sc;
      cands.push_back({std::move(kind), std::move(name), std::move(g), std::move(precision), sc});
    };
    if (policy_.allow_recalibrate && calib.defined() && (serving_int8 || !policy_.allow_finetune))
      add("recalibrate", "int8 re-calibrated on " + std::to_string(qo.calib_samples) + " recent inputs",
          quantize::quantize_ptq(base, calib, qo).graph, "int8");
    // Input re-normalization: the inputs' per-channel statistics now (the training part) mapped
    // onto those of the last labelled window before the breach, when one is kept (reference).
    std::optional<Graph> renorm;
    if (reference.size() > 0 && policy_.accuracy_floor > 0) {
      // Only a reference the serving model did well on (it describes conditions it was fit for).
      reference_info["serving_accuracy"] = accuracy_on(onnx::load_model(from_file), reference);
      if (reference_info["serving_accuracy"].get<double>() < policy_.accuracy_floor) reference = {};
    }
    if (policy_.allow_finetune && reference.size() > 0) {
      json fitted;
      renorm = renormalize_input(base, input_stats(reference.x), input_stats(d.train.x), &fitted);
      if (renorm) {
        reference_info["fitted"] = fitted;
        add("renormalize", "input re-normalized to " + std::to_string(reference.size()) + " pre-breach samples", *renorm, "fp32");
      }
    }
    auto finetune = [&](Graph g, const std::string& what) {
      // Own weights: a Graph copy shares tensor storage, and training updates it in place (it
      // would move the weights of `base` and of every candidate already scored).
      for (auto& [name, t] : g.initializers) t = t.clone();
      train::TrainOptions o;
      o.epochs = policy_.finetune_epochs;
      o.batch = policy_.finetune_batch;
      o.lr = static_cast<float>(policy_.finetune_lr);
      o.warmup_steps = 0;
      o.progress = false;
      o.seed = 1;
      if (policy_.finetune_layers == "first") {
        // Only the first weighted layer learns: enough for an input-level shift (brightness,
        // contrast) and it cannot overfit a few hundred samples the way the whole network can.
        std::set<std::string> keep;
        for (const auto& n : g.nodes)
          if (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") {
            for (const auto& in : n.inputs)
              if (g.is_initializer(in)) keep.insert(in);
            break;
          }
        for (const auto& [name, t] : g.initializers)
          if (!keep.count(name)) o.frozen.insert(name);
      }
      // The re-normalization stays as fitted (from statistics, not from a few hundred labels).
      for (const auto& [name, t] : g.initializers)
        if (name.rfind("renorm_", 0) == 0) o.frozen.insert(name);
      const train::TrainReport rep = train::train_model(g, d, o);
      scores["train_seconds " + what] = rep.seconds;
      if (serving_int8 && policy_.allow_recalibrate && calib.defined())
        add("finetune", what + " + int8 re-calibrated", quantize::quantize_ptq(g, calib, qo).graph, "int8");
      add("finetune", what + " (" + std::to_string(d.train.size()) + " samples, " + std::to_string(o.epochs) + " epochs)",
          std::move(g), "fp32");
    };
    if (policy_.allow_finetune) {
      finetune(base, "fine-tuned fp32");
      if (renorm) finetune(*renorm, "re-normalized + fine-tuned fp32");
    }
    if (cands.empty()) throw_error(ErrorCode::kFailedPrecondition, "no candidate (actions disabled or no recent inputs)");
    // Candidates come cheapest-first (int8 re-calibration, input re-normalization: statistics
    // only; then fine-tuning: weights fitted to a few hundred labels). A later one must beat the
    // one chosen so far by min_gain, as any candidate must beat the serving version: on a holdout
    // of a few hundred samples a smaller lead is noise, and the cheaper fix generalizes better.
    auto best = cands.begin();
    for (auto c = cands.begin() + 1; c != cands.end(); ++c)
      if (c->score >= best->score + policy_.min_gain) best = c;
    json details = {{"holdout_samples", holdout.size()}, {"train_samples", d.train.size()}, {"holdout_accuracy_current", cur},
                    {"candidates", scores}, {"renormalization_reference", reference_info},
                    {"seconds", steady_s() - t0}};
    if (best->score < cur + policy_.min_gain) {
      record({now_s(), best->kind, from, 0, "rejected",
              reason + "; best candidate '" + best->name + "' scored " + fmt("%.4f", best->score) + " on the holdout vs " +
                  fmt("%.4f", cur) + " for the serving version (needs +" + fmt("%.3f", policy_.min_gain) + ")",
              details});
    } else {
      // What goes live must be what was validated (guards against weights shared between
      // candidates being changed after scoring).
      const double again = accuracy_on(best->graph, holdout);
      if (again != best->score)
        throw_error(ErrorCode::kInternal, "candidate '" + best->name + "' scored " + fmt("%.4f", again) +
                                              " on the holdout at deployment, " + fmt("%.4f", best->score) + " when selected");
      const int64_t v = deploy(best->graph, best->kind, best->precision);
      details["seconds"] = steady_s() - t0;
      switch_to(v, best->kind, reason + "; '" + best->name + "' scored " + fmt("%.4f", best->score) + " on " +
                                   std::to_string(holdout.size()) + " held-out recent samples vs " + fmt("%.4f", cur),
                details);
      std::lock_guard<std::mutex> lock(mu_);
      watch_ = Watch{"accuracy", from, v, baseline, steady_s()};
      latency_origin_ = 0;
    }
  } catch (const std::exception& e) {
    record({now_s(), "reoptimize", from, 0, "failed", reason + "; " + e.what(), {}});
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    last_action_s_ = steady_s();
  }
  busy_ = false;
}

std::vector<LogEntry> Controller::log_entries() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {log_.begin(), log_.end()};
}

json Controller::status() const {
  const int64_t serving = server_.repository().serving(policy_.model);
  std::lock_guard<std::mutex> lock(mu_);
  json variants = json::array();
  for (const auto& [v, var] : variants_)
    variants.push_back({{"version", v}, {"name", var.name}, {"precision", var.precision}, {"bench_ms", var.bench_ms}});
  json log = json::array();
  const size_t first = log_.size() > 50 ? log_.size() - 50 : 0;
  for (size_t i = first; i < log_.size(); ++i) {
    const auto& e = log_[i];
    log.push_back({{"time_s", e.time_s}, {"action", e.action}, {"from", e.from}, {"to", e.to}, {"result", e.result},
                   {"reason", e.reason}});
  }
  auto it = variants_.find(serving);
  json split = nullptr;
  try {
    if (auto mv = server_.repository().get(policy_.model, ""); mv->split()) {
      const auto a = mv->split()->active();
      split = {{"cut", a.cut}, {"placement", a.placement}, {"reason", a.reason},
               {"left_cut", split_origin_ < 0 ? json(nullptr) : json(split_origin_)}};
    }
  } catch (const std::exception&) {
  }
  return {{"model", policy_.model},
          {"split", split},
          {"split_cut", split.is_null() ? json(nullptr) : split["cut"]},
          {"state", busy_             ? "re-optimizing"
                    : latency_origin_   ? "on a faster variant (left v" + std::to_string(latency_origin_) + ")"
                    : split_origin_ >= 0 ? "re-split (left cut " + std::to_string(split_origin_) + ")"
                                         : "steady"},
          {"serving_version", serving},
          {"variant_name", it == variants_.end() ? "" : it->second.name},
          {"p99_ms", last_p99_ms_},
          {"p99_budget_ms", policy_.p99_budget_ms},
          {"accuracy", last_accuracy_ < 0 ? json(nullptr) : json(last_accuracy_)},
          {"accuracy_floor", policy_.accuracy_floor},
          {"energy_mj", last_energy_mj_},
          {"energy_budget_mj", policy_.energy_budget_mj},
          {"drift_alarm", last_drift_alarm_},
          {"busy", busy_.load()},
          {"variants", variants},
          {"log", log}};
}

std::string Controller::metrics_text() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::string o =
      "# HELP edgeopt_controller_actions_total Controller actions and decisions, by action and result.\n"
      "# TYPE edgeopt_controller_actions_total counter\n";
  for (const auto& [k, n] : counts_)
    o += "edgeopt_controller_actions_total{model=\"" + policy_.model + "\",action=\"" + k.first + "\",result=\"" + k.second +
         "\"} " + std::to_string(n) + "\n";
  o += "# HELP edgeopt_controller_busy 1 while a re-optimization runs in the background.\n"
       "# TYPE edgeopt_controller_busy gauge\n"
       "edgeopt_controller_busy{model=\"" + policy_.model + "\"} " + (busy_ ? "1" : "0") + "\n";
  o += "# HELP edgeopt_controller_p99_budget_seconds The policy's p99 latency budget.\n"
       "# TYPE edgeopt_controller_p99_budget_seconds gauge\n"
       "edgeopt_controller_p99_budget_seconds{model=\"" + policy_.model + "\"} " + fmt("%.6g", policy_.p99_budget_ms / 1e3) + "\n";
  o += "# HELP edgeopt_controller_accuracy_floor The policy's rolling accuracy floor.\n"
       "# TYPE edgeopt_controller_accuracy_floor gauge\n"
       "edgeopt_controller_accuracy_floor{model=\"" + policy_.model + "\"} " + fmt("%.6g", policy_.accuracy_floor) + "\n";
  return o;
}

}  // namespace edgeopt::control

// control::Controller: keeps one served model within its policy (policy.h) by acting on the live
// node: switching variants (versions in the repository, e.g. fp32 / int8 / pruned ones written by
// `edgeopt optimize`), re-calibrating int8 on recent inputs (quantize::quantize_ptq), fine-tuning
// on recent labelled data in a background thread (train::train_model) and deploying the result as
// a new version.
//
//   serve::Server server(options);
//   control::Controller ctl(server, control::load_policy("policy.yaml"));  // before server.start()
//   server.start();
//   ctl.start();          // a thread ticks every policy.tick_s
//   ...
//   ctl.stop();  server.stop();
//
// Every tick: p99 latency of the serving version (last latency.window_s), its rolling accuracy
// (ground-truth feedback), drift (max PSI + alarm) and energy per inference are compared with the
// policy; a breach must last breach_ticks ticks, and no action starts within cooldown_s of the last.
// - latency or energy over budget -> the fastest variant (benchmarked here at batch 1 on recent
//   inputs) that is faster than the serving one and, when labels exist, not below the accuracy
//   floor on the holdout; back to the variant it left once that one's predicted p99 (current p99
//   - current variant's + origin's batch-1 time, both benchmarked again at that tick, so a CPU hog
//   still running shows) stays under restore_fraction x budget for restore_after_s.
// - accuracy below the floor (or drift over its PSI threshold) with enough labelled samples ->
//   in the background: candidates = int8 re-calibrated on recent inputs, the float model with its
//   inputs re-normalized (per-channel x -> a x + b mapping recent input statistics onto those of
//   the labelled window before the breach: undoes affine lighting/contrast/gain shifts), the float
//   model fine-tuned on recent labelled samples, with and without that re-normalization (and
//   int8 re-calibrations when an int8 variant is serving); each is scored on a holdout of the
//   recent labelled samples that no candidate trained or selected on. Cheapest first, a later
//   candidate replaces the chosen one only when it beats it by min_gain, and the choice goes live
//   only if it beats the serving version there by min_gain.
// Going live = a new version folder written atomically, loaded by the repository's poll, and
// ModelRepository::set_serving (the hot-swap path: no request fails). Each deployment is then
// watched: rolled back if its rolling accuracy ends below the old one's by rollback_margin (its p99
// is worse than before, for a latency switch; its energy per inference is not lower, for an energy
// switch), else marked verified.
// - a model served through an edge-cloud split (`serve --split`, serve/split_backend.h): the p99
//   budget breached, or at least split.fallback_fraction of the window's planned offloads answered
//   locally (cloud down or late), for breach_ticks ticks -> "resplit": the split re-solved from what
//   the node measured (SplitBackend::propose: learned bandwidth/RTT, the edge's current speed; all-
//   edge when the cloud is unreachable) and hot-swapped (SplitBackend::set_cut: requests in flight
//   finish on their cut). Watched like a switch: rolled back if its p99 is worse than the one that
//   prompted it (a latency re-plan) or offloads keep falling back. While off the original cut, a
//   health probe every tick; once the probes succeed and the solver (probed RTT) prefers an
//   offloading cut for split.restore_after_s -> back to it ("cloud_recovered"), rolled back if it
//   then falls back or breaches the budget. Log entries of resplit carry cuts in from/to.
// Every action and decision is logged with its reason: a JSON line (policy.log), the server's log,
// status() (the dashboard) and the edgeopt_controller_actions_total counter.
// Requires the model's config.pbtxt to keep all versions loaded (version_policy: { all {} }).
// Thread-safety: all members may be called concurrently; tick() is serialized internally.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "control/policy.h"
#include "core/graph.h"
#include "serve/server.h"

namespace edgeopt::control {

struct LogEntry {
  double time_s = 0;       // unix seconds
  std::string action;      // switch | restore | recalibrate | finetune | rollback | verify | wait | error
  int64_t from = 0, to = 0;
  std::string result;      // deployed | rejected | rolled_back | kept | failed | waiting
  std::string reason;
  nlohmann::json details;  // scores, timings
};

class Controller {
 public:
  // Attaches to the server's monitor extension (metrics + dashboard status). Destroy it after
  // server.stop() (HTTP threads call into it while the server serves). `log` receives one line per
  // entry (may be empty).
  Controller(serve::Server& server, Policy policy, std::function<void(const std::string&)> log = {});
  ~Controller();
  Controller(const Controller&) = delete;
  Controller& operator=(const Controller&) = delete;

  // Checks the model and its config (throws edgeopt::Error naming what is wrong), then ticks every
  // policy.tick_s on a thread.
  void start();
  // Stops ticking and waits for a background job to finish. Idempotent.
  void stop();
  // One decision step (start() runs it periodically; tests may call it directly).
  void tick();
  bool busy() const { return busy_; }
  // Waits until no background job runs (tests, benchmarks); false on timeout.
  bool wait_idle(double timeout_s);

  void set_p99_budget_ms(double budget);  // operators and tests may move the budget at run time
  const Policy& policy() const { return policy_; }
  std::vector<LogEntry> log_entries() const;
  nlohmann::json status() const;
  std::string metrics_text() const;

 private:
  struct Variant {
    int64_t version = 0;
    std::string precision;   // fp32 | int8
    std::string name;        // "v3 int8 (recalibrated)"
    double bench_ms = 0;     // batch-1 latency measured here (0: not yet)
    std::string file;
  };
  struct Watch {             // a deployment being verified
    std::string kind;        // accuracy | latency | energy
    int64_t from = 0, to = 0;
    double baseline = 0;
    double since_s = 0;
  };
  struct SplitWatch {        // a re-plan being verified
    std::string reason;      // latency | cloud_unreachable | cloud_recovered
    size_t from = 0, to = 0; // cuts
    double baseline_p99_ms = 0;
    double since_s = 0;
  };
  struct Scored {
    std::string kind;        // recalibrate | finetune
    std::string name;
    Graph graph;
    std::string precision;
    double score = 0;
  };

  void loop();
  void refresh_variants();
  Variant& variant(int64_t version);
  double bench(Variant& v);            // cached median batch-1 latency (ms)
  double bench_now(const Variant& v);  // measured now
  std::optional<double> holdout_accuracy(int64_t version);
  void switch_to(int64_t to, const std::string& action, const std::string& reason, nlohmann::json details);
  void record(LogEntry e);
  void check_watch(double now);
  void start_reoptimization(const std::string& reason);
  // The split part of a tick; true when it acted (the tick ends there).
  bool split_tick(serve::ModelVersion& mv, double now, std::optional<double> p99, double budget);
  void check_split_watch(serve::ModelVersion& mv, double now);
  void wait_log(int64_t serving, double now, const std::string& why);
  // mark: labelled_total when the breach began (samples labelled before it are the reference for
  // input re-normalization).
  void reoptimize(std::string reason, int64_t from, double baseline, size_t samples, uint64_t mark);
  int64_t deploy(const Graph& g, const std::string& tag, const std::string& precision);
  int64_t float_base() ;
  double now_s() const;

  serve::Server& server_;
  Policy policy_;
  std::function<void(const std::string&)> log_fn_;
  mutable std::mutex mu_;          // everything below
  std::mutex tick_mu_;             // one tick at a time
  std::map<int64_t, Variant> variants_;
  std::deque<LogEntry> log_;
  std::map<std::pair<std::string, std::string>, uint64_t> counts_;  // (action, result)
  std::optional<Watch> watch_;
  int latency_breach_ = 0, energy_breach_ = 0, accuracy_breach_ = 0, restore_ok_since_ = 0;
  double restore_clear_since_ = -1;
  int64_t latency_origin_ = 0;     // variant left for latency/energy (0: none)
  int split_breach_ = 0;
  int64_t split_origin_ = -1;      // the offloading cut left for latency or an unreachable cloud (-1: none)
  double split_restore_since_ = -1;
  std::optional<SplitWatch> split_watch_;
  uint64_t breach_labelled_mark_ = 0;  // feedback labelled_total when the accuracy breach began
  double last_action_s_ = -1e18;
  double last_wait_log_s_ = -1e18;
  double last_p99_ms_ = 0, last_accuracy_ = -1, last_energy_mj_ = 0;
  bool last_drift_alarm_ = false;
  std::atomic<bool> busy_{false};
  std::atomic<bool> stopping_{false};
  std::thread thread_, job_;
  std::condition_variable cv_;
  std::mutex cv_mu_;
};

}  // namespace edgeopt::control

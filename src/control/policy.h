// The controller's policy: budgets and floors for one served model, and what it may do about a
// breach. Read from YAML (JSON is valid YAML too); every key is optional except `model`, and an
// unknown key or a value of the wrong type is an error naming the file and the key.
//
//   model: vision_cnn
//   tick_s: 1              # decision period
//   cooldown_s: 10         # no new action (rollbacks excepted) this soon after the last one
//   breach_ticks: 3        # consecutive ticks a breach must last before acting (hysteresis)
//   latency: {p99_budget_ms: 20, window_s: 5, min_samples: 20, restore_fraction: 0.7, restore_after_s: 15}
//   accuracy: {floor: 0.80, min_labels: 100, rollback_margin: 0.02, rollback_min_labels: 100}
//   drift: {psi_threshold: 0.25}       # 0: drift alone never triggers re-optimization
//   energy: {budget_mj: 0}             # per inference; 0: off
//   actions: {switch: true, recalibrate: true, finetune: true, resplit: true}
//   split: {fallback_fraction: 0.5, restore_after_s: 10}   # models served with --split
//   finetune: {epochs: 3, lr: 0.0005, batch: 32, max_samples: 2000, min_samples: 300,
//              holdout_fraction: 0.25, min_gain: 0.005, layers: all, since_breach: false}
//   recalibrate: {samples: 256}
//   log: controller.jsonl              # JSON lines, one per action (also kept in memory)
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace edgeopt::control {

struct Policy {
  std::string model;
  double tick_s = 1.0;
  double cooldown_s = 10.0;
  int breach_ticks = 3;
  // Latency: p99 over the last window_s seconds of the serving version (0 budget: off).
  double p99_budget_ms = 0;
  double latency_window_s = 5.0;
  size_t latency_min_samples = 20;
  // Back to the variant left for latency when its predicted p99 (current p99 x the benchmark ratio
  // of the two variants) stays below restore_fraction x budget for restore_after_s.
  double restore_fraction = 0.7;
  double restore_after_s = 15.0;
  // Accuracy (classifiers): rolling accuracy of the serving version over its ground-truth window.
  double accuracy_floor = 0;        // 0: off
  size_t min_labels = 100;          // labels in the window before it is judged
  double rollback_margin = 0.02;    // roll back when the new version's rolling accuracy ends below baseline - margin
  size_t rollback_min_labels = 100; // labels on the new version before that judgement
  double drift_psi_threshold = 0;   // a drift alarm with max PSI >= this also triggers (0: off)
  double energy_budget_mj = 0;      // per inference (0: off)
  bool allow_switch = true, allow_recalibrate = true, allow_finetune = true;
  // Edge-cloud split (a model served with `serve --split`): re-plan the cut when the p99 budget is
  // breached or when at least split_fallback_fraction of the planned offloads in the latency window
  // were answered locally (the cloud is down or late); back to an offloading cut once health probes
  // have succeeded and the solver has preferred offloading for split_restore_after_s.
  bool allow_resplit = true;
  double split_fallback_fraction = 0.5;
  double split_restore_after_s = 10.0;
  int finetune_epochs = 3;
  double finetune_lr = 5e-4;
  int64_t finetune_batch = 32;
  size_t max_samples = 2000;        // most recent labelled samples used
  size_t min_samples = 300;         // fewer: wait for labels
  double holdout_fraction = 0.25;   // of them held out for validation (never trained or selected on)
  double min_gain = 0.005;          // a candidate must beat the serving version on the holdout by this
  std::string finetune_layers = "all";  // all | first (only the first Conv/Gemm/MatMul layer's weights)
  // true: use only samples labelled after the accuracy breach began (the new distribution), and
  // wait for min_samples of them; false: the most recent max_samples, whatever their age.
  bool since_breach = false;
  size_t calib_samples = 256;
  std::string log_path;
  std::string origin;               // where it was read from
};

Policy parse_policy(const std::string& text, const std::string& origin);
Policy load_policy(const std::string& path);  // throws NotFound / InvalidArgument naming the file

}  // namespace edgeopt::control

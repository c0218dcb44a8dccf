// Drift detection for a deployed model: reference statistics captured when the model is optimized
// (from its training/validation inputs and outputs), then windowed two-sample tests on the live
// stream of inputs and outputs.
//
//   DriftDetector det = DriftDetector::fit(ref_x, &ref_logits, {});   // at optimization time
//   nlohmann::json saved = det.to_json();                              // ships with the model
//   DriftDetector live = DriftDetector::from_json(saved);
//   DriftStatus s = live.observe(batch_x, &batch_logits);              // per request / batch
//   if (s.alarm) ...                                                    // s.reason names the feature
//
// Features per sample (what is tested):
// - images [N, C, H, W]: per channel the mean, standard deviation, 10th/90th percentiles of the
//   pixels and the gradient energy (mean absolute neighbour difference): brightness, contrast,
//   saturation, noise and blur move these;
// - vectors [N, F] and series [N, T, F]: every feature (series: its mean over the window), at most
//   64 features;
// - outputs (optional): the top-1 confidence (softmax max) and the entropy of the softmax for
//   classifiers, the output value for regressors.
// Tests, on a sliding window of the last `window` samples, every `step` samples:
// - Kolmogorov-Smirnov two-sample statistic per feature against the reference sample, with the
//   asymptotic p-value; an alarm needs p < alpha / features (Bonferroni over features), and alpha
//   is small (1e-6) because the test repeats every step on overlapping windows: at 1e-6 the
//   union bound over 10,000 samples (200 tests) and 12 features is below 0.3%;
// - PSI (population stability index) per feature over 10 reference-quantile bins, reported (and
//   optionally required: psi_min) as the effect size, so a tiny but significant shift on a huge
//   window does not page anyone.
#pragma once
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/tensor.h"

namespace edgeopt::monitor {

struct DriftConfig {
  int window = 200;            // samples in the tested window
  int step = 50;               // test every `step` new samples once the window is full
  double alpha = 1e-6;         // family-wise per test, split over the features (Bonferroni)
  double psi_min = 0.1;        // and at least this PSI on the alarming feature (0: KS alone)
  int reference_max = 5000;    // reference samples kept per feature
};

struct FeatureDrift {
  std::string name;
  double ks = 0;        // KS statistic D
  double p_value = 1;   // asymptotic two-sample p-value
  double psi = 0;
};

struct DriftStatus {
  int64_t samples_seen = 0;
  bool tested = false;            // a test ran on this call
  bool alarm = false;             // the latest test alarmed
  int64_t first_alarm_at = -1;    // sample count when the first alarm fired (-1: never)
  std::string reason;             // "input.ch0.mean: KS 0.41 (p 3e-12) PSI 0.9"
  std::vector<FeatureDrift> features;  // of the latest test
  double max_psi = 0, max_ks = 0;
};

// Features of a batch as rows [N][F], and their names (see the header comment).
std::vector<std::vector<double>> extract_input_features(const Tensor& x, std::vector<std::string>* names);
std::vector<std::vector<double>> extract_output_features(const Tensor& y, std::vector<std::string>* names);

// Two-sample KS: the statistic D and its asymptotic p-value (Kolmogorov distribution with the
// effective size n*m/(n+m), Stephens' small-sample correction).
double ks_statistic(std::vector<double> a, std::vector<double> b);
double ks_p_value(double d, size_t n, size_t m);
// PSI of `actual` against `reference` over the reference's deciles (eps-smoothed).
double psi(const std::vector<double>& reference, const std::vector<double>& actual, int bins = 10);

class DriftDetector {
 public:
  // Reference from inputs x [N, ...] (and optionally the model's outputs on them). Throws
  // InvalidArgument for fewer than 2 * config.window reference samples or mismatched N.
  static DriftDetector fit(const Tensor& x, const Tensor* outputs, const DriftConfig& config);
  // Saved reference (features' sorted samples, names, config); from_json validates it and names
  // the bad field.
  nlohmann::json to_json() const;
  static DriftDetector from_json(const nlohmann::json& j);

  // Adds a batch (and optionally the model's outputs for it) to the window; tests when due.
  DriftStatus observe(const Tensor& x, const Tensor* outputs = nullptr);
  const DriftStatus& status() const { return status_; }
  const DriftConfig& config() const { return config_; }
  const std::vector<std::string>& feature_names() const { return names_; }
  // Forget the live window (after a re-optimization the new model starts clean).
  void reset_window();

 private:
  void test();
  DriftConfig config_;
  std::vector<std::string> names_;
  size_t n_input_features_ = 0;
  bool has_outputs_ = false;
  std::vector<std::vector<double>> reference_;  // per feature, sorted
  std::deque<std::vector<double>> window_;      // rows of the live window
  int64_t since_test_ = 0;
  DriftStatus status_;
};

}  // namespace edgeopt::monitor

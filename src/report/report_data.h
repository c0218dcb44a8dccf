// The report JSON read into plain structs once, with every field's type checked and its absence
// recorded, so the two renderers share one reading of the schema (docs/report.md). Internal to
// edgeopt_report.
#pragma once
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace edgeopt::report::detail {

// A number that may be absent/null. `raw` is the JSON text of the number (what data-value holds).
struct Num {
  bool has = false;
  double v = 0;
  std::string raw;
  explicit operator bool() const { return has; }
};

struct Card {
  std::string id, name, status, latency_source, energy_source, path;
  std::vector<std::string> steps, reject_reasons;
  Num accuracy, rmse, accuracy_drop_points, latency_ms, latency_p99_ms, size_bytes, peak_memory_mb,
      energy_mj_per_inference, ort_fp32_latency_ms;
  bool pareto = false;
  // The model's quality metric for this card: accuracy (fraction) or rmse, per ReportData::metric.
  const Num& metric(bool rmse_metric) const { return rmse_metric ? rmse : accuracy; }
};

struct Platform {
  std::string platform, variant, dtype, source;
  Num latency_ms, throughput_per_s, power_w, energy_mj_per_inference, memory_mb;
  bool estimate() const { return source != "measured"; }
};

struct Layer {
  std::string name, op_type;
  Num baseline_ms, best_ms;
};

struct ReportData {
  std::string edgeopt_version, created;
  Num seed, threads;
  std::string model_name, model_path, model_task, metric;  // metric: "accuracy" or "rmse"
  std::string data_spec;
  Num eval_samples;
  std::vector<std::pair<std::string, std::string>> target;  // every target field, as display text
  std::string target_name, target_source;
  Num max_latency_ms, max_size_mb, max_accuracy_drop;
  std::optional<Card> baseline, best;
  std::vector<Card> candidates;
  std::vector<Platform> platforms;
  std::vector<Layer> layers;
  std::string search_mode;
  Num search_evaluated, search_elapsed_s;
  std::optional<bool> search_resumed;

  bool rmse_metric() const { return metric == "rmse"; }
};

// Throws InvalidArgument naming the path of the first wrongly typed field.
ReportData read_report(const nlohmann::json& j);

// Display formatting shared by both renderers.
std::string fmt(const Num& n, int decimals);         // "n/a" when absent
std::string fmt_sig(double v, int significant = 3);  // 3 significant digits, no exponent below 1e9
std::string fmt_metric(const Num& n, bool rmse);     // accuracy as "91.20%", rmse as "0.1234"
std::string fmt_mb_from_bytes(const Num& bytes);     // "1.23 MB" (1e6 bytes)
std::string join(const std::vector<std::string>& v, const std::string& sep);

}  // namespace edgeopt::report::detail

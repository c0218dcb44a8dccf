#include "serve/metrics.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "serve/model_repository.h"
#include "serve/model_version.h"
#include "serve/server.h"

namespace edgeopt::serve {

namespace {

std::string num(double v) {
  char b[40];
  std::snprintf(b, sizeof b, "%.17g", v);
  return b;
}

// Label values escape backslash, double quote and newline (the exposition format's rule).
std::string esc(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '\\' || c == '"') o += '\\';
    if (c == '\n') {
      o += "\\n";
      continue;
    }
    o += c;
  }
  return o;
}

}  // namespace

std::string render_prometheus_metrics(const ModelRepository& repo) {
  struct Row {
    std::string labels;
    VersionStats st;
    size_t queue = 0;
    std::optional<monitor::DriftStatus> drift;
  };
  std::vector<Row> rows;
  for (const auto& e : repo.index()) {
    if (e.version.empty()) continue;
    auto v = repo.get(e.name, e.version);
    if (!v) continue;
    rows.push_back({"model=\"" + esc(e.name) + "\",version=\"" + esc(e.version) + "\"", v->stats(), v->queue_size(),
                    v->drift_status()});
  }
  std::ostringstream o;
  auto counter = [&](const char* name, const char* help, uint64_t VersionStats::*field) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n";
    for (const auto& r : rows) o << name << "{" << r.labels << "} " << r.st.*field << "\n";
  };
  counter("edgeopt_requests_total", "Inference requests answered with outputs.", &VersionStats::requests);
  counter("edgeopt_requests_accepted_total", "Inference requests queued.", &VersionStats::accepted);
  counter("edgeopt_requests_rejected_total", "Requests refused at submission (queue full or shutting down: 429/503).",
          &VersionStats::rejected);
  counter("edgeopt_requests_expired_total", "Requests whose deadline passed in the queue (504).", &VersionStats::expired);
  counter("edgeopt_requests_failed_total", "Requests the model failed on.", &VersionStats::failed);
  counter("edgeopt_batches_total", "Model runs (each runs one dynamic batch).", &VersionStats::batches);
  counter("edgeopt_batch_rows_total", "Rows run over all batches.", &VersionStats::rows);
  o << "# HELP edgeopt_queue_depth Requests waiting in the model version's queue.\n# TYPE edgeopt_queue_depth gauge\n";
  for (const auto& r : rows) o << "edgeopt_queue_depth{" << r.labels << "} " << r.queue << "\n";

  o << "# HELP edgeopt_request_latency_seconds Time from queueing to the answer, per request.\n"
       "# TYPE edgeopt_request_latency_seconds histogram\n";
  for (const auto& r : rows) {
    uint64_t cum = 0;
    for (size_t b = 0; b < kLatencyBuckets.size(); ++b) {
      cum += r.st.latency_counts[b];
      o << "edgeopt_request_latency_seconds_bucket{" << r.labels << ",le=\"" << num(kLatencyBuckets[b]) << "\"} " << cum
        << "\n";
    }
    cum += r.st.latency_counts.back();
    o << "edgeopt_request_latency_seconds_bucket{" << r.labels << ",le=\"+Inf\"} " << cum << "\n";
    o << "edgeopt_request_latency_seconds_sum{" << r.labels << "} " << num(r.st.latency_sum_s) << "\n";
    o << "edgeopt_request_latency_seconds_count{" << r.labels << "} " << cum << "\n";
  }
  o << "# HELP edgeopt_batch_size_rows Rows per model run (dynamic batching).\n"
       "# TYPE edgeopt_batch_size_rows histogram\n";
  for (const auto& r : rows) {
    uint64_t cum = 0;
    for (size_t b = 0; b < kBatchBuckets.size(); ++b) {
      cum += r.st.batch_counts[b];
      o << "edgeopt_batch_size_rows_bucket{" << r.labels << ",le=\"" << num(kBatchBuckets[b]) << "\"} " << cum << "\n";
    }
    cum += r.st.batch_counts.back();
    o << "edgeopt_batch_size_rows_bucket{" << r.labels << ",le=\"+Inf\"} " << cum << "\n";
    o << "edgeopt_batch_size_rows_sum{" << r.labels << "} " << r.st.rows << "\n";
    o << "edgeopt_batch_size_rows_count{" << r.labels << "} " << cum << "\n";
  }
  // Drift (versions with a reference only): the latest windowed test's largest KS statistic and PSI
  // over the features, whether it alarmed, and the samples seen.
  auto drift_gauge = [&](const char* name, const char* help, const char* type, auto get) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
    for (const auto& r : rows)
      if (r.drift) o << name << "{" << r.labels << "} " << num(get(*r.drift)) << "\n";
  };
  drift_gauge("edgeopt_drift_samples_total", "Samples the drift detector has seen.", "counter",
              [](const monitor::DriftStatus& d) { return static_cast<double>(d.samples_seen); });
  drift_gauge("edgeopt_drift_alarm", "1 when the latest drift test alarmed (KS with Bonferroni and PSI).", "gauge",
              [](const monitor::DriftStatus& d) { return d.alarm ? 1.0 : 0.0; });
  drift_gauge("edgeopt_drift_max_ks", "Largest per-feature KS statistic in the latest test.", "gauge",
              [](const monitor::DriftStatus& d) { return d.max_ks; });
  drift_gauge("edgeopt_drift_max_psi", "Largest per-feature PSI in the latest test.", "gauge",
              [](const monitor::DriftStatus& d) { return d.max_psi; });
  // Process: CPU seconds and resident memory (what a city's dashboard alerts on for a hot box).
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const double cpu = static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
                     1e-6 * static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
  o << "# HELP process_cpu_seconds_total User and system CPU time of the node.\n# TYPE process_cpu_seconds_total counter\n"
    << "process_cpu_seconds_total " << num(cpu) << "\n";
  long pages = 0, resident = 0;
  std::ifstream statm("/proc/self/statm");
  if (statm >> pages >> resident) {
    o << "# HELP process_resident_memory_bytes Resident memory of the node.\n"
         "# TYPE process_resident_memory_bytes gauge\n"
      << "process_resident_memory_bytes " << resident * sysconf(_SC_PAGESIZE) << "\n";
  }
  return o.str();
}

std::string render_prometheus_metrics(Server& server) {
  std::ostringstream o;
  o << render_prometheus_metrics(server.repository());
  const auto rolling = server.feedback().rolling_all();
  auto labels = [](const std::string& m, int64_t v) {
    return "model=\"" + esc(m) + "\",version=\"" + std::to_string(v) + "\"";
  };
  auto gauge = [&](const char* name, const char* help, const char* task, auto get) {
    o << "# HELP " << name << " " << help << "\n# TYPE " << name << " gauge\n";
    for (const auto& r : rolling)
      if (r.n > 0 && (!task[0] || r.task == task)) o << name << "{" << labels(r.model, r.version) << "} " << num(get(r)) << "\n";
  };
  using RM = monitor::RollingMetrics;
  gauge("edgeopt_rolling_labels", "Ground-truth labels in the rolling window.", "", [](const RM& r) { return static_cast<double>(r.n); });
  gauge("edgeopt_rolling_accuracy", "Accuracy over the rolling window of ground-truth labels.", "classification",
        [](const RM& r) { return r.accuracy; });
  gauge("edgeopt_rolling_precision", "Macro precision over the rolling window.", "classification", [](const RM& r) { return r.precision; });
  gauge("edgeopt_rolling_recall", "Macro recall over the rolling window.", "classification", [](const RM& r) { return r.recall; });
  gauge("edgeopt_rolling_f1", "Macro F1 over the rolling window.", "classification", [](const RM& r) { return r.f1; });
  gauge("edgeopt_rolling_mae", "Mean absolute error over the rolling window (regressors).", "regression", [](const RM& r) { return r.mae; });
  gauge("edgeopt_rolling_rmse", "Root mean squared error over the rolling window (regressors).", "regression",
        [](const RM& r) { return r.rmse; });
  o << "# HELP edgeopt_feedback_labels_total Ground-truth labels matched to a prediction.\n"
       "# TYPE edgeopt_feedback_labels_total counter\n";
  for (const auto& r : rolling) o << "edgeopt_feedback_labels_total{" << labels(r.model, r.version) << "} " << r.labels_total << "\n";
  std::vector<std::string> models;
  for (const auto& e : server.repository().index())
    if (std::find(models.begin(), models.end(), e.name) == models.end()) models.push_back(e.name);
  o << "# HELP edgeopt_feedback_unknown_total Labels for request ids the node does not (or no longer) remember.\n"
       "# TYPE edgeopt_feedback_unknown_total counter\n";
  for (const auto& m : models)
    o << "edgeopt_feedback_unknown_total{model=\"" << esc(m) << "\"} " << server.feedback().unknown_total(m) << "\n";
  o << "# HELP edgeopt_serving_version The version that answers requests naming none.\n"
       "# TYPE edgeopt_serving_version gauge\n";
  for (const auto& m : models) o << "edgeopt_serving_version{model=\"" << esc(m) << "\"} " << server.repository().serving(m) << "\n";
  o << "# HELP edgeopt_energy_per_inference_joules Energy per inference: measured (RAPL/NVML, attributed by CPU time) "
       "or estimate (CPU time x watts per core).\n# TYPE edgeopt_energy_per_inference_joules gauge\n";
  for (const auto& e : server.repository().index()) {
    if (e.version.empty()) continue;
    std::shared_ptr<ModelVersion> v;
    try {
      v = server.repository().get(e.name, e.version);
    } catch (const std::exception&) {
      continue;
    }
    const auto en = server.energy_per_inference(*v);
    if (en.known)
      o << "edgeopt_energy_per_inference_joules{model=\"" << esc(e.name) << "\",version=\"" << esc(e.version)
        << "\",energy_source=\"" << en.source << "\"} " << num(en.joules) << "\n";
  }
  o << "# HELP edgeopt_inference_cpu_seconds_total Worker CPU time inside model runs.\n"
       "# TYPE edgeopt_inference_cpu_seconds_total counter\n";
  for (const auto& e : server.repository().index()) {
    if (e.version.empty()) continue;
    try {
      auto v = server.repository().get(e.name, e.version);
      o << "edgeopt_inference_cpu_seconds_total{model=\"" << esc(e.name) << "\",version=\"" << esc(e.version) << "\"} "
        << num(v->stats().run_cpu_seconds) << "\n";
    } catch (const std::exception&) {
    }
  }
  const auto ext = server.monitor_extension();
  if (ext.metrics) o << ext.metrics();
  return o.str();
}

}  // namespace edgeopt::serve

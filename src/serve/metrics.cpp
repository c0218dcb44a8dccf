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
    std::shared_ptr<SplitBackend> split;
  };
  std::vector<Row> rows;
  for (const auto& e : repo.index()) {
    if (e.version.empty()) continue;
    auto v = repo.get(e.name, e.version);
    if (!v) continue;
    rows.push_back({"model=\"" + esc(e.name) + "\",version=\"" + esc(e.version) + "\"", v->stats(), v->queue_size(),
                    v->drift_status(), v->split()});
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
  // Edge-cloud split (versions served through one, split_backend.h).
  struct SplitRow {
    const Row* row;
    SplitBackend::Active active;
    SplitCounters c;
    split::NetworkEstimate net;
  };
  std::vector<SplitRow> splits;
  for (const auto& r : rows)
    if (r.split) splits.push_back({&r, r.split->active(), r.split->counters(), r.split->network()});
  if (!splits.empty()) {
    o << "# HELP edgeopt_split_cut The cut serving now: nodes [0, cut) run on the edge (cut = all_edge_cut: all-edge, 0: "
         "all-cloud); labels name the last edge node, the wire and the placement.\n# TYPE edgeopt_split_cut gauge\n";
    for (const auto& s : splits)
      o << "edgeopt_split_cut{" << s.row->labels << ",after_node=\"" << esc(s.active.after_node) << "\",transport=\""
        << split::transport_name(s.active.transport) << "\",placement=\"" << s.active.placement << "\"} " << s.active.cut << "\n";
    o << "# HELP edgeopt_split_all_edge_cut The all-edge cut's index (the prepared graph's node count).\n"
         "# TYPE edgeopt_split_all_edge_cut gauge\n";
    for (const auto& s : splits) o << "edgeopt_split_all_edge_cut{" << s.row->labels << "} " << s.row->split->all_edge_cut() << "\n";
    auto by_key = [&](const char* name, const char* help, const char* label,
                      std::map<std::string, int64_t> SplitCounters::*field) {
      o << "# HELP " << name << " " << help << "\n# TYPE " << name << " counter\n";
      for (const auto& s : splits)
        for (const auto& [k, n] : s.c.*field) o << name << "{" << s.row->labels << "," << label << "=\"" << esc(k) << "\"} " << n << "\n";
    };
    by_key("edgeopt_split_requests_total",
           "Requests (or batches) answered, by path: edge_only (all-edge cut), split (the cloud answered), fallback "
           "(an offload was planned but the edge answered).", "path", &SplitCounters::answers);
    by_key("edgeopt_split_fallbacks_total", "Offloads answered locally instead, by reason.", "reason", &SplitCounters::fallbacks);
    by_key("edgeopt_split_cloud_errors_total", "Offloads that failed: unavailable, deadline (timeout), http_error, protocol.",
           "status", &SplitCounters::cloud_errors);
    by_key("edgeopt_split_replans_total",
           "Split decisions that set the serving cut, by reason (plan: at load; the controller's resplit reasons).", "reason",
           &SplitCounters::decisions);
    auto scalar = [&](const char* name, const char* help, const char* type, auto get) {
      o << "# HELP " << name << " " << help << "\n# TYPE " << name << " " << type << "\n";
      for (const auto& s : splits) o << name << "{" << s.row->labels << "} " << num(get(s)) << "\n";
    };
    scalar("edgeopt_split_offload_sent_bytes_total", "Offload request bodies sent to the cloud.", "counter",
           [](const SplitRow& s) { return static_cast<double>(s.c.bytes_sent); });
    scalar("edgeopt_split_offload_received_bytes_total", "Offload response bodies received from the cloud.", "counter",
           [](const SplitRow& s) { return static_cast<double>(s.c.bytes_received); });
    scalar("edgeopt_split_deadline_misses_total", "Split answers later than the split deadline.", "counter",
           [](const SplitRow& s) { return static_cast<double>(s.c.deadline_misses); });
    scalar("edgeopt_split_probes_total", "Cloud health probes sent.", "counter",
           [](const SplitRow& s) { return static_cast<double>(s.c.probes); });
    scalar("edgeopt_split_probe_failures_total", "Cloud health probes that failed.", "counter",
           [](const SplitRow& s) { return static_cast<double>(s.c.probe_failures); });
    scalar("edgeopt_split_bandwidth_bytes_per_second", "Bandwidth to the cloud estimated from real offloads (EWMA).", "gauge",
           [](const SplitRow& s) { return s.net.bandwidth_mbps * 1e6 / 8; });
    scalar("edgeopt_split_rtt_seconds", "Round trip time to the cloud estimated from real offloads (EWMA).", "gauge",
           [](const SplitRow& s) { return s.net.rtt_ms / 1e3; });
  }
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

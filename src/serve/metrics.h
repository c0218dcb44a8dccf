// Prometheus text exposition (format 0.0.4) of the node's state, served at GET /metrics on the
// HTTP port: per model and version the request, batch, rejection, expiry and failure counters,
// queue depth, request-latency and batch-size histograms; the process' CPU time and resident
// memory. `promtool check metrics` accepts it (tested).
#pragma once
#include <string>

namespace edgeopt::serve {

class ModelRepository;
class Server;

std::string render_prometheus_metrics(const ModelRepository& repo);
// The repository's metrics plus the node's: rolling ground-truth metrics per model and version
// (edgeopt_rolling_accuracy, _precision, _recall, _f1, _mae, _rmse, _labels), feedback counters
// (edgeopt_feedback_labels_total, edgeopt_feedback_unknown_total), energy per inference with its
// energy_source label, the version serving unnamed requests, and a controller's metrics
// (Server::MonitorExtension).
std::string render_prometheus_metrics(Server& server);

}  // namespace edgeopt::serve

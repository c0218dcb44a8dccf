// Prometheus text exposition (format 0.0.4) of the node's state, served at GET /metrics on the
// HTTP port: per model and version the request, batch, rejection, expiry and failure counters,
// queue depth, request-latency and batch-size histograms; the process' CPU time and resident
// memory. `promtool check metrics` accepts it (tested).
#pragma once
#include <string>

namespace edgeopt::serve {

class ModelRepository;

std::string render_prometheus_metrics(const ModelRepository& repo);

}  // namespace edgeopt::serve

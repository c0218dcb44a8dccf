// What `edgeopt optimize` measures about each candidate besides its accuracy: batch-1 latency
// (interleaved over all candidates), session memory, per-layer time, energy, the peer runtime's
// latency, and the per-platform table; and the report files.
#pragma once
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/graph.h"
#include "core/tensor.h"

namespace edgeopt::optimize {

struct LatencyStats {
  double p50_ms = 0, p99_ms = 0;
  int64_t runs = 0;
};
// Every graph gets a Session; then `rounds` times, each graph runs `runs` times in turn (after
// warm-up), so a load change on a shared machine hits all of them alike. Medians over all runs.
std::vector<LatencyStats> interleaved_latency(const std::vector<const Graph*>& graphs, const Tensor& sample,
                                              int rounds, int runs);

struct MemoryStats {
  double peak_mb = 0;  // peak live activations of one batch-1 run + the session's weights, MiB
};
MemoryStats session_memory(const Graph& g, const Tensor& sample);

// Per-node time (profiled Session, batch 1) of the baseline and the chosen model, matched by node
// name (after the runtime's passes; unmatched rows have a null on the other side), largest first.
nlohmann::json layer_latency(const Graph& baseline, const Graph& best, const Tensor& sample, int threads);

// Median batch-1 latency of the model in ONNX Runtime with `threads` intra-op threads, timed by a
// Python that has onnxruntime: $EDGEOPT_ORT_PYTHON, else the venvs the benchmarks and tests create
// (~/.cache/edgeopt-bench-venv, ~/.cache/edgeopt-venv). nullopt when none is found or it fails.
// The product itself never needs Python: this only fills the report's peer column.
std::optional<double> ort_latency_ms(const std::string& model_path, const Tensor& sample, int threads, int runs,
                                     const std::filesystem::path& scratch_dir);

// The target's description for the report ("host": this machine, detected).
nlohmann::json target_json(const std::string& target);
// Adds energy_mj_per_inference and energy_source to each card (n cards).
void annotate_energy(size_t n, const std::function<nlohmann::json&(size_t)>& card,
                     const std::function<const Graph&(size_t)>& graph, const Tensor& sample, int threads);
// The paper's Tables 3 and 4: baseline and best on this machine (measured) and on every named
// hardware profile (estimates, labelled).
nlohmann::json platform_table(const nlohmann::json& base_card, const Graph& base, const nlohmann::json& best_card,
                              const Graph& best, const Tensor& sample);
// report.json, report.md and report.html in dir (each written atomically).
void write_report_files(const std::filesystem::path& dir, const nlohmann::json& report);

}  // namespace edgeopt::optimize

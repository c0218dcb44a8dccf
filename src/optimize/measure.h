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
#include "hw/profiles.h"
#include "hw/roofline.h"

namespace edgeopt::optimize {

struct LatencyStats {
  double p50_ms = 0, p99_ms = 0;
  int64_t runs = 0;
};
// Every graph gets a Session; then `rounds` times, each graph runs `runs` times in turn (after
// warm-up), so a load change on a shared machine hits all of them alike. Medians over all runs.
// `after_round`, when set, runs after each round (the peer runtime's share of the same rounds).
std::vector<LatencyStats> interleaved_latency(const std::vector<const Graph*>& graphs, const Tensor& sample,
                                              int rounds, int runs, const std::function<void()>& after_round = {});

struct MemoryStats {
  double peak_mb = 0;  // peak live activations of one batch-1 run + the session's weights, MiB
};
MemoryStats session_memory(const Graph& g, const Tensor& sample);

// Per-node time (profiled Session, batch 1) of the baseline and the chosen model, matched by node
// name (after the runtime's passes; unmatched rows have a null on the other side), largest first.
nlohmann::json layer_latency(const Graph& baseline, const Graph& best, const Tensor& sample, int threads);

// The same peer timing in rounds: one Python process keeps the ONNX Runtime session open and runs
// `runs` inferences each time run() asks, so its rounds interleave with interleaved_latency's and a
// load change on a shared machine hits both alike (a separate timing phase did not: on this VM the
// ratio to ONNX Runtime moved by 2x between runs).
//
//   OrtTimer ort(path, sample, 1, out_dir);
//   if (ort.ok()) interleaved_latency(graphs, sample, 5, 40, [&] { ort.run(40); });
//   std::optional<double> p50 = ort.p50_ms();
class OrtTimer {
 public:
  // Starts the first Python that loads onnxruntime and the model: $EDGEOPT_ORT_PYTHON, else the
  // venvs the benchmarks and tests create (~/.cache/edgeopt-bench-venv, ~/.cache/edgeopt-venv); ok()
  // is false when none does. The product itself never needs Python: this only fills the peer column.
  OrtTimer(const std::string& model_path, const Tensor& sample, int threads, const std::filesystem::path& scratch_dir);
  ~OrtTimer();  // ends the process and removes its files
  OrtTimer(const OrtTimer&) = delete;
  OrtTimer& operator=(const OrtTimer&) = delete;
  bool ok() const { return pid_ > 0; }
  // Times `runs` more inferences; false (and ok() false) when the process has failed.
  bool run(int runs);
  // Median of every timed run so far; nullopt when none.
  std::optional<double> p50_ms() const;

 private:
  void stop();
  int pid_ = -1;
  int to_child_ = -1;
  void* from_child_ = nullptr;  // FILE*
  std::vector<double> ms_;
  std::filesystem::path npy_, script_;
};

// The target the search measures or estimates for: `host` (this machine, detected; latency is
// measured) or a named hardware profile (latency and energy are roofline estimates).
struct Target {
  std::string name;
  bool host = true;
  hw::HardwareProfile profile;
  nlohmann::json info;  // for report.json "target"
};
// host_power_w: the host's active power while running the model (W) when RAPL is not readable;
// <= 0 means the documented assumption of 5 W per busy core (an estimate, labelled).
Target resolve_target(const std::string& name, int threads, double host_power_w);

// What one batch-1 inference costs, from the graph: MACs by the precision they run in (Conv/Gemm/
// MatMul/LSTM/GRU whose weight comes from an int8 DequantizeLinear are int8, from an f16 Cast
// fp16, else fp32), weight bytes as stored, intermediate activation bytes (written and read once),
// input/output bytes, and the node count after the runtime's passes.
hw::ModelCost model_cost(const Graph& g);

// Energy per inference into the card: measured with RAPL/NVML (hw::EnergyMeter) when readable on
// the host, else the estimate (target's active power x latency), with energy_source saying which.
void annotate_energy(nlohmann::json& card, const Graph& g, const Tensor& sample, const Target& t, int threads);
// For a non-host target: the card's latency and energy become the roofline estimate on the
// profile (the host measurement stays as host_latency_ms); an unsupported precision (e.g. fp32 on
// an int8-only accelerator) returns the reason, which rejects the candidate.
std::string apply_target_estimate(nlohmann::json& card, const Graph& g, const Target& t);
// The paper's Tables 3 and 4: baseline and best on this machine (measured) and on every named
// hardware profile (estimates, labelled).
nlohmann::json platform_table(const nlohmann::json& base_card, const Graph& base, const nlohmann::json& best_card,
                              const Graph& best, const Target& host);
// Measured GPU rows for the platform table: runs the CUDA backend's bench program (`bench_program`,
// normally edgeopt-cuda-bench beside edgeopt; docs/cuda.md) on each (variant, model path) at batch 1
// and returns one row per model with latency, throughput, NVML power, energy per inference and GPU
// memory, source "measured (CUDA, NVML)". A missing program, no GPU or a model the backend cannot
// run gives no row for it and a reason in *note (the CPU rows and the estimates stay).
nlohmann::json cuda_platform_rows(const std::string& bench_program,
                                  const std::vector<std::pair<std::string, std::string>>& variant_paths,
                                  std::string* note);
// edgeopt-cuda-bench beside this program (/proc/self/exe), or "" when this build has none.
std::string cuda_bench_program();
// report.json, report.md and report.html in dir (each written atomically).
void write_report_files(const std::filesystem::path& dir, const nlohmann::json& report);

}  // namespace edgeopt::optimize

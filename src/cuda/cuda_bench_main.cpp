// edgeopt-cuda-bench: the `edgeopt bench MODEL --device cuda` numbers (CUDA backend latency,
// pipelined throughput, GPU memory, power and energy; docs/cuda.md). A program of its own, which
// `edgeopt bench --device cuda` execs, so that the edgeopt CLI (and `edgeopt serve` on a CPU box)
// never maps cuDNN/cuBLAS at start-up: linked in, they cost every edgeopt call ~0.15 s and ~200 MB.
#include <cstdio>
#include <exception>
#include <string>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "core/error.h"
#include "cuda/cuda_bench.h"
#include "onnx/import.h"

namespace edgeopt::cuda {
namespace {

struct Args {
  std::string model, dtype = "fp32";
  int64_t batch = 1;
  int iters = 50, warmup = 5;
  bool json = false, optimize = true;
  uint32_t seed = 0;
};

void run(const Args& a) {
  CudaBenchOptions o;
  o.precision = precision_from_name(a.dtype);
  o.batch = a.batch;
  o.iters = a.iters;
  o.warmup = a.warmup;
  o.optimize = a.optimize;
  o.seed = a.seed;
  if (cuda_device_count() == 0)
    throw_error(ErrorCode::kFailedPrecondition, "--device cuda: no CUDA device (cudaGetDeviceCount found none)");
  const Graph g = onnx::load_model(a.model);
  const CudaBenchResult r = bench_cuda(g, o);
  const auto& st = r.stats;
  if (a.json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["device"] = "cuda";
    j["gpu"] = st.device_name;
    j["dtype"] = precision_name(o.precision);
    j["batch"] = a.batch;
    j["iters"] = a.iters;
    j["latency_ms"] = {{"p50", r.p50}, {"p90", r.p90}, {"p99", r.p99}, {"mean", r.mean}, {"min", r.min}};
    j["pipelined_ms_per_request"] = r.pipelined_ms;
    j["throughput_per_s"] = r.throughput_per_s;
    j["cuda_graphs"] = st.cuda_graphs;
    if (!st.cuda_graphs_note.empty()) j["cuda_graphs_note"] = st.cuda_graphs_note;
    j["arena_bytes"] = st.arena_bytes;
    j["weight_bytes"] = st.weight_bytes;
    j["workspace_bytes"] = st.workspace_bytes;
    j["load_ms"] = r.load_ms;
    j["power_w"] = r.power_w ? nlohmann::json(*r.power_w) : nlohmann::json(nullptr);
    j["energy_mj_per_inference"] = r.energy_mj_per_inference ? nlohmann::json(*r.energy_mj_per_inference) : nlohmann::json(nullptr);
    j["energy_method"] = r.energy_method;
    j["gpu_memory_used_mb"] = r.memory ? nlohmann::json(r.memory->used_mb) : nlohmann::json(nullptr);
    j["gpu_memory_total_mb"] = r.memory ? nlohmann::json(r.memory->total_mb) : nlohmann::json(nullptr);
    if (!r.nvml_note.empty()) j["nvml"] = r.nvml_note;
    j["kernels"] = st.node_kernels;
    std::printf("%s\n", j.dump().c_str());
    return;
  }
  std::printf("model       %s\n", a.model.c_str());
  std::printf("device      cuda: %s   dtype %s   batch %lld   iters %d (+%d warmup)   CUDA graphs %s\n",
              st.device_name.c_str(), precision_name(o.precision), static_cast<long long>(a.batch), a.iters,
              a.warmup, st.cuda_graphs ? "on" : ("off: " + st.cuda_graphs_note).c_str());
  std::printf("nodes       %lld on the GPU, %lld views, %lld folded on the host (load %.1f ms)\n",
              static_cast<long long>(st.device_nodes), static_cast<long long>(st.view_nodes),
              static_cast<long long>(st.host_folded_nodes), r.load_ms);
  std::printf("latency ms  p50 %.3f   p90 %.3f   p99 %.3f   mean %.3f   min %.3f  (host in -> host out)\n", r.p50, r.p90,
              r.p99, r.mean, r.min);
  std::printf("pipelined   %.3f ms/request (uploads/downloads overlapped)   throughput %.1f inferences/s\n",
              r.pipelined_ms, r.throughput_per_s);
  std::printf("memory      arena %.2f MB   weights %.2f MB   workspace %.2f MB", st.arena_bytes / 1048576.0,
              st.weight_bytes / 1048576.0, st.workspace_bytes / 1048576.0);
  if (r.memory) std::printf("   GPU used %.0f / %.0f MB", r.memory->used_mb, r.memory->total_mb);
  std::printf("\n");
  if (r.power_w)
    std::printf("power       %.1f W   energy %.3f mJ/inference (%s)\n", *r.power_w,
                r.energy_mj_per_inference ? *r.energy_mj_per_inference : 0.0, r.energy_method.c_str());
  else
    std::printf("power       not available (%s)\n", r.nvml_note.c_str());
}

}  // namespace
}  // namespace edgeopt::cuda

int main(int argc, char** argv) {
  edgeopt::cuda::Args a;
  bool no_optimize = false;
  CLI::App app{"CUDA backend numbers for `edgeopt bench --device cuda` (run through edgeopt bench)"};
  app.add_option("model", a.model, "ONNX model file")->required();
  app.add_option("--dtype", a.dtype, "fp32 (default), tf32 or fp16");
  app.add_option("--batch", a.batch, "batch size (default 1)");
  app.add_option("--iters", a.iters, "timed runs (default 50)");
  app.add_option("--warmup", a.warmup, "untimed runs first (default 5)");
  app.add_option("--seed", a.seed, "seed of the random inputs");
  app.add_flag("--json", a.json, "one JSON object");
  app.add_flag("--no-optimize", no_optimize, "skip the graph passes");
  CLI11_PARSE(app, argc, argv);
  a.optimize = !no_optimize;
  try {
    edgeopt::cuda::run(a);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edgeopt: error: %s\n", e.what());
    return 1;
  }
  return 0;
}

// `edgeopt bench MODEL --device cuda [--dtype fp32|fp16]`: the CUDA backend's numbers (src/cuda,
// docs/cuda.md). Not a verb of its own: bench.cpp calls run_bench_cuda. Without the backend
// compiled in (EDGEOPT_CUDA=OFF, or no nvcc/cuDNN at configure time) it is a clear error.
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/verbs/bench_cuda.h"
#include "core/error.h"
#include "onnx/import.h"
#ifdef EDGEOPT_HAVE_CUDA
#include "cuda/cuda_bench.h"
#endif

namespace edgeopt::cli {

#ifndef EDGEOPT_HAVE_CUDA
void run_bench_cuda(const CudaBenchArgs&) {
  throw_error(ErrorCode::kUnimplemented,
              "--device cuda: this edgeopt was built without the CUDA backend (configure with -DEDGEOPT_CUDA=ON "
              "on a machine with nvcc, cuBLAS and cuDNN; see docs/cuda.md)");
}
#else
void run_bench_cuda(const CudaBenchArgs& a) {
  cuda::CudaBenchOptions o;
  o.precision = cuda::precision_from_name(a.dtype);
  o.batch = a.batch;
  o.iters = a.iters;
  o.warmup = a.warmup;
  o.optimize = a.optimize;
  o.seed = a.seed;
  if (cuda::cuda_device_count() == 0)
    throw_error(ErrorCode::kFailedPrecondition, "--device cuda: no CUDA device (cudaGetDeviceCount found none)");
  const Graph g = onnx::load_model(a.model);
  const cuda::CudaBenchResult r = cuda::bench_cuda(g, o);
  const auto& st = r.stats;
  if (a.json) {
    nlohmann::json j;
    j["model"] = a.model;
    j["device"] = "cuda";
    j["gpu"] = st.device_name;
    j["dtype"] = cuda::precision_name(o.precision);
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
              st.device_name.c_str(), cuda::precision_name(o.precision), static_cast<long long>(a.batch), a.iters,
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
#endif

}  // namespace edgeopt::cli

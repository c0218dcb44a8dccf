// What `edgeopt bench MODEL --device cuda` measures (src/cli/verbs/bench_cuda.cpp prints it):
// batch latency of CudaSession::run (inputs on the host in, outputs on the host out), the
// pipelined time per request of run_many (uploads/downloads overlapped), and NVML power, energy
// per inference and device memory when NVML is present.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "cuda/cuda_session.h"
#include "cuda/nvml.h"

namespace edgeopt::cuda {

struct CudaBenchOptions {
  Precision precision = Precision::kF32;
  int64_t batch = 1;
  int iters = 50;
  int warmup = 5;
  bool cuda_graphs = true;
  bool optimize = true;
  uint32_t seed = 0;
};

struct CudaBenchResult {
  CudaSessionStats stats;
  double load_ms = 0;
  double p50 = 0, p90 = 0, p99 = 0, mean = 0, min = 0;  // ms per run(), sync
  double pipelined_ms = 0;                              // ms per request in run_many
  double throughput_per_s = 0;                          // samples/s from the pipelined time
  std::optional<double> power_w;
  std::optional<double> energy_mj_per_inference;       // per request (batch samples)
  std::string energy_method;                            // "NVML energy counter" or "power x time"
  std::optional<GpuMemory> memory;
  std::string nvml_note;                                // why readings are absent
};

// Throws FailedPrecondition "no CUDA device" without a GPU; Unimplemented for unsupported nodes.
CudaBenchResult bench_cuda(const Graph& g, const CudaBenchOptions& o);

}  // namespace edgeopt::cuda

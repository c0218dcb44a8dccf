// The --device cuda path of `edgeopt bench` (bench_cuda.cpp): the CUDA backend's latency,
// pipelined throughput, power and energy; a clear error when the backend is not built in.
#pragma once
#include <cstdint>
#include <string>

namespace edgeopt::cli {

struct CudaBenchArgs {
  std::string model, dtype;
  int64_t batch = 1;
  int iters = 50, warmup = 5;
  bool json = false, optimize = true;
  uint32_t seed = 0;
};
void run_bench_cuda(const CudaBenchArgs& a);

}  // namespace edgeopt::cli

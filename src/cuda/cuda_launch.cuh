// Launch helpers shared by the backend's .cu files: one block size, a grid that covers n elements
// (capped: the loops are grid-stride, so any n fits any grid), the grid-stride loop, and the
// launch status as an int (cudaError_t; 0 = success) for the launch_* functions to return.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace edgeopt::cuda {

inline constexpr int kThreads = 256;

inline int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

inline int launch_status() { return static_cast<int>(cudaGetLastError()); }

#define EDGEOPT_GRID_LOOP(i, n)                                                                  \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

}  // namespace edgeopt::cuda

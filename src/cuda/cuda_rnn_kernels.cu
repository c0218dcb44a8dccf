// LSTM/GRU gate kernels and Transpose (cuda_rnn_kernels.h). One thread per (direction, batch
// entry, hidden unit), running cuda_rnn_math.h's element functions (f32 math, the CPU
// reference's order of operations).
#include "cuda/cuda_rnn_kernels.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "cuda/cuda_launch.cuh"
#include "cuda/cuda_rnn_math.h"

namespace edgeopt::cuda {
namespace {


template <typename T>
__global__ void rnn_init_kernel(RnnStep p, const T* h0, const T* c0) {
  EDGEOPT_GRID_LOOP(i, p.dirs * p.batch * p.hidden) rnn_math::init_elem<T>(p, i, h0, c0);
}

template <typename T>
__global__ void rnn_step_kernel(RnnStep p, int64_t s, int phase) {
  EDGEOPT_GRID_LOOP(i, p.dirs * p.batch * p.hidden) rnn_math::step_elem<T>(p, i, s, phase);
}

template <typename T>
__global__ void rnn_final_kernel(RnnStep p, T* y_h, T* y_c) {
  EDGEOPT_GRID_LOOP(i, p.dirs * p.batch * p.hidden) rnn_math::final_elem<T>(p, i, y_h, y_c);
}

template <typename E>
__global__ void transpose_kernel(const E* x, E* y, TransposeShape s, int64_t n) {
  EDGEOPT_GRID_LOOP(i, n) {
    int64_t rem = i, off = 0;
    for (int d = s.rank - 1; d >= 0; --d) {
      off += (rem % s.out[d]) * s.in_stride[d];
      rem /= s.out[d];
    }
    y[i] = x[off];
  }
}

template <typename E>
__global__ void gather_kernel(const E* x, E* y, int64_t dim, int64_t inner, const int64_t* idx, int64_t n_idx,
                              int64_t n) {
  EDGEOPT_GRID_LOOP(i, n) {
    const int64_t in = i % inner, k = (i / inner) % n_idx, o = i / (inner * n_idx);
    y[i] = x[(o * dim + idx[k]) * inner + in];
  }
}

}  // namespace

int launch_rnn_init(const RnnStep& p, const void* h0, const void* c0, cudaStream_t stream) {
  const int64_t n = p.dirs * p.batch * p.hidden;
  if (p.t == ElemType::kF16)
    rnn_init_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<const __half*>(h0),
                                                                     static_cast<const __half*>(c0));
  else
    rnn_init_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<const float*>(h0),
                                                                    static_cast<const float*>(c0));
  return launch_status();
}

int launch_rnn_step(const RnnStep& p, int64_t s, int phase, cudaStream_t stream) {
  const int64_t n = p.dirs * p.batch * p.hidden;
  if (p.t == ElemType::kF16)
    rnn_step_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(p, s, phase);
  else
    rnn_step_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(p, s, phase);
  return launch_status();
}

int launch_rnn_final(const RnnStep& p, void* y_h, void* y_c, cudaStream_t stream) {
  const int64_t n = p.dirs * p.batch * p.hidden;
  if (p.t == ElemType::kF16)
    rnn_final_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<__half*>(y_h),
                                                                      static_cast<__half*>(y_c));
  else
    rnn_final_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<float*>(y_h),
                                                                     static_cast<float*>(y_c));
  return launch_status();
}

int launch_transpose(const void* x, void* y, int elem_bytes, const TransposeShape& s, cudaStream_t stream) {
  int64_t n = 1;
  for (int d = 0; d < s.rank; ++d) n *= s.out[d];
  if (n == 0) return 0;
  switch (elem_bytes) {
    case 1:
      transpose_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y),
                                                               s, n);
      break;
    case 2:
      transpose_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint16_t*>(x),
                                                               static_cast<uint16_t*>(y), s, n);
      break;
    case 4:
      transpose_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint32_t*>(x),
                                                               static_cast<uint32_t*>(y), s, n);
      break;
    case 8:
      transpose_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint64_t*>(x),
                                                               static_cast<uint64_t*>(y), s, n);
      break;
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
  return launch_status();
}

int launch_gather(const void* x, void* y, int elem_bytes, int64_t outer, int64_t dim, int64_t inner,
                  const int64_t* idx, int64_t n_idx, cudaStream_t stream) {
  const int64_t n = outer * n_idx * inner;
  if (n == 0) return 0;
  switch (elem_bytes) {
    case 1:
      gather_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint8_t*>(x), static_cast<uint8_t*>(y),
                                                            dim, inner, idx, n_idx, n);
      break;
    case 2:
      gather_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint16_t*>(x), static_cast<uint16_t*>(y),
                                                            dim, inner, idx, n_idx, n);
      break;
    case 4:
      gather_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint32_t*>(x), static_cast<uint32_t*>(y),
                                                            dim, inner, idx, n_idx, n);
      break;
    case 8:
      gather_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint64_t*>(x), static_cast<uint64_t*>(y),
                                                            dim, inner, idx, n_idx, n);
      break;
    default: return static_cast<int>(cudaErrorInvalidValue);
  }
  return launch_status();
}

}  // namespace edgeopt::cuda

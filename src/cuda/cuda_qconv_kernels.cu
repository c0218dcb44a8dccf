// int8 CNN kernels (cuda_qconv_kernels.h): grid-stride loops over cuda_qconv_math.h's per-element
// functions.
#include "cuda/cuda_qconv_kernels.h"

#include <cuda_runtime.h>

#include "cuda/cuda_launch.cuh"

namespace edgeopt::cuda {
namespace {

__global__ void im2col_s8_kernel(const void* x, bool x_u8, int8_t* a, QConvGeom g, int32_t za, int64_t k_pad) {
  EDGEOPT_GRID_LOOP(i, g.batch * g.oh * g.ow * k_pad) a[i] = im2col_s8_at(x, x_u8, g, za, k_pad, i);
}

__global__ void qconv_epilogue_kernel(QConvGemmTerms t, void* y, QConvGeom g) {
  EDGEOPT_GRID_LOOP(i, qconv_out_count(g)) store_q8(y, g.y_u8, i, qconv_gemm_out(t, g, i));
}

__global__ void qconv_direct_kernel(QConvDirect d, void* y, QConvGeom g) {
  EDGEOPT_GRID_LOOP(i, qconv_out_count(g)) store_q8(y, g.y_u8, i, qconv_direct_out(d, g, i));
}

__global__ void qlinear_add_kernel(const void* a, const void* b, void* c, BroadcastShape s, QAddParams p, int64_t n) {
  EDGEOPT_GRID_LOOP(i, n) store_q8(c, p.c_u8, i, qlinear_add_out(a, b, s, p, i));
}

}  // namespace

int launch_im2col_s8(const void* x, bool x_u8, int8_t* a, const QConvGeom& g, int32_t za_s8, int64_t k_pad,
                     cudaStream_t stream) {
  im2col_s8_kernel<<<blocks_for(g.batch * g.oh * g.ow * k_pad), kThreads, 0, stream>>>(x, x_u8, a, g, za_s8, k_pad);
  return launch_status();
}

int launch_qconv_epilogue(const QConvGemmTerms& t, void* y, const QConvGeom& g, cudaStream_t stream) {
  qconv_epilogue_kernel<<<blocks_for(qconv_out_count(g)), kThreads, 0, stream>>>(t, y, g);
  return launch_status();
}

int launch_qconv_direct(const QConvDirect& d, void* y, const QConvGeom& g, cudaStream_t stream) {
  qconv_direct_kernel<<<blocks_for(qconv_out_count(g)), kThreads, 0, stream>>>(d, y, g);
  return launch_status();
}

int launch_qlinear_add(const void* a, const void* b, void* c, const BroadcastShape& s, const QAddParams& p,
                       cudaStream_t stream) {
  int64_t n = 1;
  for (int d = 0; d < s.rank; ++d) n *= s.out[d];
  qlinear_add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, c, s, p, n);
  return launch_status();
}

}  // namespace edgeopt::cuda

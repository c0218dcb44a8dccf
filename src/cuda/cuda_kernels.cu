// The backend's own kernels. Grid-stride loops (any n fits any grid), math in f32 whatever the
// storage, int8 arithmetic through the very quant:: functions the CPU kernels use.
#include "cuda/cuda_kernels.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>

#include "cuda/cuda_launch.cuh"
#include "kernels/quant/requantize.h"

namespace edgeopt::cuda {
namespace {

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }

__device__ __forceinline__ float clampf(float v, float lo, float hi) { return fminf(fmaxf(v, lo), hi); }



__global__ void convert_f32_f16_kernel(const float* x, __half* y, int64_t n) {
  EDGEOPT_GRID_LOOP(i, n) y[i] = __float2half_rn(x[i]);
}
__global__ void convert_f16_f32_kernel(const __half* x, float* y, int64_t n) {
  EDGEOPT_GRID_LOOP(i, n) y[i] = __half2float(x[i]);
}

// One block row per (image, channel) plane: the bias is one load per thread and no element index
// is divided (64-bit division per element made this pass compute-bound at batch 32).
template <typename T>
__global__ void bias_act_nchw_kernel(T* y, const T* bias, const T* res, int64_t planes, int channels, int spatial,
                                     float lo, float hi) {
  const int64_t plane = blockIdx.y + static_cast<int64_t>(gridDim.y) * blockIdx.z;
  if (plane >= planes) return;  // the y * z grid rounds planes up
  const float b = bias ? load(bias, plane % channels) : 0.f;
  T* yp = y + plane * spatial;
  const T* rp = res ? res + plane * spatial : nullptr;
  for (int i = blockIdx.x * blockDim.x + threadIdx.x; i < spatial; i += blockDim.x * gridDim.x) {
    float v = load(yp, i) + b;
    if (rp) v += load(rp, i);
    store(yp, i, clampf(v, lo, hi));
  }
}

// Depthwise 3x3 (one filter per channel), NCHW, stride s, symmetric pads, bias and activation
// fused: each thread reads its 3x3 window once and writes its output once. cuDNN runs these as
// grouped GEMMs plus our separate epilogue pass; depthwise layers are memory-bound, so one pass wins.
template <typename T, int S>
__global__ void dwconv3x3_nchw_kernel(const T* x, const T* w, const T* bias, const T* res, T* y, int64_t planes,
                                      int channels, int h, int wd, int oh, int ow, int pad_h, int pad_w, float lo,
                                      float hi) {
  const int64_t plane = blockIdx.y + static_cast<int64_t>(gridDim.y) * blockIdx.z;
  if (plane >= planes) return;  // the y * z grid rounds planes up
  const int c = static_cast<int>(plane % channels);
  float k[9];
#pragma unroll
  for (int j = 0; j < 9; ++j) k[j] = load(w, c * 9 + j);
  const float b = bias ? load(bias, c) : 0.f;
  const T* xp = x + plane * h * wd;
  T* yp = y + plane * oh * ow;
  const T* rp = res ? res + plane * oh * ow : nullptr;
  for (int p = blockIdx.x * blockDim.x + threadIdx.x; p < oh * ow; p += blockDim.x * gridDim.x) {
    const int oy = p / ow, ox = p - oy * ow;
    const int iy0 = oy * S - pad_h, ix0 = ox * S - pad_w;
    float acc = b;
#pragma unroll
    for (int ky = 0; ky < 3; ++ky) {
      const int iy = iy0 + ky;
      if (iy < 0 || iy >= h) continue;
#pragma unroll
      for (int kx = 0; kx < 3; ++kx) {
        const int ix = ix0 + kx;
        if (ix >= 0 && ix < wd) acc = fmaf(load(xp, iy * wd + ix), k[ky * 3 + kx], acc);
      }
    }
    if (rp) acc += load(rp, p);
    store(yp, p, clampf(acc, lo, hi));
  }
}

// Planes go on grid y (and z past 65535; kernels skip the y * z - planes extra blocks); x covers one plane.
dim3 plane_grid(int64_t planes, int64_t per_plane) {
  const int64_t bx = (per_plane + kThreads - 1) / kThreads;
  const int64_t by = planes < 65535 ? planes : 65535;
  return dim3(static_cast<unsigned>(bx < 1 ? 1 : (bx > 1024 ? 1024 : bx)), static_cast<unsigned>(by),
              static_cast<unsigned>((planes + by - 1) / by));
}

template <typename T>
__global__ void gemm_epilogue_kernel(T* y, const T* c, int64_t csm, int64_t csn, float beta, int64_t cols, int64_t n,
                                     float lo, float hi) {
  EDGEOPT_GRID_LOOP(i, n) {
    float v = load(y, i);
    if (c) v += beta * load(c, (i / cols) * csm + (i % cols) * csn);
    store(y, i, clampf(v, lo, hi));
  }
}

__device__ __forceinline__ float unary_op(UnaryOp op, float x, float p0, float p1) {
  switch (op) {
    case UnaryOp::kRelu: return fmaxf(x, 0.f);
    case UnaryOp::kSigmoid: return 1.f / (1.f + expf(-x));
    case UnaryOp::kTanh: return tanhf(x);
    case UnaryOp::kHardSwish: return x * clampf(x / 6.f + 0.5f, 0.f, 1.f);
    case UnaryOp::kHardSigmoid: return clampf(p0 * x + p1, 0.f, 1.f);
    case UnaryOp::kClip: return clampf(x, p0, p1);
    case UnaryOp::kLeakyRelu: return x >= 0.f ? x : p0 * x;
    case UnaryOp::kExp: return expf(x);
    case UnaryOp::kNeg: return -x;
    case UnaryOp::kAbs: return fabsf(x);
    case UnaryOp::kSqrt: return sqrtf(x);
  }
  return x;
}

template <typename T>
__global__ void unary_kernel(UnaryOp op, const T* x, T* y, int64_t n, float p0, float p1) {
  EDGEOPT_GRID_LOOP(i, n) store(y, i, unary_op(op, load(x, i), p0, p1));
}

__device__ __forceinline__ float binary_op(BinaryOp op, float a, float b) {
  switch (op) {
    case BinaryOp::kAdd: return a + b;
    case BinaryOp::kSub: return a - b;
    case BinaryOp::kMul: return a * b;
    case BinaryOp::kDiv: return a / b;
    case BinaryOp::kMax: return fmaxf(a, b);
    case BinaryOp::kMin: return fminf(a, b);
  }
  return a;
}

template <typename T>
__global__ void binary_kernel(BinaryOp op, const T* a, const T* b, T* y, BroadcastShape s, int64_t n) {
  EDGEOPT_GRID_LOOP(i, n) {
    int64_t ia = 0, ib = 0;
    broadcast_offsets(s, i, &ia, &ib);
    store(y, i, binary_op(op, load(a, ia), load(b, ib)));
  }
}

__device__ __forceinline__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

// One warp per (outer, inner) row; lanes stride over the softmax axis.
template <typename T>
__global__ void softmax_kernel(const T* x, T* y, int64_t outer, int64_t n, int64_t inner, bool log) {
  const int64_t warps = (static_cast<int64_t>(gridDim.x) * blockDim.x) / 32;
  const int lane = threadIdx.x % 32;
  for (int64_t row = (blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x) / 32; row < outer * inner;
       row += warps) {
    const int64_t base = (row / inner) * n * inner + row % inner;
    float m = -INFINITY;
    for (int64_t j = lane; j < n; j += 32) m = fmaxf(m, load(x, base + j * inner));
    m = warp_max(m);
    float sum = 0.f;
    for (int64_t j = lane; j < n; j += 32) sum += expf(load(x, base + j * inner) - m);
    sum = warp_sum(sum);
    const float lsum = logf(sum);
    for (int64_t j = lane; j < n; j += 32) {
      const float v = load(x, base + j * inner) - m;
      store(y, base + j * inner, log ? v - lsum : expf(v) / sum);
    }
  }
}

template <typename T>
__global__ void pool2d_kernel(const T* x, T* y, Pool2d p, int64_t n) {
  EDGEOPT_GRID_LOOP(i, n) {
    const int64_t ox = i % p.ow, oy = (i / p.ow) % p.oh, plane = i / (p.ow * p.oh);
    const T* xp = x + plane * p.ih * p.iw;
    float acc = p.max ? -INFINITY : 0.f;
    int64_t count = 0, count_pad_h = 0, count_pad_w = 0;
    for (int64_t ky = 0; ky < p.kh; ++ky) {
      const int64_t iy = oy * p.sh - p.ph + ky * p.dh;
      count_pad_h += iy >= -p.ph && iy < p.ih + p.pe_h;
      if (iy < 0 || iy >= p.ih) continue;
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const int64_t ix = ox * p.sw - p.pw + kx * p.dw;
        if (ix < 0 || ix >= p.iw) continue;
        const float v = load(xp, iy * p.iw + ix);
        acc = p.max ? fmaxf(acc, v) : acc + v;
        ++count;
      }
    }
    if (!p.max) {
      for (int64_t kx = 0; kx < p.kw; ++kx) {
        const int64_t ix = ox * p.sw - p.pw + kx * p.dw;
        count_pad_w += ix >= -p.pw && ix < p.iw + p.pe_w;
      }
      const int64_t div = p.include_pad ? count_pad_h * count_pad_w : count;
      acc = div > 0 ? acc / static_cast<float>(div) : 0.f;
    }
    store(y, i, acc);
  }
}

template <typename T>
__global__ void global_pool_kernel(const T* x, T* y, int64_t spatial, bool max) {
  __shared__ float part[kThreads / 32];
  const int64_t plane = blockIdx.x;
  const T* xp = x + plane * spatial;
  float acc = max ? -INFINITY : 0.f;
  for (int64_t s = threadIdx.x; s < spatial; s += blockDim.x) acc = max ? fmaxf(acc, load(xp, s)) : acc + load(xp, s);
  acc = max ? warp_max(acc) : warp_sum(acc);
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = acc;
  __syncthreads();
  if (threadIdx.x < 32) {
    float v = threadIdx.x < blockDim.x / 32 ? part[threadIdx.x] : (max ? -INFINITY : 0.f);
    v = max ? warp_max(v) : warp_sum(v);
    if (threadIdx.x == 0) store(y, plane, max ? v : v / static_cast<float>(spatial));
  }
}

template <typename T>
__global__ void quantize_kernel(const T* x, void* y, bool y_u8, int64_t n, float scale, int32_t zp) {
  EDGEOPT_GRID_LOOP(i, n) {
    const float v = load(x, i);
    if (y_u8)
      static_cast<uint8_t*>(y)[i] = static_cast<uint8_t>(kernels::quant::quantize_f32(v, scale, zp, 0, 255));
    else
      static_cast<int8_t*>(y)[i] = static_cast<int8_t>(kernels::quant::quantize_f32(v, scale, zp, -128, 127));
  }
}

template <typename T>
__global__ void dequantize_kernel(const void* x, bool x_u8, T* y, int64_t n, float scale, int32_t zp) {
  EDGEOPT_GRID_LOOP(i, n) {
    const int32_t q = x_u8 ? static_cast<const uint8_t*>(x)[i] : static_cast<const int8_t*>(x)[i];
    store(y, i, kernels::quant::dequantize_f32(q, scale, zp));
  }
}

__global__ void u8_to_s8_kernel(const uint8_t* x, int8_t* y, int64_t n) {
  EDGEOPT_GRID_LOOP(i, n) y[i] = static_cast<int8_t>(static_cast<int32_t>(x[i]) - 128);
}

__global__ void row_sums_s8_kernel(const int8_t* a, int32_t* sums, int64_t m, int64_t k) {
  EDGEOPT_GRID_LOOP(i, m) {
    int32_t s = 0;  // |sum| <= 128 * K: exact for K < 2^24
    for (int64_t j = 0; j < k; ++j) s += a[i * k + j];
    sums[i] = s;
  }
}

// 16x16 tiles through shared memory; wrapping s32 (unsigned arithmetic: signed overflow is UB).
__global__ void gemm_s8_s32_kernel(const int8_t* a, const int8_t* bt, int32_t* s, int64_t m, int64_t n, int64_t k) {
  __shared__ int32_t ta[16][17], tb[16][17];
  const int64_t row = blockIdx.y * 16 + threadIdx.y, col = blockIdx.x * 16 + threadIdx.x;
  uint32_t acc = 0;
  for (int64_t k0 = 0; k0 < k; k0 += 16) {
    const int64_t ka = k0 + threadIdx.x, kb = k0 + threadIdx.y;
    ta[threadIdx.y][threadIdx.x] = row < m && ka < k ? a[row * k + ka] : 0;
    const int64_t bcol = blockIdx.x * 16 + threadIdx.x;
    tb[threadIdx.y][threadIdx.x] = bcol < n && kb < k ? bt[bcol * k + kb] : 0;
    __syncthreads();
    for (int kk = 0; kk < 16; ++kk)
      acc += static_cast<uint32_t>(ta[threadIdx.y][kk] * tb[kk][threadIdx.x]);
    __syncthreads();
  }
  if (row < m && col < n) s[row * n + col] = static_cast<int32_t>(acc);
}

__global__ void requantize_gemm_kernel(const int32_t* s, void* y, RequantEpilogue e) {
  EDGEOPT_GRID_LOOP(i, e.m * e.n) {
    const int64_t r = i / e.n, j = i % e.n;
    const uint32_t zb = static_cast<uint32_t>(e.zb[j]), za = static_cast<uint32_t>(e.za);
    uint32_t acc = static_cast<uint32_t>(s[i]) - zb * static_cast<uint32_t>(e.row_sum_a[r]) -
                   za * static_cast<uint32_t>(e.col_sum_b[j]) + static_cast<uint32_t>(e.k) * za * zb;
    if (e.bias) acc += static_cast<uint32_t>(e.bias[j]);
    const int32_t q = kernels::quant::requantize(static_cast<int32_t>(acc),
                                                 kernels::quant::QuantMultiplier{e.multiplier[j], e.shift[j]}, e.y_zp,
                                                 e.qmin, e.qmax);
    if (e.y_u8)
      static_cast<uint8_t*>(y)[i] = static_cast<uint8_t>(q);
    else
      static_cast<int8_t*>(y)[i] = static_cast<int8_t>(q);
  }
}

}  // namespace

int launch_convert_f32_to_f16(const float* x, void* y, int64_t n, cudaStream_t stream) {
  convert_f32_f16_kernel<<<blocks_for(n), kThreads, 0, stream>>>(x, static_cast<__half*>(y), n);
  return launch_status();
}
int launch_convert_f16_to_f32(const void* x, float* y, int64_t n, cudaStream_t stream) {
  convert_f16_f32_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const __half*>(x), y, n);
  return launch_status();
}

int launch_bias_act_nchw(ElemType t, void* y, const void* bias, const void* residual, int64_t batch, int64_t channels,
                         int64_t spatial, float lo, float hi, cudaStream_t stream) {
  const int64_t planes = batch * channels;
  if (planes == 0 || spatial == 0) return 0;
  const dim3 g = plane_grid(planes, spatial);
  const int c = static_cast<int>(channels), s = static_cast<int>(spatial);
  if (t == ElemType::kF32)
    bias_act_nchw_kernel<float><<<g, kThreads, 0, stream>>>(static_cast<float*>(y), static_cast<const float*>(bias),
                                                             static_cast<const float*>(residual), planes, c, s, lo, hi);
  else
    bias_act_nchw_kernel<__half><<<g, kThreads, 0, stream>>>(static_cast<__half*>(y), static_cast<const __half*>(bias),
                                                              static_cast<const __half*>(residual), planes, c, s, lo, hi);
  return launch_status();
}

int launch_dwconv3x3_nchw(ElemType t, const void* x, const void* w, const void* bias, const void* residual, void* y,
                          const DwConv3x3& d, cudaStream_t stream) {
  const int64_t planes = d.batch * d.channels;
  if (planes == 0) return 0;
  const dim3 g = plane_grid(planes, static_cast<int64_t>(d.out_h) * d.out_w);
#define EDGEOPT_DW_LAUNCH(T, S)                                                                                     \
  dwconv3x3_nchw_kernel<T, S><<<g, kThreads, 0, stream>>>(                                                          \
      static_cast<const T*>(x), static_cast<const T*>(w), static_cast<const T*>(bias), static_cast<const T*>(residual), \
      static_cast<T*>(y), planes, d.channels, d.in_h, d.in_w, d.out_h, d.out_w, d.pad_h, d.pad_w, d.lo, d.hi)
  if (t == ElemType::kF32) {
    if (d.stride == 1) EDGEOPT_DW_LAUNCH(float, 1);
    else EDGEOPT_DW_LAUNCH(float, 2);
  } else {
    if (d.stride == 1) EDGEOPT_DW_LAUNCH(__half, 1);
    else EDGEOPT_DW_LAUNCH(__half, 2);
  }
#undef EDGEOPT_DW_LAUNCH
  return launch_status();
}

int launch_gemm_epilogue(ElemType t, void* y, const void* c, int64_t c_stride_m, int64_t c_stride_n, float beta,
                         int64_t m, int64_t n, float lo, float hi, cudaStream_t stream) {
  const int64_t total = m * n;
  if (t == ElemType::kF32)
    gemm_epilogue_kernel<float><<<blocks_for(total), kThreads, 0, stream>>>(
        static_cast<float*>(y), static_cast<const float*>(c), c_stride_m, c_stride_n, beta, n, total, lo, hi);
  else
    gemm_epilogue_kernel<__half><<<blocks_for(total), kThreads, 0, stream>>>(
        static_cast<__half*>(y), static_cast<const __half*>(c), c_stride_m, c_stride_n, beta, n, total, lo, hi);
  return launch_status();
}

int launch_unary(UnaryOp op, ElemType t, const void* x, void* y, int64_t n, float p0, float p1, cudaStream_t stream) {
  if (t == ElemType::kF32)
    unary_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(op, static_cast<const float*>(x),
                                                                static_cast<float*>(y), n, p0, p1);
  else
    unary_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(op, static_cast<const __half*>(x),
                                                                 static_cast<__half*>(y), n, p0, p1);
  return launch_status();
}

int launch_binary(BinaryOp op, ElemType t, const void* a, const void* b, void* y, const BroadcastShape& s,
                  cudaStream_t stream) {
  int64_t n = 1;
  for (int d = 0; d < s.rank; ++d) n *= s.out[d];
  if (t == ElemType::kF32)
    binary_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(op, static_cast<const float*>(a),
                                                                 static_cast<const float*>(b), static_cast<float*>(y), s, n);
  else
    binary_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(
        op, static_cast<const __half*>(a), static_cast<const __half*>(b), static_cast<__half*>(y), s, n);
  return launch_status();
}

int launch_softmax(ElemType t, const void* x, void* y, int64_t outer, int64_t n, int64_t inner, bool log,
                   cudaStream_t stream) {
  const int blocks = blocks_for(outer * inner * 32);
  if (t == ElemType::kF32)
    softmax_kernel<float><<<blocks, kThreads, 0, stream>>>(static_cast<const float*>(x), static_cast<float*>(y), outer,
                                                           n, inner, log);
  else
    softmax_kernel<__half><<<blocks, kThreads, 0, stream>>>(static_cast<const __half*>(x), static_cast<__half*>(y),
                                                            outer, n, inner, log);
  return launch_status();
}

int launch_pool2d(ElemType t, const void* x, void* y, const Pool2d& p, cudaStream_t stream) {
  const int64_t n = p.planes * p.oh * p.ow;
  if (t == ElemType::kF32)
    pool2d_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const float*>(x), static_cast<float*>(y), p, n);
  else
    pool2d_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const __half*>(x),
                                                                  static_cast<__half*>(y), p, n);
  return launch_status();
}

int launch_global_pool(ElemType t, const void* x, void* y, int64_t planes, int64_t spatial, bool max,
                       cudaStream_t stream) {
  if (planes <= 0) return 0;
  if (t == ElemType::kF32)
    global_pool_kernel<float><<<static_cast<unsigned>(planes), kThreads, 0, stream>>>(
        static_cast<const float*>(x), static_cast<float*>(y), spatial, max);
  else
    global_pool_kernel<__half><<<static_cast<unsigned>(planes), kThreads, 0, stream>>>(
        static_cast<const __half*>(x), static_cast<__half*>(y), spatial, max);
  return launch_status();
}

int launch_quantize_linear(ElemType t, const void* x, void* y, bool y_u8, int64_t n, float scale, int32_t zp,
                           cudaStream_t stream) {
  if (t == ElemType::kF32)
    quantize_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const float*>(x), y, y_u8, n, scale, zp);
  else
    quantize_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const __half*>(x), y, y_u8, n, scale, zp);
  return launch_status();
}

int launch_dequantize_linear(ElemType t, const void* x, bool x_u8, void* y, int64_t n, float scale, int32_t zp,
                             cudaStream_t stream) {
  if (t == ElemType::kF32)
    dequantize_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(x, x_u8, static_cast<float*>(y), n, scale, zp);
  else
    dequantize_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(x, x_u8, static_cast<__half*>(y), n, scale, zp);
  return launch_status();
}

int launch_u8_to_s8(const void* x, void* y, int64_t n, cudaStream_t stream) {
  u8_to_s8_kernel<<<blocks_for(n), kThreads, 0, stream>>>(static_cast<const uint8_t*>(x), static_cast<int8_t*>(y), n);
  return launch_status();
}

int launch_row_sums_s8(const int8_t* a, int32_t* sums, int64_t m, int64_t k, cudaStream_t stream) {
  row_sums_s8_kernel<<<blocks_for(m), kThreads, 0, stream>>>(a, sums, m, k);
  return launch_status();
}

int launch_gemm_s8_s32(const int8_t* a, const int8_t* bt, int32_t* s, int64_t m, int64_t n, int64_t k,
                       cudaStream_t stream) {
  const dim3 block(16, 16), grid(static_cast<unsigned>((n + 15) / 16), static_cast<unsigned>((m + 15) / 16));
  gemm_s8_s32_kernel<<<grid, block, 0, stream>>>(a, bt, s, m, n, k);
  return launch_status();
}

int launch_requantize_gemm(const int32_t* s, void* y, const RequantEpilogue& e, cudaStream_t stream) {
  requantize_gemm_kernel<<<blocks_for(e.m * e.n), kThreads, 0, stream>>>(s, y, e);
  return launch_status();
}

}  // namespace edgeopt::cuda

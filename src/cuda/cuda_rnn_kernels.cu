// LSTM/GRU gate kernels and Transpose (cuda_rnn_kernels.h). One thread per (direction, batch
// entry, hidden unit); math in f32 in the CPU reference's order of operations.
#include "cuda/cuda_rnn_kernels.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace edgeopt::cuda {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

__device__ __forceinline__ float load(const float* p, int64_t i) { return p[i]; }
__device__ __forceinline__ float load(const __half* p, int64_t i) { return __half2float(p[i]); }
__device__ __forceinline__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }

#define EDGEOPT_GRID_LOOP(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<int64_t>(blockDim.x) * gridDim.x)

// recurrent::Activation::operator() (rnn_common.cpp), for the device.
__device__ __forceinline__ float rnn_act(const RnnAct& a, float x) {
  switch (a.kind) {
    case RnnActKind::kRelu: return x > 0.f ? x : 0.f;
    case RnnActKind::kTanh: return tanhf(x);
    case RnnActKind::kSigmoid: return 1.f / (1.f + expf(-x));
    case RnnActKind::kAffine: return a.alpha * x + a.beta;
    case RnnActKind::kLeakyRelu: return x >= 0.f ? x : a.alpha * x;
    case RnnActKind::kThresholdedRelu: return x > a.alpha ? x : 0.f;
    case RnnActKind::kScaledTanh: return a.alpha * tanhf(a.beta * x);
    case RnnActKind::kHardSigmoid: return fmaxf(0.f, fminf(1.f, a.alpha * x + a.beta));
    case RnnActKind::kElu: return x >= 0.f ? x : a.alpha * (expf(x) - 1.f);
    case RnnActKind::kSoftsign: return x / (1.f + fabsf(x));
    case RnnActKind::kSoftplus: return log1pf(expf(x));
  }
  return x;
}

__device__ __forceinline__ float clipped(const RnnStep& p, float v) {
  return p.clip > 0.f ? (v < -p.clip ? -p.clip : (v > p.clip ? p.clip : v)) : v;
}

// rnn_common.h's RnnConfig offsets.
__device__ __forceinline__ int64_t y_off(const RnnStep& p, int64_t t, int64_t d, int64_t b) {
  return (p.layout == 0 ? (t * p.dirs + d) * p.batch + b : (b * p.seq + t) * p.dirs + d) * p.hidden;
}
__device__ __forceinline__ int64_t state_off(const RnnStep& p, int64_t d, int64_t b) {
  return (p.layout == 0 ? d * p.batch + b : b * p.dirs + d) * p.hidden;
}

template <typename T>
__global__ void rnn_init_kernel(RnnStep p, const T* h0, const T* c0) {
  const int64_t n = p.dirs * p.batch * p.hidden;
  EDGEOPT_GRID_LOOP(i, n) {
    const int64_t j = i % p.hidden, b = (i / p.hidden) % p.batch, d = i / (p.hidden * p.batch);
    const int64_t si = b * p.hidden + j, so = state_off(p, d, b) + j;
    const float h = h0 ? load(h0, so) : 0.f;
    p.h[d][si] = h;
    store(static_cast<T*>(p.hq[d]), si, h);
    if (p.c[d]) p.c[d][si] = c0 ? load(c0, so) : 0.f;
  }
}

template <typename T>
__global__ void rnn_step_kernel(RnnStep p, int64_t s, int phase) {
  const int64_t H = p.hidden;
  const int64_t n = p.dirs * p.batch * H;
  const int64_t gates = p.cell == RnnCell::kLstm ? 4 : 3, GH = gates * H;
  EDGEOPT_GRID_LOOP(i, n) {
    const int64_t j = i % H, b = (i / H) % p.batch, d = i / (H * p.batch);
    const int64_t len = p.lens ? p.lens[b] : p.seq;
    if (s >= len) continue;  // past this sequence's end: state frozen, Y stays 0
    const int64_t t = (p.reverse_only || d == 1) ? len - 1 - s : s;
    const int64_t row = p.layout == 0 ? t * p.batch + b : b * p.seq + t;
    const float* xr = p.xp + row * p.dirs * GH + d * GH;
    const float* wb = p.bias[d];  // Wb at [0, GH), Rb at [GH, 2 GH)
    const RnnAct* act = p.act[d];
    const int64_t si = b * H + j;
    float* hs = p.h[d];
    float h_new = 0.f;
    if (p.cell == RnnCell::kLstm) {
      const float* hr = p.hp[d] + b * GH;
      // lstm.cpp: gates[k] = x.W_k + h.R_k, then += Wb_k + Rb_k; gate order i, o, f, c.
      auto pre = [&](int64_t g) {
        const int64_t k = g * H + j;
        float v = xr[k] + hr[k];
        if (wb) v += wb[k] + wb[GH + k];
        return v;
      };
      float ai = pre(0), af = pre(2), ac = pre(3), ao = pre(1);
      const float* pp = p.peep[d];  // P is [i, o, f]
      float c = p.c[d][si];
      if (pp) {
        ai += pp[j] * c;
        af += pp[2 * H + j] * c;
      }
      const float gi = rnn_act(act[0], clipped(p, ai));
      const float gf = p.input_forget ? 1.f - gi : rnn_act(act[0], clipped(p, af));
      const float gc = rnn_act(act[1], clipped(p, ac));
      c = gf * c + gi * gc;
      if (pp) ao += pp[H + j] * c;
      const float go = rnn_act(act[0], clipped(p, ao));
      h_new = go * rnn_act(act[2], c);
      p.c[d][si] = c;
    } else if (p.cell == RnnCell::kGruLinearBeforeReset || phase == 0) {
      // gru.cpp: z, r = f(clip(x.W + h.R + Wb + Rb)); gate order z, r, h.
      const int64_t hn = p.cell == RnnCell::kGruLinearBeforeReset ? GH : 2 * H;
      const float* hr = p.hp[d] + b * hn;
      float zr[2];
      for (int g = 0; g < 2; ++g) {
        const int64_t k = g * H + j;
        float a = xr[k] + hr[k];
        if (wb) a += wb[k] + wb[GH + k];
        zr[g] = rnn_act(act[0], clipped(p, a));
      }
      const float z = zr[0], r = zr[1];
      if (p.cell == RnnCell::kGruResetFirst) {
        // The candidate needs (r*h) R_h^T: a GEMM between the two phases.
        p.z[d][si] = z;
        store(static_cast<T*>(p.rh[d]), si, r * hs[si]);
        continue;
      }
      const int64_t k = 2 * H + j;
      const float xw = xr[k] + (wb ? wb[k] : 0.f);
      const float lin = hr[k] + (wb ? wb[GH + k] : 0.f);
      const float hh = rnn_act(act[1], clipped(p, xw + r * lin));
      h_new = (1.f - z) * hh + z * hs[si];
    } else {  // kGruResetFirst, phase 1
      const int64_t k = 2 * H + j;
      const float xw = xr[k] + (wb ? wb[k] : 0.f);
      const float rb = wb ? wb[GH + k] : 0.f;
      const float hh = rnn_act(act[1], clipped(p, xw + (p.hp2[d][b * H + j] + rb)));
      const float z = p.z[d][si];
      h_new = (1.f - z) * hh + z * hs[si];
    }
    hs[si] = h_new;
    store(static_cast<T*>(p.hq[d]), si, h_new);
    if (p.y) store(static_cast<T*>(p.y), y_off(p, t, d, b) + j, h_new);
  }
}

template <typename T>
__global__ void rnn_final_kernel(RnnStep p, T* y_h, T* y_c) {
  const int64_t n = p.dirs * p.batch * p.hidden;
  EDGEOPT_GRID_LOOP(i, n) {
    const int64_t j = i % p.hidden, b = (i / p.hidden) % p.batch, d = i / (p.hidden * p.batch);
    const int64_t si = b * p.hidden + j, so = state_off(p, d, b) + j;
    if (y_h) store(y_h, so, p.h[d][si]);
    if (y_c && p.c[d]) store(y_c, so, p.c[d][si]);
  }
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

}  // namespace

int launch_rnn_init(const RnnStep& p, const void* h0, const void* c0, cudaStream_t stream) {
  const int64_t n = p.dirs * p.batch * p.hidden;
  if (p.t == ElemType::kF16)
    rnn_init_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<const __half*>(h0),
                                                                     static_cast<const __half*>(c0));
  else
    rnn_init_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<const float*>(h0),
                                                                    static_cast<const float*>(c0));
  return static_cast<int>(cudaGetLastError());
}

int launch_rnn_step(const RnnStep& p, int64_t s, int phase, cudaStream_t stream) {
  const int64_t n = p.dirs * p.batch * p.hidden;
  if (p.t == ElemType::kF16)
    rnn_step_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(p, s, phase);
  else
    rnn_step_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(p, s, phase);
  return static_cast<int>(cudaGetLastError());
}

int launch_rnn_final(const RnnStep& p, void* y_h, void* y_c, cudaStream_t stream) {
  const int64_t n = p.dirs * p.batch * p.hidden;
  if (p.t == ElemType::kF16)
    rnn_final_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<__half*>(y_h),
                                                                      static_cast<__half*>(y_c));
  else
    rnn_final_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(p, static_cast<float*>(y_h),
                                                                     static_cast<float*>(y_c));
  return static_cast<int>(cudaGetLastError());
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
  return static_cast<int>(cudaGetLastError());
}

}  // namespace edgeopt::cuda

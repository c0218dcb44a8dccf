// Per-element math of the LSTM/GRU kernels (cuda_rnn_kernels.cu), host- and device-callable: the
// kernels run these per thread, and cuda_test runs them on the host (GEMMs as loops) against the
// CPU runtime, so the gate math and the layout/direction/sequence_lens indexing are checked on
// machines without a GPU. Index i = (d * batch + b) * hidden + j. Mirrors lstm.cpp / gru.cpp:
// same gate order, same order of additions, activations as rnn_common.cpp, clip on pre-activations.
#pragma once
#include <math.h>

#include <cstdint>

#include "cuda/cuda_rnn_kernels.h"

#ifdef __CUDACC__
#include <cuda_fp16.h>
#define EDGEOPT_RNN_HD __host__ __device__ __forceinline__
#else
#define EDGEOPT_RNN_HD inline
#endif

namespace edgeopt::cuda::rnn_math {

EDGEOPT_RNN_HD float load(const float* p, int64_t i) { return p[i]; }
EDGEOPT_RNN_HD void store(float* p, int64_t i, float v) { p[i] = v; }
#ifdef __CUDACC__
EDGEOPT_RNN_HD float load(const __half* p, int64_t i) { return __half2float(p[i]); }
EDGEOPT_RNN_HD void store(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }
#endif

// recurrent::Activation::operator() (rnn_common.cpp).
EDGEOPT_RNN_HD float act(const RnnAct& a, float x) {
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

EDGEOPT_RNN_HD float clipped(const RnnStep& p, float v) {
  return p.clip > 0.f ? (v < -p.clip ? -p.clip : (v > p.clip ? p.clip : v)) : v;
}

// rnn_common.h's RnnConfig offsets.
EDGEOPT_RNN_HD int64_t y_off(const RnnStep& p, int64_t t, int64_t d, int64_t b) {
  return (p.layout == 0 ? (t * p.dirs + d) * p.batch + b : (b * p.seq + t) * p.dirs + d) * p.hidden;
}
EDGEOPT_RNN_HD int64_t state_off(const RnnStep& p, int64_t d, int64_t b) {
  return (p.layout == 0 ? d * p.batch + b : b * p.dirs + d) * p.hidden;
}

template <typename T>
EDGEOPT_RNN_HD void init_elem(const RnnStep& p, int64_t i, const T* h0, const T* c0) {
  const int64_t j = i % p.hidden, b = (i / p.hidden) % p.batch, d = i / (p.hidden * p.batch);
  const int64_t si = b * p.hidden + j, so = state_off(p, d, b) + j;
  const float h = h0 ? load(h0, so) : 0.f;
  p.h[d][si] = h;
  store(static_cast<T*>(p.hq[d]), si, h);
  if (p.c[d]) p.c[d][si] = c0 ? load(c0, so) : 0.f;
}

// Step s (processing order) for element i; phase as launch_rnn_step.
template <typename T>
EDGEOPT_RNN_HD void step_elem(const RnnStep& p, int64_t i, int64_t s, int phase) {
  const int64_t H = p.hidden;
  const int64_t GH = (p.cell == RnnCell::kLstm ? 4 : 3) * H;
  const int64_t j = i % H, b = (i / H) % p.batch, d = i / (H * p.batch);
  const int64_t len = p.lens ? p.lens[b] : p.seq;
  if (s >= len) return;  // past this sequence's end: state frozen, Y stays 0
  const int64_t t = (p.reverse_only || d == 1) ? len - 1 - s : s;
  const int64_t row = p.layout == 0 ? t * p.batch + b : b * p.seq + t;
  const float* xr = p.xp + row * p.dirs * GH + d * GH;
  const float* wb = p.bias[d];  // Wb at [0, GH), Rb at [GH, 2 GH)
  const RnnAct* a = p.act[d];
  const int64_t si = b * H + j;
  float* hs = p.h[d];
  float h_new = 0.f;
  if (p.cell == RnnCell::kLstm) {
    // lstm.cpp: gates[k] = x.W_k + h.R_k, then += Wb_k + Rb_k; gate order i, o, f, c.
    const float* hr = p.hp[d] + b * GH;
    float pre[4];
    for (int g = 0; g < 4; ++g) {
      const int64_t k = g * H + j;
      pre[g] = xr[k] + hr[k];
      if (wb) pre[g] += wb[k] + wb[GH + k];
    }
    float ai = pre[0], ao = pre[1], af = pre[2];
    const float ac = pre[3];
    const float* pp = p.peep[d];  // P is [i, o, f]
    float c = p.c[d][si];
    if (pp) {
      ai += pp[j] * c;
      af += pp[2 * H + j] * c;
    }
    const float gi = act(a[0], clipped(p, ai));
    const float gf = p.input_forget ? 1.f - gi : act(a[0], clipped(p, af));
    const float gc = act(a[1], clipped(p, ac));
    c = gf * c + gi * gc;
    if (pp) ao += pp[H + j] * c;
    const float go = act(a[0], clipped(p, ao));
    h_new = go * act(a[2], c);
    p.c[d][si] = c;
  } else if (p.cell == RnnCell::kGruLinearBeforeReset || phase == 0) {
    // gru.cpp: z, r = f(clip(x.W + h.R + Wb + Rb)); gate order z, r, h.
    const int64_t hn = p.cell == RnnCell::kGruLinearBeforeReset ? GH : 2 * H;
    const float* hr = p.hp[d] + b * hn;
    float zr[2];
    for (int g = 0; g < 2; ++g) {
      const int64_t k = g * H + j;
      float v = xr[k] + hr[k];
      if (wb) v += wb[k] + wb[GH + k];
      zr[g] = act(a[0], clipped(p, v));
    }
    const float z = zr[0], r = zr[1];
    if (p.cell == RnnCell::kGruResetFirst) {
      // The candidate needs (r*h) R_h^T: a GEMM between the two phases.
      p.z[d][si] = z;
      store(static_cast<T*>(p.rh[d]), si, r * hs[si]);
      return;
    }
    const int64_t k = 2 * H + j;
    const float xw = xr[k] + (wb ? wb[k] : 0.f);
    const float lin = hr[k] + (wb ? wb[GH + k] : 0.f);
    const float hh = act(a[1], clipped(p, xw + r * lin));
    h_new = (1.f - z) * hh + z * hs[si];
  } else {  // kGruResetFirst, phase 1
    const int64_t k = 2 * H + j;
    const float xw = xr[k] + (wb ? wb[k] : 0.f);
    const float rb = wb ? wb[GH + k] : 0.f;
    const float hh = act(a[1], clipped(p, xw + (p.hp2[d][b * H + j] + rb)));
    const float z = p.z[d][si];
    h_new = (1.f - z) * hh + z * hs[si];
  }
  hs[si] = h_new;
  store(static_cast<T*>(p.hq[d]), si, h_new);
  if (p.y) store(static_cast<T*>(p.y), y_off(p, t, d, b) + j, h_new);
}

template <typename T>
EDGEOPT_RNN_HD void final_elem(const RnnStep& p, int64_t i, T* y_h, T* y_c) {
  const int64_t j = i % p.hidden, b = (i / p.hidden) % p.batch, d = i / (p.hidden * p.batch);
  const int64_t si = b * p.hidden + j, so = state_off(p, d, b) + j;
  if (y_h) store(y_h, so, p.h[d][si]);
  if (y_c && p.c[d]) store(y_c, so, p.c[d][si]);
}

}  // namespace edgeopt::cuda::rnn_math

#ifndef __CUDACC__
#include "kernels/ops/rnn/rnn_common.h"

namespace edgeopt::cuda {
// The node's cell, sizes, layout, direction, clip, input_forget and activations (cfg from
// recurrent::read_rnn_config, the CPU kernels' own parser); pointers left null. Host only.
RnnStep rnn_step_params(const Node& n, const kernels::recurrent::RnnConfig& cfg, ElemType t);
}  // namespace edgeopt::cuda
#endif

// int8 CNN kernels (cuda_qconv_kernels.h): grid-stride loops, wrapping s32 accumulation in unsigned
// arithmetic (signed overflow is UB), requantization through quant::requantize itself.
#include "cuda/cuda_qconv_kernels.h"

#include <cuda_runtime.h>

#include "kernels/quant/requantize.h"

namespace edgeopt::cuda {
namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<int>(b < 1 ? 1 : (b > 65535 * 8 ? 65535 * 8 : b));
}

int status() { return static_cast<int>(cudaGetLastError()); }

#define EDGEOPT_QGRID_LOOP(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); i += static_cast<int64_t>(blockDim.x) * gridDim.x)

__device__ __forceinline__ int32_t load_q8(const void* p, bool u8, int64_t i) {
  return u8 ? static_cast<int32_t>(static_cast<const uint8_t*>(p)[i]) : static_cast<int32_t>(static_cast<const int8_t*>(p)[i]);
}

__device__ __forceinline__ void store_q8(void* p, bool u8, int64_t i, int32_t v) {
  if (u8)
    static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v);
  else
    static_cast<int8_t*>(p)[i] = static_cast<int8_t>(v);
}

__device__ __forceinline__ int32_t requant(const QConvGeom& g, int64_t m, uint32_t acc) {
  return kernels::quant::requantize(static_cast<int32_t>(acc),
                                    kernels::quant::QuantMultiplier{g.multiplier[m], g.shift[m]}, g.y_zp, g.qmin,
                                    g.qmax);
}

// Output element i of y -> (n, m, row, col) of the unpooled grid (the top-left of its 2x2 block
// when pooled) and the number of rows/cols to max over.
struct OutPos {
  int64_t n, m, oy, ox;
};
__device__ __forceinline__ OutPos out_pos(const QConvGeom& g, int64_t i) {
  const int64_t pw = g.pool2x2 ? g.ow / 2 : g.ow, ph = g.pool2x2 ? g.oh / 2 : g.oh;
  OutPos p;
  const int64_t x = i % pw, y = (i / pw) % ph;
  p.m = (i / (pw * ph)) % g.m;
  p.n = i / (pw * ph * g.m);
  p.oy = g.pool2x2 ? 2 * y : y;
  p.ox = g.pool2x2 ? 2 * x : x;
  return p;
}
__host__ __device__ __forceinline__ int64_t out_count(const QConvGeom& g) {
  return g.batch * g.m * (g.pool2x2 ? (g.oh / 2) * (g.ow / 2) : g.oh * g.ow);
}

__global__ void im2col_s8_kernel(const void* x, bool x_u8, int8_t* a, QConvGeom g, int32_t za, int64_t k_pad) {
  const int64_t k = g.c * g.kh * g.kw, pix = g.oh * g.ow;
  EDGEOPT_QGRID_LOOP(i, g.batch * pix * k_pad) {
    const int64_t col = i % k_pad, row = i / k_pad;
    int32_t v = 0;
    if (col < k) {
      const int64_t kx = col % g.kw, ky = (col / g.kw) % g.kh, c = col / (g.kw * g.kh);
      const int64_t s = row % pix, n = row / pix;
      const int64_t iy = (s / g.ow) * g.sh - g.ph + ky * g.dh, ix = (s % g.ow) * g.sw - g.pw + kx * g.dw;
      if (iy >= 0 && iy < g.ih && ix >= 0 && ix < g.iw) {
        v = load_q8(x, x_u8, ((n * g.c + c) * g.ih + iy) * g.iw + ix);
        if (x_u8) v -= 128;
      } else {
        v = za;  // a tap in the padding: (za - za) * w = 0, as the reference skips it
      }
    }
    a[i] = static_cast<int8_t>(v);
  }
}

__device__ __forceinline__ uint32_t gemm_acc(const QConvGemmTerms& t, const QConvGeom& g, int64_t n, int64_t m,
                                             int64_t oy, int64_t ox) {
  const int64_t r = (n * g.oh + oy) * g.ow + ox;
  const uint32_t zb = static_cast<uint32_t>(t.zb[m]), za = static_cast<uint32_t>(t.za);
  uint32_t acc = static_cast<uint32_t>(t.s[r * g.m + m]) - zb * static_cast<uint32_t>(t.row_sum[r]) -
                 za * static_cast<uint32_t>(t.col_sum[m]) + static_cast<uint32_t>(t.k) * za * zb;
  if (g.bias) acc += static_cast<uint32_t>(g.bias[m]);
  return acc;
}

__global__ void qconv_epilogue_kernel(QConvGemmTerms t, void* y, QConvGeom g) {
  EDGEOPT_QGRID_LOOP(i, out_count(g)) {
    const OutPos p = out_pos(g, i);
    int32_t q = requant(g, p.m, gemm_acc(t, g, p.n, p.m, p.oy, p.ox));
    if (g.pool2x2) {
      q = max(q, requant(g, p.m, gemm_acc(t, g, p.n, p.m, p.oy, p.ox + 1)));
      q = max(q, requant(g, p.m, gemm_acc(t, g, p.n, p.m, p.oy + 1, p.ox)));
      q = max(q, requant(g, p.m, gemm_acc(t, g, p.n, p.m, p.oy + 1, p.ox + 1)));
    }
    store_q8(y, g.y_u8, i, q);
  }
}

struct DirectIn {
  const void* x;
  const void* w;
  const int32_t* w_zp;
  int32_t x_zp;
  bool x_u8, w_u8;
};

__device__ __forceinline__ uint32_t direct_acc(const DirectIn& d, const QConvGeom& g, int64_t n, int64_t m, int64_t oy,
                                               int64_t ox) {
  const int64_t cg = g.c / g.group, mg = g.m / g.group, grp = m / mg;
  const int32_t zw = d.w_zp[m];
  uint32_t acc = g.bias ? static_cast<uint32_t>(g.bias[m]) : 0u;
  for (int64_t c = 0; c < cg; ++c) {
    const int64_t xb = (n * g.c + grp * cg + c) * g.ih * g.iw, wb = (m * cg + c) * g.kh * g.kw;
    for (int64_t ky = 0; ky < g.kh; ++ky) {
      const int64_t iy = oy * g.sh - g.ph + ky * g.dh;
      if (iy < 0 || iy >= g.ih) continue;
      for (int64_t kx = 0; kx < g.kw; ++kx) {
        const int64_t ix = ox * g.sw - g.pw + kx * g.dw;
        if (ix < 0 || ix >= g.iw) continue;
        const int32_t xv = load_q8(d.x, d.x_u8, xb + iy * g.iw + ix) - d.x_zp;
        const int32_t wv = load_q8(d.w, d.w_u8, wb + ky * g.kw + kx) - zw;
        acc += static_cast<uint32_t>(xv * wv);  // |xv * wv| <= 255 * 255: no overflow per product
      }
    }
  }
  return acc;
}

__global__ void qconv_direct_kernel(DirectIn d, void* y, QConvGeom g) {
  EDGEOPT_QGRID_LOOP(i, out_count(g)) {
    const OutPos p = out_pos(g, i);
    int32_t q = requant(g, p.m, direct_acc(d, g, p.n, p.m, p.oy, p.ox));
    if (g.pool2x2) {
      q = max(q, requant(g, p.m, direct_acc(d, g, p.n, p.m, p.oy, p.ox + 1)));
      q = max(q, requant(g, p.m, direct_acc(d, g, p.n, p.m, p.oy + 1, p.ox)));
      q = max(q, requant(g, p.m, direct_acc(d, g, p.n, p.m, p.oy + 1, p.ox + 1)));
    }
    store_q8(y, g.y_u8, i, q);
  }
}

__global__ void qlinear_add_kernel(const void* a, const void* b, void* c, BroadcastShape s, QAddParams p, int64_t n) {
  EDGEOPT_QGRID_LOOP(i, n) {
    int64_t rem = i, ia = 0, ib = 0;
    for (int d = s.rank - 1; d >= 0; --d) {
      const int64_t idx = rem % s.out[d];
      rem /= s.out[d];
      ia += idx * s.a_stride[d];
      ib += idx * s.b_stride[d];
    }
    // quant::dequantize_f32 and the CPU's add_requant step by step, with explicitly rounded f32
    // operations: nvcc would otherwise contract the multiply and the add into one FMA.
    const float fa = __fmul_rn(static_cast<float>(load_q8(a, p.a_u8, ia) - p.za), p.sa);
    const float fb = __fmul_rn(static_cast<float>(load_q8(b, p.b_u8, ib) - p.zb), p.sb);
    const float sum = fminf(fmaxf(__fadd_rn(fa, fb), p.lo), p.hi);
    store_q8(c, p.c_u8, i, kernels::quant::quantize_f32(sum, p.sc, p.zc, p.qmin, p.qmax));
  }
}

}  // namespace

int launch_im2col_s8(const void* x, bool x_u8, int8_t* a, const QConvGeom& g, int32_t za_s8, int64_t k_pad,
                     cudaStream_t stream) {
  im2col_s8_kernel<<<blocks_for(g.batch * g.oh * g.ow * k_pad), kThreads, 0, stream>>>(x, x_u8, a, g, za_s8, k_pad);
  return status();
}

int launch_qconv_epilogue(const QConvGemmTerms& t, void* y, const QConvGeom& g, cudaStream_t stream) {
  qconv_epilogue_kernel<<<blocks_for(out_count(g)), kThreads, 0, stream>>>(t, y, g);
  return status();
}

int launch_qconv_direct(const void* x, bool x_u8, int32_t x_zp, const void* w, bool w_u8, const int32_t* w_zp,
                        void* y, const QConvGeom& g, cudaStream_t stream) {
  const DirectIn d{x, w, w_zp, x_zp, x_u8, w_u8};
  qconv_direct_kernel<<<blocks_for(out_count(g)), kThreads, 0, stream>>>(d, y, g);
  return status();
}

int launch_qlinear_add(const void* a, const void* b, void* c, const BroadcastShape& s, const QAddParams& p,
                       cudaStream_t stream) {
  int64_t n = 1;
  for (int d = 0; d < s.rank; ++d) n *= s.out[d];
  qlinear_add_kernel<<<blocks_for(n), kThreads, 0, stream>>>(a, b, c, s, p, n);
  return status();
}

}  // namespace edgeopt::cuda

// Per-element arithmetic of the int8 CNN kernels (cuda_qconv_kernels.h), host and device: each CUDA
// thread calls one of these for its output index, and cuda_test calls them on the host to check the
// indexing, the zero-point correction and the requantization against the CPU kernels without a GPU.
// Wrapping s32 accumulation is done in uint32_t (signed overflow is UB).
#pragma once
#include <cstdint>

#include "cuda/cuda_kernels.h"
#include "kernels/quant/requantize.h"

namespace edgeopt::cuda {

// 2-D geometry (1-D convs pass ih = oh = kh = 1) and the requantization of one QLinearConv.
struct QConvGeom {
  int64_t batch = 0, c = 0, m = 0, group = 1;
  int64_t ih = 1, iw = 1, oh = 1, ow = 1, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
  bool pool2x2 = false;  // y is [N, M, oh/2, ow/2], the max of each 2x2 block of codes
  const int32_t* multiplier = nullptr;  // [M]
  const int32_t* shift = nullptr;       // [M]
  const int32_t* bias = nullptr;        // [M] or null
  int32_t y_zp = 0, qmin = 0, qmax = 255;
  bool y_u8 = true;
};

// The GEMM path's epilogue inputs. s: [batch * oh * ow, M] s32; zb/col_sum: [M] on the s8 scale;
// k: the true K = C * kh * kw (the zero padding columns add nothing to s, row_sum or col_sum).
struct QConvGemmTerms {
  const int32_t* s = nullptr;
  const int32_t* row_sum = nullptr;  // [batch * oh * ow]
  const int32_t* col_sum = nullptr;
  const int32_t* zb = nullptr;
  int32_t za = 0;
  int64_t k = 0;
};

// The direct path's inputs: raw codes (u8 or i8), w [M, C/group, kh, kw], w_zp [M] and x_zp on
// the codes' own scale.
struct QConvDirect {
  const void* x = nullptr;
  const void* w = nullptr;
  const int32_t* w_zp = nullptr;
  int32_t x_zp = 0;
  bool x_u8 = true, w_u8 = false;
};

// QLinearAdd: c = quantize_f32(clamp(dequantize_f32(a) + dequantize_f32(b), lo, hi)).
struct QAddParams {
  float sa = 1, sb = 1, sc = 1, lo = 0, hi = 0;
  int32_t za = 0, zb = 0, zc = 0, qmin = 0, qmax = 255;
  bool a_u8 = true, b_u8 = true, c_u8 = true;
};

EDGEOPT_QUANT_HD inline int32_t load_q8(const void* p, bool u8, int64_t i) {
  return u8 ? static_cast<int32_t>(static_cast<const uint8_t*>(p)[i]) : static_cast<int32_t>(static_cast<const int8_t*>(p)[i]);
}

EDGEOPT_QUANT_HD inline void store_q8(void* p, bool u8, int64_t i, int32_t v) {
  if (u8)
    static_cast<uint8_t*>(p)[i] = static_cast<uint8_t>(v);
  else
    static_cast<int8_t*>(p)[i] = static_cast<int8_t>(v);
}

EDGEOPT_QUANT_HD inline int64_t qconv_out_count(const QConvGeom& g) {
  return g.batch * g.m * (g.pool2x2 ? (g.oh / 2) * (g.ow / 2) : g.oh * g.ow);
}

EDGEOPT_QUANT_HD inline int32_t qconv_requant(const QConvGeom& g, int64_t m, uint32_t acc) {
  return kernels::quant::requantize(static_cast<int32_t>(acc),
                                    kernels::quant::QuantMultiplier{g.multiplier[m], g.shift[m]}, g.y_zp, g.qmin,
                                    g.qmax);
}

// Element i of the im2col matrix [batch * oh * ow, k_pad]: column c*kh*kw + ky*kw + kx (W's
// layout) of output pixel row; x on the s8 scale, za for a tap in the padding (so (za - za) * w
// adds 0, as the reference skips it), 0 in the K padding.
EDGEOPT_QUANT_HD inline int8_t im2col_s8_at(const void* x, bool x_u8, const QConvGeom& g, int32_t za, int64_t k_pad,
                                            int64_t i) {
  const int64_t k = g.c * g.kh * g.kw, pix = g.oh * g.ow;
  const int64_t col = i % k_pad, row = i / k_pad;
  if (col >= k) return 0;
  const int64_t kx = col % g.kw, ky = (col / g.kw) % g.kh, c = col / (g.kw * g.kh);
  const int64_t s = row % pix, n = row / pix;
  const int64_t iy = (s / g.ow) * g.sh - g.ph + ky * g.dh, ix = (s % g.ow) * g.sw - g.pw + kx * g.dw;
  if (iy < 0 || iy >= g.ih || ix < 0 || ix >= g.iw) return static_cast<int8_t>(za);
  const int32_t v = load_q8(x, x_u8, ((n * g.c + c) * g.ih + iy) * g.iw + ix);
  return static_cast<int8_t>(x_u8 ? v - 128 : v);
}

EDGEOPT_QUANT_HD inline uint32_t qconv_gemm_acc(const QConvGemmTerms& t, const QConvGeom& g, int64_t n, int64_t m,
                                                int64_t oy, int64_t ox) {
  const int64_t r = (n * g.oh + oy) * g.ow + ox;
  const uint32_t zb = static_cast<uint32_t>(t.zb[m]), za = static_cast<uint32_t>(t.za);
  uint32_t acc = static_cast<uint32_t>(t.s[r * g.m + m]) - zb * static_cast<uint32_t>(t.row_sum[r]) -
                 za * static_cast<uint32_t>(t.col_sum[m]) + static_cast<uint32_t>(t.k) * za * zb;
  if (g.bias) acc += static_cast<uint32_t>(g.bias[m]);
  return acc;
}

EDGEOPT_QUANT_HD inline uint32_t qconv_direct_acc(const QConvDirect& d, const QConvGeom& g, int64_t n, int64_t m,
                                                  int64_t oy, int64_t ox) {
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
        acc += static_cast<uint32_t>(xv * wv);  // |xv * wv| <= 255 * 255 per product
      }
    }
  }
  return acc;
}

// Output code i of y (NCHW, pooled when g.pool2x2): `Acc` gives the s32 accumulator at (n, m, oy, ox).
template <typename Acc>
EDGEOPT_QUANT_HD inline int32_t qconv_out(const QConvGeom& g, int64_t i, const Acc& acc) {
  const int64_t pw = g.pool2x2 ? g.ow / 2 : g.ow, ph = g.pool2x2 ? g.oh / 2 : g.oh;
  const int64_t x = i % pw, y = (i / pw) % ph, m = (i / (pw * ph)) % g.m, n = i / (pw * ph * g.m);
  if (!g.pool2x2) return qconv_requant(g, m, acc(n, m, y, x));
  // The max of the four codes, as the MaxPool node fuse_qconv_maxpool replaced.
  int32_t q = qconv_requant(g, m, acc(n, m, 2 * y, 2 * x));
  for (int64_t d = 1; d < 4; ++d) {
    const int32_t v = qconv_requant(g, m, acc(n, m, 2 * y + d / 2, 2 * x + d % 2));
    q = v > q ? v : q;
  }
  return q;
}

EDGEOPT_QUANT_HD inline int32_t qconv_gemm_out(const QConvGemmTerms& t, const QConvGeom& g, int64_t i) {
  return qconv_out(g, i, [&](int64_t n, int64_t m, int64_t oy, int64_t ox) { return qconv_gemm_acc(t, g, n, m, oy, ox); });
}

EDGEOPT_QUANT_HD inline int32_t qconv_direct_out(const QConvDirect& d, const QConvGeom& g, int64_t i) {
  return qconv_out(g, i, [&](int64_t n, int64_t m, int64_t oy, int64_t ox) { return qconv_direct_acc(d, g, n, m, oy, ox); });
}

// f32 products and sums rounded one by one, as the CPU kernel (built with -ffp-contract=off): nvcc
// (and g++ with FMA) would otherwise contract a * b + c into one FMA and change the rounding.
EDGEOPT_QUANT_HD inline float mul_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fmul_rn(a, b);
#else
  volatile float r = a * b;
  return r;
#endif
}
EDGEOPT_QUANT_HD inline float add_rn(float a, float b) {
#ifdef __CUDA_ARCH__
  return __fadd_rn(a, b);
#else
  volatile float r = a + b;
  return r;
#endif
}

// Output code i of QLinearAdd with numpy broadcasting (launch_binary's BroadcastShape).
EDGEOPT_QUANT_HD inline int32_t qlinear_add_out(const void* a, const void* b, const BroadcastShape& s,
                                                const QAddParams& p, int64_t i) {
  int64_t ia = 0, ib = 0;
  broadcast_offsets(s, i, &ia, &ib);
  // quant::dequantize_f32 of each side, the sum, the fused clamp (std::min(std::max(s, lo), hi)).
  const float fa = mul_rn(static_cast<float>(load_q8(a, p.a_u8, ia) - p.za), p.sa);
  const float fb = mul_rn(static_cast<float>(load_q8(b, p.b_u8, ib) - p.zb), p.sb);
  float sum = add_rn(fa, fb);
  sum = sum < p.lo ? p.lo : sum;
  sum = p.hi < sum ? p.hi : sum;
  return kernels::quant::quantize_f32(sum, p.sc, p.zc, p.qmin, p.qmax);
}

}  // namespace edgeopt::cuda

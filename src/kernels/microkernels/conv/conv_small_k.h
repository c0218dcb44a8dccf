// Direct NCHW 2-D convolution for dense convs with a short reduction (K = C_in*kh*kw <= 64, or up to
// 160 with <= 4 input channels: the first layer of an image network, 3 channels x 3x3 or 7x7),
// Highway dynamic dispatch.
//
//   SmallKWeights pw = conv_small_k_pack_f32(w, m, c * kh * kw);          // once: W [M, C, kh, kw]
//   conv_small_k_f32(g, x, pw, bias, y, 0.f, 6.f, 0, g.oh);                // one image, rows [0, oh)
//
//   y[m, r, c] = clamp(bias[m] + sum_{ci, a, b} W[m, ci, a, b] * x[ci, r*sh - ph + a*dh, c*sw - pw + b*dw])
//
// Why not im2col + GEMM: with K = 27 the im2col packing (strided gathers) took a third of the time
// and each GEMM tile does only 27 FMA steps. Here each output row is an implicit GEMM whose K
// "rows" are pointers into per-row buffers: every input row the output row needs is copied once,
// zero-padded and split into its `sw` column phases, so tap (ci, a, b) of a vector of outputs is one
// contiguous load (phase (b*dw) mod sw at offset (b*dw) / sw). An MR x 3-vector register tile
// (8 x 48 on AVX-512) starts at the bias and is clamped and stored once.
// Single-threaded per call (callers split output rows; the split does not change any result).
#pragma once
#include <cstdint>
#include <vector>

namespace edgeopt::kernels::microkernels {

struct ConvSmallKGeometry {
  int64_t c = 1, ih = 1, iw = 1, oh = 1, ow = 1, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// W [M, K] in MR-row panels for the dispatched target: panels[(p*K + q)*MR + r] = W[p*MR + r, q],
// zero past M. Only valid for the dispatch target that packed it (mr tells which).
struct SmallKWeights {
  std::vector<float> panels;
  int64_t m = 0, k = 0;
  int mr = 0;
};

// Whether a dense conv with C input channels and K = C*kh*kw goes to this kernel: K <= 64, or
// K <= 160 with C <= 4 (an image-input layer: ResNet-18's 7x7 stride-2 conv1, K = 147, takes
// 2.53 ms here vs 3.16 ms through im2col + GEMM, 1 thread, in cache; vision_cnn's 16-channel
// K = 144 layer is level either way, so it stays on the GEMM).
inline bool conv_small_k_f32_suits(int64_t c, int64_t k) { return k <= 64 || (c <= 4 && k <= 160); }
// Whether the direct kernel applies: conv_small_k_f32_suits, stride <= 4, kernel width <= 16.
bool conv_small_k_f32_supports(const ConvSmallKGeometry& g);
SmallKWeights conv_small_k_pack_f32(const float* w, int64_t m, int64_t k);
// The panel height of the dispatched target (weights packed with another must be repacked).
int conv_small_k_panel_rows();
// x: one image [C, ih, iw]; y: [M, oh, ow]; output rows [r0, r1). bias may be null. Throws
// InvalidArgument when the weights were packed for another target or K != C*kh*kw.
void conv_small_k_f32(const ConvSmallKGeometry& g, const float* x, const SmallKWeights& w, const float* bias, float* y,
                      float lo, float hi, int64_t r0, int64_t r1);

}  // namespace edgeopt::kernels::microkernels

// Winograd F(2x2, 3x3) for NCHW 3x3 stride-1 convolutions (Lavin & Gray 2016): each 2x2 output
// tile costs 16 multiplies per (in, out) channel pair instead of 36, so the dominant GEMM work
// drops 2.25x. The conv becomes 16 independent GEMMs over "transformed" tensors:
//
//   U[e] = (G g G^T)[e]     [OC, IC]  per weight, once (prepare)
//   V[e] = (B^T d B)[e]     [IC, T]   per 4x4 input patch d (tiles overlap by 2), T = tiles
//   M[e] = U[e] @ V[e]      [OC, T]   e = 0..15
//   Y    = A^T M A          2x2 per tile, + bias, clamped (fused activation)
//
//   winograd_f23_weights(w, oc, ic, u);                        // u: [16, oc, ic]
//   winograd_f23_input(x, ic, ih, iw, pad_t, pad_l, th, tw, v); // v: [16, ic, th*tw]
//   ... 16 GEMMs ...
//   winograd_f23_output(m, oc, th, tw, oh, ow, bias, nullptr, lo, hi, 0, oc, y); // y: [oc, oh, ow]
//
// F(2,3) rather than F(4,3): its transforms use only 0, +-1 and +-1/2, so results stay within a
// few ulps of direct convolution (F(4,3) loses about 3 decimal digits in fp32). Plain loops over
// contiguous rows, written for the compiler's auto-vectorizer; single-threaded per call (the
// caller splits channels/images).
#pragma once
#include <cstdint>

namespace edgeopt::kernels::microkernels {

constexpr int kWinogradF23Elems = 16;

// w: [oc, ic, 3, 3] -> u: [16, oc, ic].
void winograd_f23_weights(const float* w, int64_t oc, int64_t ic, float* u);

// Number of 2x2 output tiles along one dim.
inline int64_t winograd_f23_tiles(int64_t out) { return (out + 1) / 2; }

// x: [ic, ih, iw] (one image) -> v: [16, ic, th*tw] for channels [c0, c1). Tile (ty, tx) reads
// the 4x4 patch at rows 2*ty - pad_t + 0..3, cols 2*tx - pad_l + 0..3 (zero outside the image).
void winograd_f23_input(const float* x, int64_t ic, int64_t ih, int64_t iw, int64_t pad_t, int64_t pad_l, int64_t th,
                        int64_t tw, int64_t c0, int64_t c1, float* v);

// m: [16, oc, th*tw] -> y: [oc, oh, ow] for channels [o0, o1),
// y = clamp(A^T M A + bias[o] + residual, lo, hi); residual [oc, oh, ow] or null.
void winograd_f23_output(const float* m, int64_t oc, int64_t th, int64_t tw, int64_t oh, int64_t ow,
                         const float* bias, const float* residual, float lo, float hi, int64_t o0, int64_t o1,
                         float* y);

}  // namespace edgeopt::kernels::microkernels

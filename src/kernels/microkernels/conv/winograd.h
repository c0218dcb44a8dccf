// Winograd F(2x2, 3x3) for NCHW 3x3 stride-1 convolutions (Lavin & Gray 2016): each 2x2 output
// tile costs 16 multiplies per (in, out) channel pair instead of 36, so the dominant GEMM work
// drops 2.25x. The conv becomes 16 independent GEMMs over "transformed" tensors:
//
//   U[e] = (G g G^T)[e]     [OC, IC]  per weight, once (prepare)
//   V[e] = (B^T d B)[e]     [IC, T]   per 4x4 input patch d (tiles overlap by 2), T = tiles
//   M[e] = U[e] @ V[e]      [OC, T]   e = 0..15
//   Y    = A^T M A          2x2 per tile, + bias (+ residual), clamped (fused activation)
//
//   winograd_f23_weights(w, oc, ic, u);                      // once: u [16, oc, ic], pack each U[e]
//   WinogradF23Shape s{ic, ih, iw, pad_t, pad_l, oc, oh, ow};
//   winograd_f23_conv_f32(packed_u, s, x, bias, residual, lo, hi, y, pool);  // per image
//
// F(2,3) rather than F(4,3): its transforms use only 0, +-1 and +-1/2, so results stay within a
// few ulps of direct convolution (F(4,3) loses about 3 decimal digits in fp32). The transforms are
// plain loops over contiguous rows, written for the compiler's auto-vectorizer.
//
// Threads: winograd_f23_conv_f32 splits one image over the pool in one of two ways (see
// WinogradF23Split), so the stages run back to back on the thread that owns the data instead of
// meeting at a barrier after each stage; every output element is computed by the same sequence
// of operations whatever the split and the thread count, so results are bit-identical across both.
#pragma once
#include <cstdint>

#include "kernels/microkernels/gemm/gemm.h"

namespace edgeopt {
class ThreadPool;
}

namespace edgeopt::kernels::microkernels {

constexpr int kWinogradF23Elems = 16;

// w: [oc, ic, 3, 3] -> u: [16, oc, ic].
void winograd_f23_weights(const float* w, int64_t oc, int64_t ic, float* u);

// Number of 2x2 output tiles along one dim.
inline int64_t winograd_f23_tiles(int64_t out) { return (out + 1) / 2; }

// One image's geometry: x [ic, ih, iw] -> y [oc, oh, ow]; tile (ty, tx) reads the 4x4 patch at rows
// 2*ty - pad_t + 0..3, cols 2*tx - pad_l + 0..3 (zero outside the image).
struct WinogradF23Shape {
  int64_t ic = 0, ih = 0, iw = 0, pad_t = 0, pad_l = 0;
  int64_t oc = 0, oh = 0, ow = 0;
  int64_t tiles_h() const { return winograd_f23_tiles(oh); }
  int64_t tiles_w() const { return winograd_f23_tiles(ow); }
  int64_t tiles() const { return tiles_h() * tiles_w(); }
};

// Input transform of channels [c0, c1) and tiles [t0, t1) (row-major tile index ty * tiles_w + tx):
// v[e * plane + (c - c0) * ldv + (t - t0)] = V[e][c][t].
void winograd_f23_input_block(const WinogradF23Shape& s, const float* x, int64_t c0, int64_t c1, int64_t t0,
                              int64_t t1, float* v, int64_t plane, int64_t ldv);

// Output transform of channels [o0, o1) and tiles [t0, t1) from m[e * plane + (o - o0) * ldm + (t - t0)]:
// y[o] = clamp(A^T M A + bias[o] + residual[o], lo, hi) at the tiles' pixels (those inside oh x ow);
// bias, residual ([oc, oh, ow]) may be null.
void winograd_f23_output_block(const WinogradF23Shape& s, const float* m, int64_t plane, int64_t ldm, int64_t o0,
                               int64_t o1, int64_t t0, int64_t t1, const float* bias, const float* residual, float lo,
                               float hi, float* y);

// How winograd_f23_conv_f32 splits an image over the threads.
enum class WinogradF23Split {
  kAuto,
  // Blocks of tiles, each run start to finish by one thread (input transform, 16 GEMMs, output
  // transform) in per-thread buffers sized for L2: one fork-join, nothing crosses cores; every
  // block reads all of U, so it suits small U (early layers: many tiles, few channels).
  kTiles,
  // The input transform split over input channels, then blocks of output channels, each running
  // its 16 GEMM row blocks and their output transform: two fork-joins, and each thread reads only
  // its rows of U (late layers: few tiles, U of several MB read once per conv).
  kOutChannels,
};

// Y = conv3x3(X) of one image: u = the 16 U[e] packed with gemm::pack_a_f32 ([oc, ic] each).
void winograd_f23_conv_f32(const gemm::PackedMatrix* u, const WinogradF23Shape& s, const float* x, const float* bias,
                           const float* residual, float lo, float hi, float* y, ThreadPool& pool,
                           WinogradF23Split split = WinogradF23Split::kAuto);

}  // namespace edgeopt::kernels::microkernels

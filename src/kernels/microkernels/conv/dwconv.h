// Depthwise 2-D convolution, direct and vectorized (Highway, dynamic dispatch), one input plane at
// a time: the NCHW kernel for group == C convolutions, where im2col + GEMM would be a K = 9 GEMM.
//
//   DwConv2dGeometry g{.ih = 28, .iw = 28, .oh = 28, .ow = 28, .kh = 3, .kw = 3,
//                      .sh = 1, .sw = 1, .ph = 1, .pw = 1, .dh = 1, .dw = 1};
//   dwconv2d_f32_plane(g, x_plane, /*outs=*/1, w, &bias, y_plane);
//
// y[o, r, c] = clamp(bias[o] + sum_{a<kh, b<kw} w[o, a, b] * x[r*sh - ph + a*dh, c*sw - pw + b*dw])
// with x = 0 outside the plane, for o < outs (the channel multiplier: outs output planes read the
// same input plane). Any kernel size, stride, dilation and padding; the input is first copied into
// `sw` zero-padded column-phase planes so every tap of a vector of outputs is one contiguous load.
// Single-threaded (callers split over planes); thread-safe (per-thread scratch).
#pragma once
#include <cstdint>
#include <limits>

namespace edgeopt::kernels::microkernels {

struct DwConv2dGeometry {
  int64_t ih = 1, iw = 1, oh = 1, ow = 1, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, dh = 1, dw = 1;
};

// x: [ih, iw]; w: [outs, kh, kw]; bias: [outs] or null; y: [outs, oh, ow].
void dwconv2d_f32_plane(const DwConv2dGeometry& g, const float* x, int64_t outs, const float* w, const float* bias,
                        float* y, float clamp_min = -std::numeric_limits<float>::infinity(),
                        float clamp_max = std::numeric_limits<float>::infinity());

// `channels` consecutive planes of one image, one output plane each (channel multiplier 1):
// x: [channels, ih, iw]; w: [channels, kh, kw]; bias: [channels] or null; y: [channels, oh, ow].
// The same result as dwconv2d_f32_plane per plane; 3x3 convs on small planes (up to 14x14 at
// stride 1, 14x14 inputs at stride 2) run 16 channels at a time with the channels as the vector
// lanes on AVX-512 (no per-plane overhead, no lanes lost at row ends).
void dwconv2d_f32_channels(const DwConv2dGeometry& g, const float* x, int64_t channels, const float* w,
                           const float* bias, float* y, float clamp_min = -std::numeric_limits<float>::infinity(),
                           float clamp_max = std::numeric_limits<float>::infinity());
// The channel count dwconv2d_f32_channels processes together for g on this CPU (16 or 1): callers
// that split channels over threads split in multiples of it.
int64_t dwconv2d_f32_channel_block(const DwConv2dGeometry& g);

}  // namespace edgeopt::kernels::microkernels

// Sliding-window geometry shared by Conv, ConvTranspose, MaxPool and AveragePool: attribute parsing
// (kernel_shape, strides, dilations, pads, auto_pad), output sizes, and one tap iterator.
//
//   WindowAttrs a = read_window_attrs(node, {3, 3});                // kernel from W or kernel_shape
//   Window w = forward_window(a, {H, W}, /*ceil_mode=*/false);   // w.small = output H', W'
//   for_each_tap(w, [&](int64_t s, int64_t k, int64_t b) { y[s] += x[b] * wt[k]; });
//
// A window links a "small" grid and a "big" grid: big = small*stride - pad_begin + k*dilation.
// Conv and pools read the big grid (input) to write the small one (output); ConvTranspose is the
// same relation with the roles swapped (small = input, big = output). Spatial ranks 1..3 are padded
// to 3 with leading size-1 dims (stride/dilation 1, no pads), so one triple loop serves 1D/2D/3D.
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "core/graph.h"
#include "kernels/microkernels/conv/im2col.h"
#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::conv {

inline constexpr size_t kMaxSpatial = 3;

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

struct WindowAttrs {
  std::vector<int64_t> kernel, strides, dilations;
  std::vector<int64_t> pads;  // [begin_0..begin_{n-1}, end_0..end_{n-1}]
  AutoPad auto_pad = AutoPad::kNotSet;
};

// Reads strides/dilations/pads/auto_pad for `kernel.size()` spatial dims (defaults 1, 1, 0,
// NOTSET) and validates them (lengths, kernel/strides/dilations >= 1, pads >= 0). Throws
// InvalidArgument.
WindowAttrs read_window_attrs(const Node& node, std::vector<int64_t> kernel);

struct Window {
  size_t nd = 0;  // real spatial rank
  std::array<int64_t, kMaxSpatial> small{1, 1, 1}, big{1, 1, 1}, kernel{1, 1, 1}, stride{1, 1, 1},
      dilation{1, 1, 1}, pad_begin{0, 0, 0}, pad_end{0, 0, 0};
  int64_t small_numel() const { return small[0] * small[1] * small[2]; }
  int64_t big_numel() const { return big[0] * big[1] * big[2]; }
  int64_t kernel_numel() const { return kernel[0] * kernel[1] * kernel[2]; }
  // The last nd entries of a padded array.
  std::vector<int64_t> real(const std::array<int64_t, kMaxSpatial>& a) const {
    return {a.begin() + (kMaxSpatial - nd), a.end()};
  }
};

// Conv/pool output geometry for input spatial sizes `in` (big grid):
//   NOTSET: out = floor_or_ceil((in + pb + pe - ((k-1)*d+1)) / s) + 1; in ceil mode a last window
//           that would start inside the end padding is dropped (PyTorch/ORT rule);
//   VALID:  no pads, out = floor((in - ((k-1)*d+1)) / s) + 1;
//   SAME_*: out = ceil(in / s), total pad = max(0, (out-1)*s + (k-1)*d+1 - in), the odd unit goes
//           to the end (SAME_UPPER) or the beginning (SAME_LOWER).
// Throws InvalidArgument when the (padded) input is smaller than the dilated kernel.
Window forward_window(const WindowAttrs& a, const std::vector<int64_t>& in, bool ceil_mode);

// MaxPool/AveragePool geometry: X [N, C, *in] (1 to 3 spatial dims), the required kernel_shape
// attribute, strides/dilations/pads/auto_pad and ceil_mode.
Window pool_window(const Node& node, const Shape& x);

// Calls f(small_flat, kernel_flat, big_flat) for every tap that lands inside the big grid, in
// small-major then kernel-major order (so per-output state can be kept by the caller).
template <typename F>
void for_each_tap(const Window& w, F&& f) {
  for (int64_t s0 = 0; s0 < w.small[0]; ++s0)
    for (int64_t s1 = 0; s1 < w.small[1]; ++s1)
      for (int64_t s2 = 0; s2 < w.small[2]; ++s2) {
        const int64_t s = (s0 * w.small[1] + s1) * w.small[2] + s2;
        for (int64_t k0 = 0; k0 < w.kernel[0]; ++k0) {
          const int64_t b0 = s0 * w.stride[0] - w.pad_begin[0] + k0 * w.dilation[0];
          if (b0 < 0 || b0 >= w.big[0]) continue;
          for (int64_t k1 = 0; k1 < w.kernel[1]; ++k1) {
            const int64_t b1 = s1 * w.stride[1] - w.pad_begin[1] + k1 * w.dilation[1];
            if (b1 < 0 || b1 >= w.big[1]) continue;
            for (int64_t k2 = 0; k2 < w.kernel[2]; ++k2) {
              const int64_t b2 = s2 * w.stride[2] - w.pad_begin[2] + k2 * w.dilation[2];
              if (b2 < 0 || b2 >= w.big[2]) continue;
              f(s, (k0 * w.kernel[1] + k1) * w.kernel[2] + k2, (b0 * w.big[1] + b1) * w.big[2] + b2);
            }
          }
        }
      }
}

// The im2col geometry of a conv window (big = input, small = output).
microkernels::Im2colGeometry im2col_geometry(const Window& w);
// 1x1 kernel, stride 1, no padding: the input planes are already the im2col matrix.
bool pointwise_window(const Window& w);

// "[a,b,c]" for messages.
std::string ints_str(const std::vector<int64_t>& v);

// Conv's shapes, validated once for the reference and the fast kernels (same rules, same
// messages): X [N, C, *in], W [M, C/group, *k], optional B [M]. Throws InvalidArgument.
struct ConvDims {
  int64_t n = 0, c = 0, m = 0, group = 1;
  Window win;  // big = input spatial, small = output spatial
};
ConvDims conv_dims(const Node& node, const Shape& x, const Shape& w, const Tensor* b);

// The node's attributes as conv_dims reads them for weights of shape `w` (group, strides,
// dilations, pads, auto_pad; kernel_shape checked against W): parsed once by a prepare, so that
// the forward's conv_dims(attrs, ...) reads no attribute (string lookups and small vectors, a
// measurable part of a small model's run). Throws InvalidArgument as conv_dims does.
struct ConvAttrs {
  int64_t group = 1;
  WindowAttrs window;
};
ConvAttrs read_conv_attrs(const Node& node, const Shape& w);
// conv_dims with pre-read attributes; same checks and messages. `attrs` must come from W's shape.
ConvDims conv_dims(const ConvAttrs& attrs, const Shape& x, const Shape& w, const Tensor* b);

// The residual a runtime pass (fuse_conv_residual_add) fused into this Conv as a 4th input: the
// output is act(conv(X, W) + B + R). R must be f32 with exactly Y's shape; null when absent.
const float* conv_residual(const ForwardCtx& ctx, const Shape& y_shape);

}  // namespace edgeopt::kernels::ops::conv

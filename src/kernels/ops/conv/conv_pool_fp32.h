// Fused f32 Conv (2-D, group 1, stride 1, dilation 1) + bias + clamp activation + MaxPool 2x2/2
// (floor mode, unpadded) on one NCHW image: the conv outputs of each pool window are reduced in
// registers and only the pooled values are stored, so the full-size activation and the separate
// pooling pass disappear (the pair fuse_conv_maxpool turns into a ConvMaxPool node).
//
//   ConvPoolGeometry g{.c = 32, .m = 64, .ih = 14, .iw = 14, .kh = 3, .kw = 3, .pad_t = 1, .pad_l = 1,
//                      .ph = 7, .pw = 7};
//   std::vector<float> u = conv3x3_pool_f32_pack_winograd(w, 64, 32);          // once
//   conv3x3_f32_bias_act_maxpool2_winograd(g, u.data(), x, bias, 0.f, INF, y, &pool);  // per image
//
// Why pooling can move before bias and clamp: fl(a + b) and clamp are monotonic, so
// max_q(clamp(y_q + b)) == clamp(max_q(y_q) + b) exactly; the results equal Conv -> act -> MaxPool
// up to the conv's own f32 summation order.
//
// Two algorithms, both with output channels in vector lanes (blocks of kConvPoolOcBlock = 16,
// zero-padded), so the packed weights do not depend on the dispatched SIMD width:
// - direct: any kernel size; each step broadcasts one input value of the 2x4 pixels of two pool
//   windows against a vector of weights. For small channel counts (a Cin = 1 first layer).
// - Winograd F(2x2, 3x3) (see microkernels/conv/winograd.h for the algebra): 3x3 only. A 2x2
//   output tile is exactly one pool window, so the output transform pools the tile as it forms
//   it. The input is transposed to channels-last so the input transform vectorizes over channels;
//   large images go in bands of tile rows so the transformed input stays within ~512 KB.
//
// x: [c, ih, iw]; y: [m, ph, pw] with ph <= (ih + pad_t + pad_b - kh + 1) / 2 (likewise pw); rows and
// columns past ih/iw (the bottom/right padding) read as zero. bias: [m] or null. The pool (null:
// one thread) splits output-channel blocks x pooled rows/tiles; results do not depend on it.
// Thread-safe (scratch is per thread); no allocation after a thread's first call of a given size.
#pragma once
#include <cstdint>
#include <vector>

namespace edgeopt {
class ThreadPool;
}

namespace edgeopt::kernels::ops::conv {

inline constexpr int64_t kConvPoolOcBlock = 16;

struct ConvPoolGeometry {
  int64_t c = 0, m = 0;         // input and output channels
  int64_t ih = 0, iw = 0;       // input spatial size
  int64_t kh = 0, kw = 0;       // kernel
  int64_t pad_t = 0, pad_l = 0; // leading pads (trailing ones are implied by ph/pw)
  int64_t ph = 0, pw = 0;       // pooled output size
};

// w [m, c, kh, kw] -> [ceil(m/16)][c*kh*kw][16].
std::vector<float> conv_pool_f32_pack_direct(const float* w, int64_t m, int64_t c, int64_t kh, int64_t kw);
// w [m, c, 3, 3] -> U = G g G^T as [16 elements][ceil(m/16)][c][16].
std::vector<float> conv3x3_pool_f32_pack_winograd(const float* w, int64_t m, int64_t c);

void conv_f32_bias_act_maxpool2_direct(const ConvPoolGeometry& g, const float* packed_w, const float* x,
                                       const float* bias, float lo, float hi, float* y, ThreadPool* pool);
// g.kh == g.kw == 3.
void conv3x3_f32_bias_act_maxpool2_winograd(const ConvPoolGeometry& g, const float* packed_u, const float* x,
                                            const float* bias, float lo, float hi, float* y, ThreadPool* pool);

}  // namespace edgeopt::kernels::ops::conv

// "Row-quad" planes for int8 convs with kernel rows of a few taps: each u8 quad holds four
// consecutive taps of one kernel row for one output position, so one vpdpbusd (or one k-quad of
// gemm_int8) covers those taps for 16 outputs, and the planes are indexed by the output position
// itself (no im2col gather per tap, no virtual-grid columns to drop):
//
//   x4[e][phase][i * ow + j] = (P[j*sw + (4e)*dw], P[j*sw + (4e+1)*dw], P[j*sw + (4e+2)*dw], P[j*sw + (4e+3)*dw])
//       P = padded input row i * sh + phase (pad = the x zero point), e = 0 .. nq-1 (taps 4e..4e+3)
//   output (r, c), kernel row a reads x4[e][(a*dh) % sh][(r + (a*dh) / sh) * ow + c]
//
// Taps past kw read tap 0 (their weights are zero). Used by
//  - the depthwise conv (AVX512-VNNI, requantization fused): whole planes as one flat run of
//    oh * ow outputs, so 7x7 planes fill the vectors as well as 112x112 ones;
//  - group-1 strided convs whose kernel rows padded to whole quads cost at most a third more K
//    than im2col (the 3-channel 3x3/2 and 7x7/2 first layers, 3x3/2 downsampling convs): the
//    GEMM's packed R panels are 128-byte copies out of these planes (conv_int8_fast.cpp).
// Both are bit-exact with conv_int8_acc_ref (+ quant::requantize).
//
//   if (dwconv_q8_rowquad_applies(in, ep)) dwconv_q8_rowquad(in, ep, y, 0, n * c);
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "kernels/ops/qlinear_conv/conv_int8.h"

namespace edgeopt::kernels::ops::qlinear_conv {

struct RowQuadGeometry {
  int64_t oh = 0, ow = 0;
  int64_t nq = 0;           // quads per kernel row: ceil(kw / 4)
  int64_t rows = 0;         // quad rows per stride phase: oh + (kh - 1) * dh / sh
  int64_t phase_quads = 0;  // quads of one phase: rows * ow + slack for 64-output reads past the end
  int64_t plane_quads = 0;  // quads of one (input plane, e): sh * phase_quads
  int64_t row_bytes = 0, stream_len = 0;  // scratch of the portable builder
};
RowQuadGeometry rowquad_geometry(const conv::Window& w);

// Quad offset of kernel row a inside one (plane, e) block, at output 0.
inline int64_t rowquad_tap_offset(const conv::Window& w, const RowQuadGeometry& g, int64_t a) {
  const int64_t v = a * w.dilation[1];
  return v % w.stride[1] * g.phase_quads + v / w.stride[1] * g.ow;
}

// Builds the quad planes of input planes of one conv: x4 (g.plane_quads quads; 16-quad writes may
// spill into the slack) = the quads e of input plane x [ih, iw] (u8 domain: bytes xor mask; `pad`
// outside). AVX-512 (F+BW) when the int8 ISA is avx512vnni and the taps of 4 quads fit one 16-byte
// lane (3 sw + (4 nq - 1) dw <= 15), else portable byte shuffles. Construct once per conv call
// (the shuffles and row masks are made here); build() is thread-safe (per-thread scratch).
class RowQuadBuilder {
 public:
  RowQuadBuilder(const conv::Window& w, uint8_t mask, uint8_t pad);
  const RowQuadGeometry& geometry() const { return g_; }
  void build(const uint8_t* x, int64_t e, uint8_t* x4) const;

  // Per quad e: vpermd's dword indices and vpshufb's byte indices (AVX-512 builder).
  struct alignas(64) Shuffle {
    int32_t dwords[16];
    uint8_t bytes[64];
  };

 private:
  conv::Window w_;
  RowQuadGeometry g_;
  uint8_t mask_, pad_;
  bool avx512_ = false;
  std::vector<Shuffle> shuffles_;
  std::vector<uint64_t> load_masks_;  // per 16-quad step of a row: input bytes inside [0, iw)
};

// True on x86 when the int8 ISA is avx512vnni, the conv is depthwise 2-D (or 1-D) with kernel
// width <= 4, its weights are s8 with zero point 0 or u8 with zero point 128 (every channel), and
// for u8/s8 output every shift is a right shift of 0..31 (every real scale < 1).
bool dwconv_q8_rowquad_applies(const ConvInt8Inputs& in, const gemm_int8::Epilogue& ep);

// Planes [p_begin, p_end) of the N * C output planes into y (u8/s8/s32 per ep.out; ep.multiplier
// and ep.shift per channel; ep.bias unused: the conv's bias comes from in.bias). Only where
// dwconv_q8_rowquad_applies; thread-safe for disjoint plane ranges (per-thread scratch).
// The per-channel constants of that kernel, made once from constant weights W [C, 1, kh, kw]
// (kw <= 4): each kernel row as one s8-domain quad (taps past kw zero) and sum(W) per channel.
struct DwQuadWeights {
  const void* w_storage = nullptr;  // the tensor they were made from
  int64_t kh = 0;
  std::vector<int32_t> quads;  // [C][kh]
  std::vector<int32_t> sums;   // [C]
};
DwQuadWeights dw_quad_weights(const Tensor& w);

// `pre`: dw_quad_weights(in.w) made earlier, or null to make each channel's here.
void dwconv_q8_rowquad(const ConvInt8Inputs& in, const gemm_int8::Epilogue& ep, void* y, int64_t p_begin,
                       int64_t p_end, const DwQuadWeights* pre = nullptr);

// Small output planes (up to kBlockedMaxOutputs, e.g. MobileNetV2's 14x14 and 7x7 depthwise convs):
// 16 channels per step, one per vector lane, instead of one plane at a time, whose fixed per-channel
// cost and partial 64-output step dominate there. Where dwconv_q8_rowquad_applies; kernel height <= 8.
// Blocks [b_begin, b_end) of the N * ceil(C / 16) channel blocks; bit-exact with dwconv_q8_rowquad.
constexpr int64_t kBlockedMaxOutputs = 256;
bool dwconv_q8_blocked_pays(const ConvInt8Inputs& in);
void dwconv_q8_rowquad_blocks(const ConvInt8Inputs& in, const gemm_int8::Epilogue& ep, void* y, int64_t b_begin,
                              int64_t b_end, const DwQuadWeights* pre = nullptr);

}  // namespace edgeopt::kernels::ops::qlinear_conv

// The integer convolution shared by QLinearConv and ConvInteger: validation, the s32 reference
// (the oracle) and the fast path (packed weights + gemm_int8, a direct depthwise kernel).
//
//   acc[n, m, o] = bias[m] + sum_{c, k} (x[n, g*C/group + c, o*s - pb + k*d] - zx) * (w[m, c, k] - zw[m])
//
// with taps in the padding contributing 0 (as if x == zx there), s32 wrapping like every int8
// runtime. QLinearConv then requantizes acc per channel; ConvInteger returns it.
#pragma once
#include <memory>
#include <vector>

#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/op_def.h"
#include "kernels/ops/conv/conv_geometry.h"

namespace edgeopt::kernels::ops::qlinear_conv {

struct ConvInt8Inputs {
  const Tensor* x = nullptr;
  int32_t x_zp = 0;
  const Tensor* w = nullptr;
  std::vector<int32_t> w_zp;     // 1 (per tensor) or M values
  const Tensor* bias = nullptr;  // i32 [M] or null
  conv::ConvDims d;
  int32_t w_zp_of(int64_t m) const { return w_zp.size() == 1 ? w_zp[0] : w_zp[static_cast<size_t>(m)]; }
};

// Validates x/w (u8 or i8), the zero points (dtype of their tensor, scalar or [M] for w), the
// bias (i32 [M]) and the conv geometry; the names are the op's input names for messages.
// `attrs`: the node's conv attributes read by a prepare (conv::read_conv_attrs), or null.
ConvInt8Inputs read_conv_int8_inputs(const Node& node, const Tensor& x, const Tensor& x_zp, const Tensor& w,
                                     const Tensor& w_zp, const Tensor* bias, const char* x_zp_name,
                                     const char* w_zp_name, const conv::ConvAttrs* attrs = nullptr);

// [N, M, *out]
std::vector<int64_t> conv_int8_out_dims(const conv::ConvDims& d);

// The reference: s32 accumulators [N, M, *out].
Tensor conv_int8_acc_ref(const ConvInt8Inputs& in);

// Packs constant weights once (null when the fast path cannot use them: see conv_int8_fast).
std::shared_ptr<const OpState> conv_int8_prepare(const Node& node, const Tensor& w, const Tensor& w_zp);

// The fast conv into y (u8/s8/s32 per ep.out; ep's multiplier/shift are per output channel, its
// bias is set here). Returns false, writing nothing, when it does not apply: GEMM-path weights
// need a zero point of 0 (i8) or 128 (u8) for every channel; the depthwise path takes any.
// With pool2x2, y is the 2x2/2 (floor) max pool of the u8/s8 output, [N, M, oh/2, ow/2]; false when
// that is not supported here (groups, depthwise, not 2-D, s32 out): pool maxpool_2x2s2_s32 then.
bool conv_int8_fast(const ConvInt8Inputs& in, const OpState* state, gemm_int8::Epilogue ep, void* y,
                    bool pool2x2 = false);

// y [P, oh/2, ow/2] = the 2x2 stride-2 (floor) max of the s32 planes x [P, oh, ow]; AVX-512 when the
// int8 ISA is avx512vnni, else plain loops.
void maxpool_2x2s2_s32(const int32_t* x, int64_t planes, int64_t oh, int64_t ow, int32_t* y);

}  // namespace edgeopt::kernels::ops::qlinear_conv

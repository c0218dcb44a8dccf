// The backend's own CUDA kernels (cuda_kernels.cu): what cuDNN/cuBLAS do not fuse or do not offer.
// Host-callable launchers on plain pointers; every launcher enqueues on `stream` and returns the
// launch status (cudaGetLastError) so the caller can name the node. Float kernels are instantiated
// for f32 and f16 storage (math in f32); `half` pointers are passed as void* so this header needs no
// CUDA headers.
//
//   EDGEOPT_CUDA_CHECK(launch_unary(UnaryOp::kRelu, ElemType::kF16, x, y, n, 0, 0, stream), node);
#pragma once
#include <cstdint>

#include "kernels/quant/requantize.h"  // EDGEOPT_QUANT_HD

typedef struct CUstream_st* cudaStream_t;

namespace edgeopt::cuda {

enum class ElemType : uint8_t { kF32, kF16 };
enum class UnaryOp : uint8_t { kRelu, kSigmoid, kTanh, kHardSwish, kHardSigmoid, kClip, kLeakyRelu, kExp, kNeg, kAbs, kSqrt };
enum class BinaryOp : uint8_t { kAdd, kSub, kMul, kDiv, kMax, kMin };

inline constexpr int kMaxRank = 6;

// Broadcast binary op, out[i] = a[ia] op b[ib], dims right-aligned to `rank` (<= kMaxRank); a
// stride of 0 broadcasts that dim.
struct BroadcastShape {
  int rank = 0;
  int64_t out[kMaxRank] = {};
  int64_t a_stride[kMaxRank] = {};
  int64_t b_stride[kMaxRank] = {};
};

// The offsets into a and b of output element i (the elementwise kernels and QLinearAdd, on the
// device and in cuda_test's host emulation).
EDGEOPT_QUANT_HD inline void broadcast_offsets(const BroadcastShape& s, int64_t i, int64_t* ia, int64_t* ib) {
  int64_t rem = i, oa = 0, ob = 0;
  for (int d = s.rank - 1; d >= 0; --d) {
    const int64_t idx = rem % s.out[d];
    rem /= s.out[d];
    oa += idx * s.a_stride[d];
    ob += idx * s.b_stride[d];
  }
  *ia = oa;
  *ib = ob;
}

// All return an int (cudaError_t value; 0 = success).
int launch_convert_f32_to_f16(const float* x, void* y, int64_t n, cudaStream_t stream);
int launch_convert_f16_to_f32(const void* x, float* y, int64_t n, cudaStream_t stream);

// y[n, c, s] = clamp(y + bias[c] + residual[n, c, s], lo, hi); bias/residual may be null.
int launch_bias_act_nchw(ElemType t, void* y, const void* bias, const void* residual, int64_t batch, int64_t channels,
                         int64_t spatial, float lo, float hi, cudaStream_t stream);
// Depthwise 3x3 convolution (group = channels, one filter each), NCHW, stride 1 or 2, symmetric
// pads, dilation 1: y = clamp(conv(x, w) + bias[c] + residual, lo, hi); bias/residual may be null.
struct DwConv3x3 {
  int64_t batch = 0;
  int channels = 0, in_h = 0, in_w = 0, out_h = 0, out_w = 0, stride = 1, pad_h = 0, pad_w = 0;
  float lo = -3.4e38f, hi = 3.4e38f;
};
int launch_dwconv3x3_nchw(ElemType t, const void* x, const void* w, const void* bias, const void* residual, void* y,
                          const DwConv3x3& d, cudaStream_t stream);
// y[m, n] = clamp(y + beta * c[m * c_stride_m + n * c_stride_n], lo, hi); c may be null.
int launch_gemm_epilogue(ElemType t, void* y, const void* c, int64_t c_stride_m, int64_t c_stride_n, float beta,
                         int64_t m, int64_t n, float lo, float hi, cudaStream_t stream);

int launch_unary(UnaryOp op, ElemType t, const void* x, void* y, int64_t n, float p0, float p1, cudaStream_t stream);
int launch_binary(BinaryOp op, ElemType t, const void* a, const void* b, void* y, const BroadcastShape& s,
                  cudaStream_t stream);

// Softmax over the middle axis of [outer, n, inner] (softmax.h's layout), max-subtracted.
int launch_softmax(ElemType t, const void* x, void* y, int64_t outer, int64_t n, int64_t inner, bool log,
                   cudaStream_t stream);

// 2-D max/average pooling on NCHW planes (1-D pools pass ih = oh = kh = 1). pad_* are the window's
// begin/end pads; include_pad: AveragePool's count_include_pad.
struct Pool2d {
  int64_t planes = 0, ih = 0, iw = 0, oh = 0, ow = 0, kh = 1, kw = 1, sh = 1, sw = 1, ph = 0, pw = 0, pe_h = 0,
          pe_w = 0, dh = 1, dw = 1;
  bool max = true;
  bool include_pad = false;
};
int launch_pool2d(ElemType t, const void* x, void* y, const Pool2d& p, cudaStream_t stream);
// y[p] = mean (or max) of x[p, 0..spatial): one block per plane.
int launch_global_pool(ElemType t, const void* x, void* y, int64_t planes, int64_t spatial, bool max,
                       cudaStream_t stream);

// ONNX QuantizeLinear / DequantizeLinear, per tensor, through quant::quantize_f32/dequantize_f32.
int launch_quantize_linear(ElemType t, const void* x, void* y, bool y_u8, int64_t n, float scale, int32_t zp,
                           cudaStream_t stream);
int launch_dequantize_linear(ElemType t, const void* x, bool x_u8, void* y, int64_t n, float scale, int32_t zp,
                             cudaStream_t stream);

// int8 GEMM support. Codes are moved to s8 (u8 - 128) so cuBLASLt's s8 x s8 -> s32 GEMM applies;
// the zero points are then corrected exactly in the epilogue:
//   acc[i, j] = S[i, j] - zb[j] * rowsum_a[i] - za * colsum_b[j] + K * za * zb[j] + bias[j]
// with S = sum_k as[i, k] * bs[k, j], za/zb the zero points on the s8 scale, all in wrapping s32
// (as the CPU reference, matmul_int8.h), then quant::requantize per column.
int launch_u8_to_s8(const void* x, void* y, int64_t n, cudaStream_t stream);  // y = x - 128
int launch_row_sums_s8(const int8_t* a, int32_t* sums, int64_t m, int64_t k, cudaStream_t stream);
// S[m, n] = sum_k a[m, k] * bt[n, k] (bt: B transposed, [N, K] row-major): when cuBLASLt cannot.
int launch_gemm_s8_s32(const int8_t* a, const int8_t* bt, int32_t* s, int64_t m, int64_t n, int64_t k,
                       cudaStream_t stream);
struct RequantEpilogue {
  const int32_t* row_sum_a = nullptr;   // [M]
  const int32_t* col_sum_b = nullptr;   // [N]
  const int32_t* zb = nullptr;          // [N], s8 scale
  const int32_t* bias = nullptr;        // [N] or null
  const int32_t* multiplier = nullptr;  // [N]
  const int32_t* shift = nullptr;       // [N]
  int32_t za = 0;                       // s8 scale
  int64_t m = 0, n = 0, k = 0;
  int32_t y_zp = 0, qmin = 0, qmax = 255;
  bool y_u8 = true;
};
int launch_requantize_gemm(const int32_t* s, void* y, const RequantEpilogue& e, cudaStream_t stream);

}  // namespace edgeopt::cuda

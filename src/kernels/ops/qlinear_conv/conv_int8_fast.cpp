// Fast int8 conv: per (image, group) an u8 im2col (padding = the x zero point, so padded taps add
// 0) packed for gemm_int8 against weights packed once in prepare; depthwise 2D convs use a direct
// kernel over a zero-padded s16 plane (9 MACs per output do not pay for a GEMM), then the same
// vectorized requantization epilogue.
#if defined(__x86_64__)
#include <immintrin.h>
// The AVX-512 row kernels below; other CPUs take the portable loops (gemm_int8 picks the GEMM ISA).
#define EDGEOPT_CONV_INT8_AVX512 1
#endif

#include <algorithm>
#include <cstring>

#include "core/thread_pool.h"
#include "kernels/microkernels/gemm_int8/interleave_u8.h"
#include "kernels/ops/qlinear_conv/conv_int8.h"
#include "kernels/ops/qlinear_conv/rowquad_int8.h"

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own mask intrinsics (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

namespace edgeopt::kernels::ops::qlinear_conv {
namespace {

using gemm_int8::Epilogue;

struct ConvInt8State final : OpState {
  const void* w_storage = nullptr;  // what it was built from: a forward with other weights ignores it
  Shape w_shape;
  std::vector<std::vector<uint8_t>> packed;  // per group: W_g [M/g, C/g*k] as s8 (u8 weights xor 0x80)
  std::vector<int32_t> w_sums;               // per output channel: sum_k W (s8 domain)
  // For the NHWC4 path (2-D, group 1, >= 9 input channels; used when the strides are 1): W as
  // [M, kh*kw, cq, 4] with the channels zero-padded to cq * 4, packed; empty otherwise, and empty
  // for a 1x1 kernel over a multiple of 4 channels, whose NHWC4 form is packed[0] byte for byte.
  std::vector<uint8_t> packed_nhwc4;
  int64_t cq = 0;  // > 0: the NHWC4 weights exist (nhwc4_weights())
  const uint8_t* nhwc4_weights() const { return packed_nhwc4.empty() ? packed[0].data() : packed_nhwc4.data(); }
  // For the row-tap path (2-D, group 1, few channels, kernel width <= 4, e.g. the 1-channel first
  // layer; used when the strides are 1): W as [M, C, kh, 4] with the kernel rows zero-padded to
  // 4 taps, packed; empty otherwise.
  std::vector<uint8_t> packed_rowtap;
  // For the row-quad path (2-D, group 1, few channels, strides > 1, e.g. the 3-channel first
  // layers): W as [M, C, kh, nq * 4] (kernel rows zero-padded to whole quads), packed; else empty.
  std::vector<uint8_t> packed_rowquad;
  // Depthwise 2-D convs (the row-quad depthwise kernel): per-channel weight quads and sums.
  DwQuadWeights dw;
};

bool is_depthwise2d(const conv::ConvDims& d) {
  return d.c / d.group == 1 && d.m == d.group && d.group > 1 && d.win.nd <= 2;
}

// The weights' zero point in the s8 domain is 0: i8 with zw 0, or u8 with zw 128 (xor 0x80).
bool gemm_weights_ok(const Tensor& w, const std::vector<int32_t>& zw) {
  const int32_t want = w.dtype() == DType::kU8 ? 128 : 0;
  for (int32_t z : zw)
    if (z != want) return false;
  return true;
}

// Channels padded to a multiple of 4 cost at most a third more work.
bool nhwc4_channels_ok(int64_t c) { return c >= 8 && (c + 3) / 4 * 4 * 3 <= c * 4; }

// A kernel row padded to 4 taps costs no more K than im2col's padding (1 channel, 3x3 or 4x4).
bool rowtap_kernel_ok(int64_t c, int64_t kh, int64_t kw) {
  return kw <= 4 && c * kh * 4 <= gemm_int8::padded_k(c * kh * kw);
}

// Kernel rows padded to whole quads cost at most a third more K than im2col's padding.
bool rowquad_kernel_ok(int64_t c, int64_t kh, int64_t kw) {
  const int64_t row_taps = (kw + 3) / 4 * 4;
  return c * kh * row_taps * 3 <= gemm_int8::padded_k(c * kh * kw) * 4;
}

// nhwc4: pack for the NHWC4 path (or, with few channels and stride 1, the row-tap path); rowquad:
// for the row-quad path (strided, when NHWC4 does not take the channels).
std::shared_ptr<ConvInt8State> pack_weights(const Tensor& w, int64_t group, bool nhwc4 = false, bool rowquad = false,
                                            bool stride1 = true) {
  auto st = std::make_shared<ConvInt8State>();
  st->w_storage = w.raw();
  st->w_shape = w.shape();
  const int64_t m = w.shape()[0], mg = m / group, kdim = w.numel() / m;
  const uint8_t mask = w.dtype() == DType::kU8 ? 0x80 : 0;
  const auto* pw = static_cast<const uint8_t*>(w.raw());
  st->packed.resize(static_cast<size_t>(group));
  for (int64_t g = 0; g < group; ++g) {
    st->packed[g].resize(gemm_int8::packed_lhs_bytes(mg, kdim));
    gemm_int8::pack_lhs(pw + g * mg * kdim, mg, kdim, kdim, mask, st->packed[g].data());
  }
  st->w_sums.assign(static_cast<size_t>(m), 0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t k = 0; k < kdim; ++k) st->w_sums[i] += static_cast<int8_t>(pw[i * kdim + k] ^ mask);
  const int64_t c = w.rank() == 4 ? w.shape()[1] : 0;
  if (nhwc4 && group == 1 && nhwc4_channels_ok(c)) {
    const int64_t taps = kdim / c;
    st->cq = (c + 3) / 4;
    const int64_t kd4 = taps * st->cq * 4;
    if (taps == 1 && c % 4 == 0) return st;  // K order (channel) already NHWC4's: packed[0]
    std::vector<uint8_t> w4(static_cast<size_t>(m * kd4), 0);  // s8 domain, padded channels 0
    for (int64_t i = 0; i < m; ++i)
      for (int64_t ch = 0; ch < c; ++ch)
        for (int64_t t = 0; t < taps; ++t) w4[i * kd4 + t * st->cq * 4 + ch] = pw[(i * c + ch) * taps + t] ^ mask;
    st->packed_nhwc4.resize(gemm_int8::packed_lhs_bytes(m, kd4));
    gemm_int8::pack_lhs(w4.data(), m, kd4, kd4, 0, st->packed_nhwc4.data());
  } else if (nhwc4 && stride1 && group == 1 && c > 0 && rowtap_kernel_ok(c, w.shape()[2], w.shape()[3])) {
    const int64_t kh = w.shape()[2], kw = w.shape()[3], kdr = c * kh * 4;
    std::vector<uint8_t> wr(static_cast<size_t>(m * kdr), 0);  // s8 domain, taps past kw 0
    for (int64_t i = 0; i < m; ++i)
      for (int64_t r = 0; r < c * kh; ++r)
        for (int64_t b = 0; b < kw; ++b) wr[i * kdr + r * 4 + b] = pw[(i * c * kh + r) * kw + b] ^ mask;
    st->packed_rowtap.resize(gemm_int8::packed_lhs_bytes(m, kdr));
    gemm_int8::pack_lhs(wr.data(), m, kdr, kdr, 0, st->packed_rowtap.data());
  } else if (rowquad && group == 1 && c > 0 && rowquad_kernel_ok(c, w.shape()[2], w.shape()[3])) {
    const int64_t kh = w.shape()[2], kw = w.shape()[3], rq = (kw + 3) / 4 * 4, kdr = c * kh * rq;
    std::vector<uint8_t> wr(static_cast<size_t>(m * kdr), 0);  // s8 domain, taps past kw 0
    for (int64_t i = 0; i < m; ++i)
      for (int64_t r = 0; r < c * kh; ++r)
        for (int64_t b = 0; b < kw; ++b) wr[i * kdr + r * rq + b] = pw[(i * c * kh + r) * kw + b] ^ mask;
    st->packed_rowquad.resize(gemm_int8::packed_lhs_bytes(m, kdr));
    gemm_int8::pack_lhs(wr.data(), m, kdr, kdr, 0, st->packed_rowquad.data());
  }
  return st;
}

uint8_t* thread_bytes(int slot, size_t n) {
  thread_local std::vector<uint8_t> bufs[4];
  if (bufs[slot].size() < n) bufs[slot].resize(n);
  return bufs[slot].data();
}

// Per-thread room for offsets: slot 0 an indirect R's quad offsets (Operands::rhs_quad_offsets),
// slot 1 the pixel offsets of gemm_int8_pixel_rows.
int64_t* thread_offsets(int slot, int64_t n) {
  thread_local std::vector<int64_t> offs[2];
  if (offs[slot].size() < static_cast<size_t>(n)) offs[slot].resize(static_cast<size_t>(n));
  return offs[slot].data();
}

// One output row of im2col: o[s] = x[s * stride - pad + k * dil] ^ mask, `fill` where that lands
// outside [0, n); the in-bounds range is computed once so the copy itself has no branches.
void im2col_row_u8(const uint8_t* x, int64_t n, int64_t out, int64_t stride, int64_t offset, uint8_t mask, uint8_t fill,
                   uint8_t* o) {
  // s in [lo, hi) <=> 0 <= s * stride + offset < n
  int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  int64_t hi = n - offset <= 0 ? 0 : (n - offset + stride - 1) / stride;
  lo = std::min(lo, out);
  hi = std::max(lo, std::min(hi, out));
  std::memset(o, fill, static_cast<size_t>(lo));
  const uint8_t* xs = x + lo * stride + offset;
  if (stride == 1) {
    std::memcpy(o + lo, xs, static_cast<size_t>(hi - lo));
    if (mask) gemm_int8::xor_u8(o + lo, hi - lo, mask);
  } else {
    int64_t s = 0;
    if (stride == 2) {  // 16 outputs per step from a 32-byte load that stays inside the row
      const int64_t avail = n - (lo * stride + offset);
      alignas(16) uint8_t odd[16];
      for (; s + 16 <= hi - lo && 2 * s + 32 <= avail; s += 16) gemm_int8::deinterleave2x16_u8(xs + 2 * s, o + lo + s, odd);
      if (mask) gemm_int8::xor_u8(o + lo, s, mask);
    }
    for (; s < hi - lo; ++s) o[lo + s] = xs[s * stride] ^ mask;
  }
  std::memset(o + hi, fill, static_cast<size_t>(out - hi));
}

// The im2col row of tap offset (dy, dx) when stride is 1 and the output plane has the input's
// size h x w: out[y, x] = in[y + dy, x + dx] ^ mask, `pad` outside. One copy of the shifted plane,
// then only the |dx| edge columns of each row and the |dy| edge rows are patched.
void im2col_plane_shift_u8(const uint8_t* in, int64_t h, int64_t w, int64_t dy, int64_t dx, uint8_t mask, uint8_t pad,
                           uint8_t* out) {
  const int64_t y0 = std::clamp<int64_t>(-dy, 0, h), y1 = std::clamp<int64_t>(h - dy, y0, h);
  std::memset(out, pad, static_cast<size_t>(y0 * w));
  std::memset(out + y1 * w, pad, static_cast<size_t>((h - y1) * w));
  if (y1 <= y0) return;
  // Flat copy of rows [y0, y1): reads in[(y0 + dy) * w + dx ...], trimmed to the plane's bounds
  // (the trimmed bytes are edge columns, patched below).
  int64_t begin = y0 * w, end = y1 * w;
  int64_t src = (y0 + dy) * w + dx;
  if (src < 0) begin -= src, src = 0;
  end = std::min(end, begin + (h * w - src));
  std::memcpy(out + begin, in + src, static_cast<size_t>(std::max<int64_t>(0, end - begin)));
  if (mask) gemm_int8::xor_u8(out + begin, end - begin, mask);
  const int64_t cl = std::clamp<int64_t>(-dx, 0, w), cr = std::clamp<int64_t>(w - dx, cl, w);
  for (int64_t y = y0; y < y1; ++y) {
    uint8_t* row = out + y * w;
    for (int64_t x = 0; x < cl; ++x) row[x] = pad;
    for (int64_t x = cr; x < w; ++x) row[x] = pad;
  }
}

// im2col straight into gemm_int8's packed R: rows (c, k0, k1, k2) of col [cg*k, out] (u8 domain:
// x ^ mask, `pad` for taps in the padding) are made four at a time in an L1-sized buffer, then
// interleaved into the panels, so the unpacked matrix never goes to memory.
void im2col_packed_u8(const conv::Window& w, int64_t cg, const uint8_t* x, uint8_t mask, uint8_t pad, uint8_t* rp) {
  const int64_t in_sz = w.big_numel(), out_sz = w.small_numel(), k_sz = w.kernel_numel();
  const int64_t kdim = cg * k_sz, kp = gemm_int8::padded_k(kdim);
  uint8_t* rows = thread_bytes(1, static_cast<size_t>(4 * out_sz));
  // 2-D, stride 1, output as large as the input ("same" padding): each im2col row is the plane shifted.
  const bool shifted_planes =
      w.nd <= 2 && w.stride[1] == 1 && w.stride[2] == 1 && w.small[1] == w.big[1] && w.small[2] == w.big[2];
  for (int64_t q = 0; q < kp / 4; ++q) {
    const int64_t nrows = std::min<int64_t>(4, kdim - 4 * q);
    for (int64_t t = 0; t < nrows; ++t) {
      const int64_t row = 4 * q + t, c = row / k_sz, k = row % k_sz;
      const int64_t k2 = k % w.kernel[2], k1 = (k / w.kernel[2]) % w.kernel[1], k0 = k / (w.kernel[2] * w.kernel[1]);
      const uint8_t* xc = x + c * in_sz;
      uint8_t* out = rows + t * out_sz;
      if (shifted_planes) {
        im2col_plane_shift_u8(xc, w.big[1], w.big[2], k1 * w.dilation[1] - w.pad_begin[1],
                              k2 * w.dilation[2] - w.pad_begin[2], mask, pad, out);
        continue;
      }
      for (int64_t s0 = 0; s0 < w.small[0]; ++s0) {
        const int64_t b0 = s0 * w.stride[0] - w.pad_begin[0] + k0 * w.dilation[0];
        for (int64_t s1 = 0; s1 < w.small[1]; ++s1) {
          const int64_t b1 = s1 * w.stride[1] - w.pad_begin[1] + k1 * w.dilation[1];
          uint8_t* o = out + (s0 * w.small[1] + s1) * w.small[2];
          if (b0 < 0 || b0 >= w.big[0] || b1 < 0 || b1 >= w.big[1]) {
            std::memset(o, pad, static_cast<size_t>(w.small[2]));
            continue;
          }
          im2col_row_u8(xc + (b0 * w.big[1] + b1) * w.big[2], w.big[2], w.small[2], w.stride[2],
                        k2 * w.dilation[2] - w.pad_begin[2], mask, pad, o);
        }
      }
    }
    gemm_int8::pack_rhs_quad(rows, nrows, out_sz, out_sz, q, kp, rp);
  }
}

#if EDGEOPT_CONV_INT8_AVX512
// One output row of a depthwise conv: o[i] = bias + sum_t src[t][i] * w[t] for i < n, the taps'
// s16 rows already offset. Taps go in pairs through vpmaddwd (x and w are within +-255, so a pair
// sum is exact in s32): 32 outputs per step in two accumulators, interleaved back once at the end.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void dw_row_avx512(const int16_t* const* src, const int32_t* w,
                                                                        int64_t taps, int32_t bias, int32_t* o,
                                                                        int64_t n) {
  // accA holds outputs {0-3, 8-11, 16-19, 24-27}, accB {4-7, ...} (unpacklo/hi order per 128 bits).
  const __m512i first = _mm512_set_epi32(23, 22, 21, 20, 7, 6, 5, 4, 19, 18, 17, 16, 3, 2, 1, 0);
  const __m512i second = _mm512_set_epi32(31, 30, 29, 28, 15, 14, 13, 12, 27, 26, 25, 24, 11, 10, 9, 8);
  for (int64_t i = 0; i < n; i += 32) {
    const int64_t rem = std::min<int64_t>(32, n - i);
    const __mmask32 m = rem == 32 ? ~__mmask32{0} : static_cast<__mmask32>((uint64_t{1} << rem) - 1);
    __m512i acc_a = _mm512_set1_epi32(bias), acc_b = acc_a;
    for (int64_t t = 0; t < taps; t += 2) {
      const __m512i x0 = _mm512_maskz_loadu_epi16(m, src[t] + i);
      const bool pair = t + 1 < taps;
      const __m512i x1 = pair ? _mm512_maskz_loadu_epi16(m, src[t + 1] + i) : _mm512_setzero_si512();
      const int32_t w1 = pair ? w[t + 1] : 0;
      const __m512i wp = _mm512_set1_epi32(
          static_cast<int32_t>((static_cast<uint32_t>(w1) << 16) | (static_cast<uint32_t>(w[t]) & 0xffffu)));
      acc_a = _mm512_add_epi32(acc_a, _mm512_madd_epi16(_mm512_unpacklo_epi16(x0, x1), wp));
      acc_b = _mm512_add_epi32(acc_b, _mm512_madd_epi16(_mm512_unpackhi_epi16(x0, x1), wp));
    }
    const __m512i lo = _mm512_permutex2var_epi32(acc_a, first, acc_b);
    const __m512i hi = _mm512_permutex2var_epi32(acc_a, second, acc_b);
    const auto m0 = static_cast<__mmask16>(m & 0xffff), m1 = static_cast<__mmask16>(m >> 16);
    _mm512_mask_storeu_epi32(o + i, m0, lo);
    if (m1) _mm512_mask_storeu_epi32(o + i + 16, m1, hi);
  }
}
#endif

void dw_row_scalar(const int16_t* const* src, const int32_t* w, int64_t taps, int32_t bias, int32_t* o, int64_t n) {
  std::fill(o, o + n, bias);
  for (int64_t t = 0; t < taps; ++t)
    for (int64_t i = 0; i < n; ++i) o[i] += src[t][i] * w[t];
}

#if EDGEOPT_CONV_INT8_AVX512
// Row r of the phase planes from one input row: dst[phase][j] = x[c] - zx for padded column
// c + pad = j * 2 + phase (stride 2), or dst[0][c + pad] (stride 1); AVX-512 for u8/s8.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void widen_row_avx512(const uint8_t* x, int64_t n, bool x_signed,
                                                                           int32_t zx, int64_t pad, int64_t sw,
                                                                           int16_t* phase0, int16_t* phase1) {
  const __m512i vz = _mm512_set1_epi16(static_cast<int16_t>(zx));
  // Even-then-odd order of 32 s16 lanes.
  const __m512i deint = _mm512_set_epi16(31, 29, 27, 25, 23, 21, 19, 17, 15, 13, 11, 9, 7, 5, 3, 1, 30, 28, 26, 24, 22,
                                         20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  int64_t c = 0;
  // Stride 2: even x columns land in phase (pad % 2) at (c + pad) / 2, odd ones in the other phase.
  int16_t* even_dst = pad % 2 ? phase1 : phase0;
  int16_t* odd_dst = pad % 2 ? phase0 : phase1;
  for (; c < n; c += 32) {
    // The last step loads and stores only the remaining columns (masks), no scalar tail.
    const int64_t rem = std::min<int64_t>(32, n - c);
    const __mmask32 m = rem == 32 ? ~__mmask32{0} : static_cast<__mmask32>((uint64_t{1} << rem) - 1);
    const __m256i b = _mm256_maskz_loadu_epi8(m, x + c);
    const __m512i v = _mm512_sub_epi16(x_signed ? _mm512_cvtepi8_epi16(b) : _mm512_cvtepu8_epi16(b), vz);
    if (sw == 1) {
      _mm512_mask_storeu_epi16(phase0 + c + pad, m, v);
    } else {
      const __m512i d = _mm512_permutexvar_epi16(deint, v);
      const auto me = static_cast<__mmask16>((1u << ((rem + 1) / 2)) - 1),
                 mo = static_cast<__mmask16>((1u << (rem / 2)) - 1);
      _mm256_mask_storeu_epi16(even_dst + (c + pad) / 2, me, _mm512_castsi512_si256(d));
      _mm256_mask_storeu_epi16(odd_dst + (c + 1 + pad) / 2, mo, _mm512_extracti64x4_epi64(d, 1));
    }
  }
}
#endif

// One depthwise channel plane: acc[out] = bias + sum_taps (x - zx) * (w - zw). x - zx goes into a
// zero-padded s16 plane split into `stride_w` column phases (column j of phase p = padded column
// j * stride_w + p), so every tap reads a contiguous run whatever the stride.
void dwconv_plane(const conv::Window& w, const uint8_t* x, bool x_signed, int32_t zx, const uint8_t* wk, bool w_signed,
                  int32_t zw, int32_t bias, int32_t* acc, bool avx512) {
  const int64_t ih = w.big[1], iw = w.big[2], oh = w.small[1], ow = w.small[2];
  const int64_t kh = w.kernel[1], kw = w.kernel[2], sh = w.stride[1], sw = w.stride[2];
  const int64_t dh = w.dilation[1], dw = w.dilation[2], ph = w.pad_begin[1], pw = w.pad_begin[2];
  const int64_t hp = std::max(ih + ph, (oh - 1) * sh + (kh - 1) * dh + 1);
  const int64_t wp = std::max(iw + pw, (ow - 1) * sw + (kw - 1) * dw + 1);
  const int64_t wq = (wp + sw - 1) / sw;  // columns per phase
  auto* xp = reinterpret_cast<int16_t*>(thread_bytes(1, static_cast<size_t>(sw * hp * wq) * sizeof(int16_t)));
  std::fill(xp, xp + sw * hp * wq, int16_t{0});
  [[maybe_unused]] const bool vec_rows = avx512 && sw <= 2;
  for (int64_t r = 0; r < ih; ++r) {
    const uint8_t* xr = x + r * iw;
#if EDGEOPT_CONV_INT8_AVX512
    if (vec_rows) {
      widen_row_avx512(xr, iw, x_signed, zx, pw, sw, xp + (r + ph) * wq, sw == 2 ? xp + (hp + r + ph) * wq : nullptr);
      continue;
    }
#endif
    int64_t phase = pw % sw, j = pw / sw;  // of padded column c + pw, stepped without divisions
    for (int64_t c = 0; c < iw; ++c) {
      const int32_t v = x_signed ? int32_t{static_cast<int8_t>(xr[c])} : int32_t{xr[c]};
      xp[(phase * hp + r + ph) * wq + j] = static_cast<int16_t>(v - zx);
      if (++phase == sw) phase = 0, ++j;
    }
  }
  thread_local std::vector<int32_t> wts;
  thread_local std::vector<const int16_t*> src;
  wts.resize(static_cast<size_t>(kh * kw));
  src.resize(static_cast<size_t>(kh * kw));
  for (int64_t t = 0; t < kh * kw; ++t) wts[t] = (w_signed ? int32_t{static_cast<int8_t>(wk[t])} : int32_t{wk[t]}) - zw;
  thread_local std::vector<int64_t> tap_offset;  // of tap (a, b) in the phase planes, at output row 0
  tap_offset.resize(static_cast<size_t>(kh * kw));
  for (int64_t a = 0; a < kh; ++a)
    for (int64_t b = 0; b < kw; ++b) {
      const int64_t col = b * dw;
      tap_offset[a * kw + b] = ((col % sw) * hp + a * dh) * wq + col / sw;
    }
  for (int64_t r = 0; r < oh; ++r) {
    for (int64_t t = 0; t < kh * kw; ++t) src[t] = xp + tap_offset[t] + r * sh * wq;
#if EDGEOPT_CONV_INT8_AVX512
    if (avx512) {
      dw_row_avx512(src.data(), wts.data(), kh * kw, bias, acc + r * ow, ow);
      continue;
    }
#endif
    dw_row_scalar(src.data(), wts.data(), kh * kw, bias, acc + r * ow, ow);
  }
}

size_t out_elem_size(const Epilogue& ep) { return ep.out == gemm_int8::OutType::kS32 ? 4 : 1; }

// Copies n bytes (n small, e.g. one output row of a 14x14 plane) without a library call.
inline void copy_short(uint8_t* dst, const uint8_t* src, int64_t n) {
  if (n < 8) {
    for (int64_t i = 0; i < n; ++i) dst[i] = src[i];
    return;
  }
  for (int64_t i = 0; i + 8 < n; i += 8) std::memcpy(dst + i, src + i, 8);
  std::memcpy(dst + n - 8, src + n - 8, 8);
}

// Geometry of the NHWC4 path: the output is computed on a "virtual" grid OH x wp whose rows are
// as wide as the padded input (wp = OW + (kw-1)*dw), so the taps of 32 consecutive virtual
// outputs are 32 consecutive pixels of the padded input; the wp - OW extra columns per row are
// computed and dropped.
struct Nhwc4Geometry {
  int64_t oh, ow, wp, nv, plane_px;
  int64_t stride = 1;  // 2: four phase planes per channel quad (pack_input_nhwc4_s2)
};

Nhwc4Geometry nhwc4_geometry(const conv::Window& w) {
  Nhwc4Geometry g;
  g.oh = w.small[1];
  g.ow = w.small[2];
  if (w.stride[1] == 2) {
    // Stride 2 (dilation 1) on phase planes: phase (ry, rx) pixel (i, j) is padded input pixel
    // (2i + ry, 2j + rx), so tap (a, b) of output (r, c) is phase (a % 2, b % 2) pixel
    // (r + a / 2, c + b / 2): a stride-1 virtual grid again, (kw - 1) / 2 extra columns per row.
    g.stride = 2;
    const int64_t rh = (w.kernel[1] - 1) / 2, rw = (w.kernel[2] - 1) / 2;
    g.wp = g.ow + rw;
    g.nv = g.oh * g.wp;
    const int64_t nvp = (g.nv + gemm_int8::kNr - 1) / gemm_int8::kNr * gemm_int8::kNr;
    g.plane_px = std::max((g.oh + rh) * g.wp, nvp + rh * g.wp + rw);
    return g;
  }
  g.wp = g.ow + (w.kernel[2] - 1) * w.dilation[2];
  g.nv = g.oh * g.wp;
  const int64_t hp = g.oh + (w.kernel[1] - 1) * w.dilation[1];
  const int64_t nvp = (g.nv + gemm_int8::kNr - 1) / gemm_int8::kNr * gemm_int8::kNr;
  const int64_t taps_px = (w.kernel[1] - 1) * w.dilation[1] * g.wp + (w.kernel[2] - 1) * w.dilation[2];
  // Every pixel a (padded) panel column reads lies inside the plane, for the virtual-grid panels and
  // for the row-pair panels of a fused 2x2 pool (rowpair_panel_px).
  const int64_t pooled_end = g.oh / 2 > 0 ? (g.oh / 2 * 2 - 1) * g.wp + (g.ow / 2 + 7) / 8 * 16 : 0;
  g.plane_px = std::max({hp * g.wp, nvp + taps_px, pooled_end + taps_px});
  return g;
}

// Stride 2 in both dims with dilation 1: the phase-plane form of the NHWC4 path (a 1x1 kernel
// reads phase (0, 0) only, which is all that is built for it).
bool nhwc4_stride2(const conv::Window& w) {
  return w.stride[1] == 2 && w.stride[2] == 2 && w.dilation[1] == 1 && w.dilation[2] == 1;
}

bool nhwc4_applies(const conv::ConvDims& d, const ConvInt8State* st) {
  if (!st || st->cq == 0 || d.group != 1 || d.win.nd != 2) return false;
  const bool s1 = d.win.stride[1] == 1 && d.win.stride[2] == 1, s2 = nhwc4_stride2(d.win);
  if (!s1 && !s2) return false;
  // Dropped virtual columns cost at most a third more work.
  const int64_t wp = s2 ? d.win.small[2] + (d.win.kernel[2] - 1) / 2
                        : d.win.small[2] + (d.win.kernel[2] - 1) * d.win.dilation[2];
  return wp * 3 <= d.win.small[2] * 4;
}

bool rowquad_applies(const conv::ConvDims& d, const ConvInt8State* st) {
  return st && !st->packed_rowquad.empty() && d.group == 1 && d.win.nd == 2;
}

bool rowtap_applies(const conv::ConvDims& d, const ConvInt8State* st) {
  if (!st || st->packed_rowtap.empty() || d.group != 1 || d.win.nd != 2 || d.win.stride[1] != 1 ||
      d.win.stride[2] != 1)
    return false;
  const int64_t wp = d.win.small[2] + (d.win.kernel[2] - 1) * d.win.dilation[2];
  return wp * 3 <= d.win.small[2] * 4;
}

// x [C, H, W] (u8 domain after xor mask) -> planes [cq][plane_px][4] (every byte written): pixel (iy, ix) of channel
// 4q + j at byte ((q * plane_px + (iy + pt) * wp + ix + pl) * 4 + j); padding and the tail hold
// `pad` (the zero point, so padded taps add 0). Channels past C repeat channel C-1: their
// weights are 0.
void pack_input_nhwc4(const uint8_t* x, int64_t c, const conv::Window& w, const Nhwc4Geometry& g, int64_t cq,
                      uint8_t mask, uint8_t pad, uint8_t* planes) {
  const int64_t h = w.big[1], iw = w.big[2], pt = w.pad_begin[1], pl = w.pad_begin[2];
  const int64_t total = c * h * iw;
  const uint32_t pad4 = 0x01010101u * pad;
  auto fill = [&](uint8_t* at, int64_t pixels) {
    for (int64_t i = 0; i < pixels; ++i) std::memcpy(at + i * 4, &pad4, 4);
  };
  // Input rows/columns beyond the virtual grid are never read (pad_end larger than needed).
  const int64_t rows = std::min(h, g.oh + (w.kernel[1] - 1) * w.dilation[1] - pt);
  const int64_t cols = std::min(iw, g.wp - pl);
  for (int64_t q = 0; q < cq; ++q) {
    const uint8_t* src[4];
    for (int64_t j = 0; j < 4; ++j) src[j] = x + std::min(4 * q + j, c - 1) * h * iw;
    uint8_t* plane = planes + q * g.plane_px * 4;
    for (int64_t iy = 0; iy < rows; ++iy) {
      uint8_t* out = plane + ((iy + pt) * g.wp + pl) * 4;
      const int64_t off = iy * iw;
      int64_t ix = 0;
      // 16 pixels per step (may write up to 15 pixels past the row: re-padded below, or
      // overwritten by the next row); reads stay inside x.
      for (; ix < cols && (src[3] - x) + off + ix + 16 <= total; ix += 16) {
        gemm_int8::interleave4x16_xor_u8(src[0] + off + ix, src[1] + off + ix, src[2] + off + ix, src[3] + off + ix,
                                         mask, out + ix * 4);
      }
      for (; ix < cols; ++ix)
        for (int64_t j = 0; j < 4; ++j) out[ix * 4 + j] = src[j][off + ix] ^ mask;
    }
    // Re-pad every non-data pixel of this plane: the 16-pixel steps (here, or of the plane before,
    // which spills into this one's top rows) may have written over them.
    fill(plane, pt * g.wp);
    for (int64_t iy = 0; iy < rows; ++iy) {
      uint8_t* row = plane + (iy + pt) * g.wp * 4;
      fill(row, pl);
      fill(row + (pl + cols) * 4, g.wp - pl - cols);
    }
    const int64_t tail = (rows + pt) * g.wp;
    fill(plane + tail * 4, g.plane_px - tail);
  }
}

// Stride 2: x [C, H, W] -> per channel quad q the four phase planes (ry, rx), plane q * 4 + 2 ry + rx
// of g.plane_px pixels: phase pixel (i, j) of channel 4q + t at byte
// (((q * 4 + 2 ry + rx) * plane_px + i * wp + j) * 4 + t) = padded input (2i + ry, 2j + rx), i.e.
// x[4q + t, 2i + ry - pt, 2j + rx - pl] ^ mask, `pad` outside the input (every byte written).
void pack_input_nhwc4_s2(const uint8_t* x, int64_t c, const conv::Window& w, const Nhwc4Geometry& g, int64_t cq,
                         uint8_t mask, uint8_t pad, uint8_t* planes) {
  const int64_t h = w.big[1], iw = w.big[2], pt = w.pad_begin[1], pl = w.pad_begin[2];
  const int64_t rows = g.oh + (w.kernel[1] - 1) / 2;      // phase rows the taps read
  const int64_t row_px = (2 * g.wp + 3) / 4 * 4 + 16;     // one padded input row as NHWC4 pixels (+ slack)
  const int64_t cols = std::min(iw, 2 * g.wp - pl);       // input columns some phase pixel holds
  // A 1x1 kernel reads phase (0, 0) alone: only its rows are built, and only its plane's pixels past
  // the rows (read by the last panel, dropped) need the fill; the odd-column plane is written, unread.
  const bool one_phase = w.kernel[1] == 1 && w.kernel[2] == 1;
  if (one_phase) {
    for (int64_t q = 0; q < cq; ++q)
      std::memset(planes + (q * 4 * g.plane_px + rows * g.wp) * 4, pad, static_cast<size_t>((g.plane_px - rows * g.wp) * 4));
  } else {
    std::memset(planes, pad, static_cast<size_t>(cq * 4 * g.plane_px * 4));
  }
  auto* row = reinterpret_cast<uint32_t*>(thread_bytes(1, static_cast<size_t>(row_px * 4)));
  const uint32_t pad4 = 0x01010101u * pad;
  for (int64_t q = 0; q < cq; ++q)
    for (int64_t ry = 0; ry < (one_phase ? 1 : 2); ++ry)
      for (int64_t i = 0; i < rows; ++i) {
        const int64_t iy = 2 * i + ry - pt;
        if (iy < 0 || iy >= h) {  // stays `pad` (filled above unless one_phase)
          if (one_phase) std::memset(planes + (q * 4 * g.plane_px + i * g.wp) * 4, pad, static_cast<size_t>(g.wp * 4));
          continue;
        }
        // The padded input row as NHWC4 pixels (channels past C repeat C-1: their weights are 0).
        const uint8_t* src[4];
        for (int64_t t = 0; t < 4; ++t) src[t] = x + (std::min(4 * q + t, c - 1) * h + iy) * iw;
        std::fill(row, row + row_px, pad4);
        auto* out = reinterpret_cast<uint8_t*>(row + pl);
        int64_t ix = 0;
        for (; ix + 16 <= cols; ix += 16)
          gemm_int8::interleave4x16_xor_u8(src[0] + ix, src[1] + ix, src[2] + ix, src[3] + ix, mask, out + ix * 4);
        for (; ix < cols; ++ix)
          for (int64_t t = 0; t < 4; ++t) out[ix * 4 + t] = src[t][ix] ^ mask;
        // Padded column 2j + rx is pixel j of phase rx.
        auto* even = reinterpret_cast<uint32_t*>(planes + ((q * 4 + 2 * ry) * g.plane_px + i * g.wp) * 4);
        auto* odd = reinterpret_cast<uint32_t*>(planes + ((q * 4 + 2 * ry + 1) * g.plane_px + i * g.wp) * 4);
        gemm_int8::deinterleave_u32(row, g.wp, even, odd);
      }
}

#if EDGEOPT_CONV_INT8_AVX512
// Output row of a 2x2/2 pool: max of rows a and b (2 * pw columns used), 8 outputs per step: the
// vertical max, then the max of each pair (odd lanes moved onto even ones), narrowed. Stores whole
// 8-lane groups (Zen 4 runs masked stores slowly): y needs 7 elements of slack past pw.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void maxpool_row_s32_avx512(const int32_t* a, const int32_t* b,
                                                                                 int64_t pw, int32_t* y) {
  for (int64_t c = 0; c < pw; c += 8) {
    const int64_t n = std::min<int64_t>(8, pw - c);
    const auto in_mask = static_cast<__mmask16>((1u << (2 * n)) - 1);
    const __m512i v = _mm512_max_epi32(_mm512_maskz_loadu_epi32(in_mask, a + 2 * c),
                                       _mm512_maskz_loadu_epi32(in_mask, b + 2 * c));
    const __m512i m = _mm512_max_epi32(v, _mm512_srli_epi64(v, 32));  // pair max in the even lanes
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(y + c), _mm512_cvtepi64_epi32(m));
  }
}
#endif

void maxpool_row_s32(const int32_t* a, const int32_t* b, int64_t pw, int32_t* y, bool avx512) {
#if EDGEOPT_CONV_INT8_AVX512
  if (avx512) return maxpool_row_s32_avx512(a, b, pw, y);
#endif
  for (int64_t c = 0; c < pw; ++c) y[c] = std::max(std::max(a[2 * c], a[2 * c + 1]), std::max(b[2 * c], b[2 * c + 1]));
}

// y [M, oh/2, ow/2] (u8/s8 per ep, ldc = the pooled plane) = the 2x2/2 max pool of requantize(L R)
// over an output grid of oh rows of `stride` columns (the first ow real). Runs the GEMM over chunks
// of whole row pairs and whole panels into s32, pools each chunk while it is in L1 and requantizes
// a quarter of the values: requantization is monotonic per channel, so this is the pool of the codes.
void gemm_pool2x2_q8(const gemm_int8::Operands& op, const Epilogue& ep, int64_t oh, int64_t ow, int64_t stride,
                     uint8_t* y, ThreadPool* pool) {
  const int64_t ph = oh / 2, pw = ow / 2, kp = gemm_int8::padded_k(op.k);
  int64_t rows = 2;
  while (((rows * stride) % gemm_int8::kNr != 0 || rows * stride < 256) && rows < 2 * ph) rows += 2;
  if ((rows * stride) % gemm_int8::kNr != 0) rows = 2 * ph;  // one chunk
  if (rows == 0) return;
  const bool avx512 = gemm_int8::default_isa() == gemm_int8::Isa::kAvx512Vnni;
  Epilogue e32 = ep;
  e32.out = gemm_int8::OutType::kS32;
  Epilogue eq = ep;
  eq.bias = nullptr;  // in the s32 sums already
  // Chunks write disjoint output rows: they may run on the pool's threads (buffers are per thread).
  auto run_chunks = [&](int64_t b, int64_t e) {
    auto* acc = reinterpret_cast<int32_t*>(thread_bytes(3, static_cast<size_t>(op.m * rows * stride) * 4));
    thread_local std::vector<int32_t> pooled;
    pooled.resize(static_cast<size_t>(op.m * (rows / 2) * pw + 8));
    for (int64_t chunk = b; chunk < e; ++chunk) {
      const int64_t r0 = chunk * rows, nr = std::min(rows, 2 * ph - r0), c0 = r0 * stride, ncols = nr * stride;
      gemm_int8::Operands oc = op;
      oc.rhs = op.rhs + c0 / gemm_int8::kNr * gemm_int8::kNr * kp;
      oc.n = ncols;
      gemm_int8::gemm_int8(oc, e32, acc, ncols);
      const int64_t prow = nr / 2;
      for (int64_t m = 0; m < op.m; ++m)
        for (int64_t r = 0; r < prow; ++r) {
          const int32_t* a = acc + m * ncols + 2 * r * stride;
          maxpool_row_s32(a, a + stride, pw, pooled.data() + (m * prow + r) * pw, avx512);
        }
      gemm_int8::requantize_s32(pooled.data(), op.m, prow * pw, prow * pw, eq, y + (r0 / 2) * pw, ph * pw);
    }
  };
  const int64_t chunks = (2 * ph + rows - 1) / rows;
  if (pool && pool->num_threads() > 1 && chunks > 1)
    pool->parallel_for(chunks, run_chunks);
  else
    run_chunks(0, chunks);
}

// Row-pair panels for a 2x2/2 pool fused into the GEMM tile (gemm_int8_pool2x2_rowpairs): panel p
// covers pooled row p / col_blocks and 16 conv columns from 16 * (p % col_blocks), columns 0-15 of
// it on conv row 2 * pr, 16-31 on the next; its two runs start at these virtual pixels.
struct RowPairPanels {
  int64_t col_blocks, panels;
  int64_t first_px(int64_t p, int64_t wp) const { return 2 * (p / col_blocks) * wp + 16 * (p % col_blocks); }
};
RowPairPanels rowpair_panels(const Nhwc4Geometry& g) {
  const int64_t cb = (g.ow / 2 + 7) / 8;
  return {cb, g.oh / 2 * cb};
}

// The GEMM over a virtual output grid (rows of g.wp columns, the first g.ow real) into y [M, oh, ow]:
// straight into y when the grid is the output, else through a buffer whose real columns are copied out.
void run_virtual_grid(const gemm_int8::Operands& op, const Nhwc4Geometry& g, int64_t m_out, const Epilogue& ep,
                      uint8_t* y, size_t esz, ThreadPool* pool) {
  const bool direct = g.wp == g.ow;
  uint8_t* dst = direct ? y : thread_bytes(3, static_cast<size_t>(m_out * g.nv) * esz);
  gemm_int8::gemm_int8(op, ep, dst, g.nv, pool);
  if (direct) return;
  for (int64_t m = 0; m < m_out; ++m)
    for (int64_t r = 0; r < g.oh; ++r)
      copy_short(y + (m * g.oh + r) * g.ow * esz, dst + (m * g.nv + r * g.wp) * esz, g.ow * static_cast<int64_t>(esz));
}

// Whether the pixel-rows form (gemm_int8_pixel_rows: 8-pixel rows, so only the last row block is
// partial) beats 32-column panels over the virtual grid, whose junk columns and last partial panel
// cost a quarter of a 7x7 plane's work and an eighth of a 14x14 one's. A pointwise (1x1 stride-2)
// conv must save a fifth (its NHWC4 planes cost a pass that packed panels cost anyway only above
// that); stride-1 pointwise convs do not come here (packed panels, pixel-row tail).
bool pixel_rows_pay(const Nhwc4Geometry& g, int64_t m, bool pointwise) {
  if (!gemm_int8::pixel_rows_ok(m, gemm_int8::default_isa())) return false;
  // The rows the tiles compute: blocks of 7 pixels that tile the plane, or of 8 with the last one a
  // 1-, 4- or 8-row tile.
  const int64_t real = g.oh * g.ow, rem = real % gemm_int8::kMr;
  const int64_t rows = gemm_int8::pixel_rows_block(real) == 7 ? real
                       : real - rem + (rem == 0 ? 0 : rem == 1 ? 1 : rem <= 4 ? 4 : gemm_int8::kMr);
  const int64_t grid = (g.nv + gemm_int8::kNr - 1) / gemm_int8::kNr * gemm_int8::kNr;
  return pointwise ? rows * 5 < grid * 4 : rows * 10 < grid * 9;
}

// The conv image's GEMM in the pixel-rows form into y [M, oh, ow] (u8/s8): op as for the virtual
// grid (indirect R over the planes), ep per row (made per column here).
void run_pixel_rows(const gemm_int8::Operands& op, const Nhwc4Geometry& g, const Epilogue& ep, uint8_t* y,
                    ThreadPool* pool) {
  const int64_t npx = g.oh * g.ow;
  int64_t* px = thread_offsets(1, npx);
  for (int64_t r = 0, n = 0; r < g.oh; ++r)
    for (int64_t c = 0; c < g.ow; ++c, ++n) px[n] = (r * g.wp + c) * 4;
  Epilogue ec = ep;
  ec.per_row = false;  // the channel is the column
  ec.row_table = nullptr;
  gemm_int8::gemm_int8_pixel_rows(op, px, npx, ec, y, npx, pool);
}

// The GEMM of a conv image over channel-quad planes whose K quad i of the panel at pixel v is the
// 128-byte run planes + v * 4 + offs[i], into y: the virtual grid (or, where it pays and is allowed,
// the pixel rows) reading the runs in place; with pool2x2, row-pair panels gathered from the runs
// (columns 0-15 on conv row 2r, 16-31 on row 2r + 1) and the 2x2 pool taken in the tile, into the
// pooled planes [M, oh/2, ow/2].
void run_planes(const uint8_t* weights, const uint8_t* planes, const int64_t* offs, int64_t kq,
                const Nhwc4Geometry& g, int64_t m, const Epilogue& ep, uint8_t* y, size_t esz, ThreadPool* pool,
                bool pool2x2, bool pixel_rows_allowed, bool pointwise) {
  if (!pool2x2) {  // indirect R: no panels are built
    gemm_int8::Operands op{weights, planes, m, g.nv, kq * 4, false};
    op.rhs_quad_offsets = offs;
    if (pixel_rows_allowed && esz == 1 && pixel_rows_pay(g, m, pointwise)) return run_pixel_rows(op, g, ep, y, pool);
    return run_virtual_grid(op, g, m, ep, y, esz, pool);
  }
  const RowPairPanels rpp = rowpair_panels(g);
  const int64_t ncols = rpp.panels * gemm_int8::kNr;
  uint8_t* rp = thread_bytes(0, gemm_int8::packed_rhs_bytes(kq * 4, ncols));
  constexpr int64_t kRun = gemm_int8::kNr * 4, kHalf = kRun / 2;
  for (int64_t p = 0; p < rpp.panels; ++p) {
    uint8_t* out = rp + p * kRun * kq;
    const uint8_t* base = planes + rpp.first_px(p, g.wp) * 4;
    for (int64_t i = 0; i < kq; ++i, out += kRun) {
      std::memcpy(out, base + offs[i], kHalf);
      std::memcpy(out + kHalf, base + offs[i] + g.wp * 4, kHalf);
    }
  }
  gemm_int8::gemm_int8_pool2x2_rowpairs(gemm_int8::Operands{weights, rp, m, ncols, kq * 4, false}, ep, g.oh / 2,
                                        g.ow / 2, y, pool);
}

// One image of a stride-1 or stride-2 2-D conv through the NHWC4 planes: each K quad (tap, channel
// quad) of 32 virtual outputs is one 128-byte run of the planes, which the GEMM against the
// NHWC4-packed weights reads in place (run_planes): no im2col.
void conv_nhwc4_image(const conv::ConvDims& d, const ConvInt8State& st, const uint8_t* x, uint8_t mask, uint8_t pad,
                      const Epilogue& ep, uint8_t* y, size_t esz, ThreadPool* pool, bool pool2x2) {
  const conv::Window& w = d.win;
  const Nhwc4Geometry g = nhwc4_geometry(w);
  const int64_t cq = st.cq, taps = w.kernel[1] * w.kernel[2], kq = taps * cq;
  // + 64: the last plane's 16-pixel steps may write up to 60 bytes past it.
  const int64_t phases = g.stride == 2 ? 4 : 1;
  uint8_t* planes = thread_bytes(2, static_cast<size_t>(cq * phases * g.plane_px * 4 + 64));
  if (g.stride == 2)
    pack_input_nhwc4_s2(x, d.c, w, g, cq, mask, pad, planes);
  else
    pack_input_nhwc4(x, d.c, w, g, cq, mask, pad, planes);
  // The byte offset of K quad (tap, channel quad) from a panel's first pixel, in the weights' K order.
  int64_t* offs = thread_offsets(0, kq);
  for (int64_t a = 0, i = 0; a < w.kernel[1]; ++a)
    for (int64_t b = 0; b < w.kernel[2]; ++b)
      for (int64_t q = 0; q < cq; ++q, ++i) {
        if (g.stride == 2)  // phase plane (a % 2, b % 2), pixel offset (a / 2, b / 2)
          offs[i] = ((q * 4 + 2 * (a % 2) + b % 2) * g.plane_px + (a / 2) * g.wp + b / 2) * 4;
        else
          offs[i] = (q * g.plane_px + a * w.dilation[1] * g.wp + b * w.dilation[2]) * 4;
      }
  run_planes(st.nhwc4_weights(), planes, offs, kq, g, d.m, ep, y, esz, pool, pool2x2, true, taps == 1);
}

// One image of a stride-1 2-D conv with few channels through "row-tap" planes: per channel, pixel
// p of the padded plane holds the 4 bytes (P[p], P[p + dw], P[p + 2dw], P[p + 3dw]), one kernel
// row's taps (zero weights past kw), so K quad (channel, kernel row) of 32 virtual outputs is again
// one 128-byte run (run_planes): no im2col for the 1-channel first layer.
void conv_rowtap_image(const conv::ConvDims& d, const ConvInt8State& st, const uint8_t* x, uint8_t mask, uint8_t pad,
                       const Epilogue& ep, uint8_t* y, size_t esz, ThreadPool* pool, bool pool2x2) {
  const conv::Window& w = d.win;
  const Nhwc4Geometry g = nhwc4_geometry(w);
  const int64_t kh = w.kernel[1], dw = w.dilation[2], h = w.big[1], iw = w.big[2];
  const int64_t pt = w.pad_begin[1], pl = w.pad_begin[2];
  const int64_t kq = d.c * kh;
  // The padded plane, long enough for the 4 taps (and 16-byte loads) of every pixel of the quads.
  const int64_t plane_len = g.plane_px + 3 * dw + 16;
  const int64_t x4_px = (g.plane_px + 15) / 16 * 16;
  uint8_t* padded = thread_bytes(1, static_cast<size_t>(plane_len));
  uint8_t* x4 = thread_bytes(2, static_cast<size_t>(d.c * x4_px * 4));
  for (int64_t c = 0; c < d.c; ++c) {
    std::memset(padded, pad, static_cast<size_t>(plane_len));
    const int64_t rows = std::min(h, g.oh + (kh - 1) * w.dilation[1] - pt), cols = std::min(iw, g.wp - pl);
    for (int64_t iy = 0; iy < rows; ++iy) {
      uint8_t* row = padded + (iy + pt) * g.wp + pl;
      const uint8_t* src = x + (c * h + iy) * iw;
      if (mask == 0) {
        std::memcpy(row, src, static_cast<size_t>(cols));
      } else {
        for (int64_t ix = 0; ix < cols; ++ix) row[ix] = src[ix] ^ mask;
      }
    }
    uint8_t* out = x4 + c * x4_px * 4;
    for (int64_t p = 0; p < x4_px; p += 16) {
      gemm_int8::interleave4x16_xor_u8(padded + p, padded + p + dw, padded + p + 2 * dw, padded + p + 3 * dw, 0,
                                       out + p * 4);
    }
  }
  int64_t* offs = thread_offsets(0, kq);  // of K quad (channel, kernel row) from a panel's first pixel
  for (int64_t c = 0, i = 0; c < d.c; ++c)
    for (int64_t a = 0; a < kh; ++a, ++i) offs[i] = (c * x4_px + a * w.dilation[1] * g.wp) * 4;
  run_planes(st.packed_rowtap.data(), x4, offs, kq, g, d.m, ep, y, esz, pool, pool2x2, false, false);
}

// One image of a group-1 conv with few channels (any stride) through the row-quad planes
// (rowquad_int8.h): K runs over (channel, kernel row, quad of taps), and the R panel of 32 outputs
// is one 128-byte run per K quad, since the planes are indexed by the output position: the GEMM
// reads them in place (indirect R).
void conv_rowquad_image(const conv::ConvDims& d, const ConvInt8State& st, const uint8_t* x, uint8_t mask, uint8_t pad,
                        const Epilogue& ep, uint8_t* y, ThreadPool* pool) {
  const conv::Window& w = d.win;
  const RowQuadBuilder builder(w, mask, pad);
  const RowQuadGeometry& g = builder.geometry();
  const int64_t kh = w.kernel[1], nv = g.oh * g.ow, in_sz = w.big_numel();
  const int64_t kq = d.c * kh * g.nq;
  uint8_t* x4 = thread_bytes(2, static_cast<size_t>(d.c * g.nq * g.plane_quads * 4));
  for (int64_t c = 0; c < d.c; ++c)
    for (int64_t e = 0; e < g.nq; ++e)
      builder.build(x + c * in_sz, e, x4 + (c * g.nq + e) * g.plane_quads * 4);
  int64_t* offs = thread_offsets(0, kq);  // byte offset of each K quad at output 0
  for (int64_t c = 0; c < d.c; ++c)
    for (int64_t a = 0; a < kh; ++a)
      for (int64_t e = 0; e < g.nq; ++e)
        offs[(c * kh + a) * g.nq + e] = ((c * g.nq + e) * g.plane_quads + rowquad_tap_offset(w, g, a)) * 4;
  // Indirect R: the planes are indexed by output position, so panel p's quads are read in place.
  gemm_int8::Operands op{st.packed_rowquad.data(), x4, d.m, nv, kq * 4, false};
  op.rhs_quad_offsets = offs;
  gemm_int8::gemm_int8(op, ep, y, nv, pool);
}

}  // namespace

std::shared_ptr<const OpState> conv_int8_prepare(const Node& node, const Tensor& w, const Tensor& w_zp) {
  if (!w.defined() || !(w.dtype() == DType::kU8 || w.dtype() == DType::kI8) || w.rank() < 3) return nullptr;
  const int64_t group = node.attr_int("group", 1);
  const int64_t m = w.shape()[0];
  if (group < 1 || m % group != 0) return nullptr;                   // the forward reports it
  if (w.shape()[1] == 1 && group == m && group > 1) {  // depthwise: W as stored, its quads made here
    auto st = std::make_shared<ConvInt8State>();
    st->w_storage = w.raw();
    st->w_shape = w.shape();
    st->dw = dw_quad_weights(w);
    if (st->dw.quads.empty()) return nullptr;
    return st;
  }
  if (w_zp.defined() && w_zp.dtype() != w.dtype()) return nullptr;
  const int64_t want = w.dtype() == DType::kU8 ? 128 : 0;
  if (!w_zp.defined() && want != 0) return nullptr;
  if (w_zp.defined())
    for (int64_t z : w_zp.to_i64_vector())
      if (z != want) return nullptr;
  bool stride1 = true, stride2 = true, dilation1 = true;
  for (int64_t v : node.attr_ints("strides")) stride1 = stride1 && v == 1, stride2 = stride2 && v == 2;
  for (int64_t v : node.attr_ints("dilations")) dilation1 = dilation1 && v == 1;
  stride2 = stride2 && node.has_attr("strides") && dilation1 && w.rank() == 4;
  return pack_weights(w, group, /*nhwc4=*/(stride1 || stride2) && w.rank() == 4, /*rowquad=*/!stride1 && w.rank() == 4,
                      stride1);
}

bool conv_int8_fast(const ConvInt8Inputs& in, const OpState* state, Epilogue ep, void* y, bool pool2x2) {
  const conv::ConvDims& d = in.d;
  const int64_t cg = d.c / d.group, mg = d.m / d.group;
  const int64_t in_sz = d.win.big_numel(), out_sz = d.win.small_numel(), k_sz = d.win.kernel_numel();
  const bool x_signed = in.x->dtype() == DType::kI8;
  const auto* px = static_cast<const uint8_t*>(in.x->raw());
  const int32_t* pb = in.bias ? in.bias->data<int32_t>() : nullptr;
  auto* py = static_cast<uint8_t*>(y);
  const size_t esz = out_elem_size(ep);
  if (d.n * d.m * out_sz == 0) return true;

  if (pool2x2 && (d.group != 1 || d.win.nd != 2 || ep.out == gemm_int8::OutType::kS32 || is_depthwise2d(d)))
    return false;
  if (is_depthwise2d(d) && dwconv_q8_rowquad_applies(in, ep)) {
    const auto* st = dynamic_cast<const ConvInt8State*>(state);
    const DwQuadWeights* pre = st && st->w_storage == in.w->raw() && st->w_shape == in.w->shape() ? &st->dw : nullptr;
    if (dwconv_q8_blocked_pays(in))
      parallel_for(d.n * ((d.c + 15) / 16), [&](int64_t b, int64_t e) { dwconv_q8_rowquad_blocks(in, ep, y, b, e, pre); });
    else
      parallel_for(d.n * d.c, [&](int64_t b, int64_t e) { dwconv_q8_rowquad(in, ep, y, b, e, pre); });
    return true;
  }
  if (is_depthwise2d(d)) {
    const auto* pw = static_cast<const uint8_t*>(in.w->raw());
    const bool w_signed = in.w->dtype() == DType::kI8;
    const bool avx512 = gemm_int8::default_isa() == gemm_int8::Isa::kAvx512Vnni;
    parallel_for(d.n * d.c, [&](int64_t b, int64_t e) {
      auto* acc = reinterpret_cast<int32_t*>(thread_bytes(0, static_cast<size_t>(out_sz) * sizeof(int32_t)));
      for (int64_t p = b; p < e; ++p) {
        const int64_t c = p % d.c;
        dwconv_plane(d.win, px + p * in_sz, x_signed, in.x_zp, pw + c * k_sz, w_signed, in.w_zp_of(c), pb ? pb[c] : 0,
                     acc, avx512);
        Epilogue e1 = ep;
        e1.bias = nullptr;
        if (e1.out != gemm_int8::OutType::kS32) {
          e1.multiplier += c;
          e1.shift += c;
          if (e1.row_table) e1.row_table += c;
        }
        gemm_int8::requantize_s32(acc, 1, out_sz, out_sz, e1, py + p * out_sz * esz, out_sz);
      }
    });
    return true;
  }

  if (!gemm_weights_ok(*in.w, in.w_zp)) return false;
  const auto* st = dynamic_cast<const ConvInt8State*>(state);
  std::shared_ptr<ConvInt8State> local;
  if (!st || st->w_storage != in.w->raw() || st->w_shape != in.w->shape()) {
    local = pack_weights(*in.w, d.group);
    st = local.get();
  }
  // s8 x is shifted to u8 (+128) so vpdpbusd's unsigned operand holds it; the zero point follows.
  const uint8_t x_mask = x_signed ? 0x80 : 0;
  const int32_t zx = in.x_zp + (x_signed ? 128 : 0);
  std::vector<int32_t> bias(static_cast<size_t>(d.m));
  for (int64_t m = 0; m < d.m; ++m)
    bias[m] = static_cast<int32_t>(static_cast<uint32_t>(pb ? pb[m] : 0) -
                                   static_cast<uint32_t>(zx) * static_cast<uint32_t>(st->w_sums[m]));
  bool pointwise = true;
  for (size_t i = 0; i < conv::kMaxSpatial; ++i)
    pointwise =
        pointwise && d.win.kernel[i] == 1 && d.win.stride[i] == 1 && d.win.pad_begin[i] == 0 && d.win.pad_end[i] == 0;
  const int64_t kdim = cg * k_sz;
  const int64_t pooled_sz = (d.win.small[1] / 2) * (d.win.small[2] / 2);
  // Stride-1 pointwise convs keep the packed panels (pack_rhs is their NHWC4 pass), their short last
  // panel made pixel rows below: on 7x7 planes that beats the NHWC4 pixel-rows form by 7-12%.
  const bool nhwc4 = nhwc4_applies(d, st) && !(pool2x2 && nhwc4_stride2(d.win)) && !pointwise;
  const bool rowtap = !pointwise && !nhwc4 && rowtap_applies(d, st);
  const bool rowquad = !pointwise && !nhwc4 && !rowtap && !pool2x2 && rowquad_applies(d, st);
  auto run_item = [&](int64_t item, ThreadPool* pool) {
    const int64_t n = item / d.group, g = item % d.group;
    if (nhwc4 || rowtap) {
      Epilogue eg = ep;
      eg.per_row = true;
      eg.bias = bias.data();
      auto* image = nhwc4 ? conv_nhwc4_image : conv_rowtap_image;
      image(d, *st, px + n * d.c * in_sz, x_mask, static_cast<uint8_t>(zx), eg,
            py + n * d.m * (pool2x2 ? pooled_sz : out_sz) * esz, esz, pool, pool2x2);
      return;
    }
    if (rowquad) {
      Epilogue eg = ep;
      eg.per_row = true;
      eg.bias = bias.data();
      conv_rowquad_image(d, *st, px + n * d.c * in_sz, x_mask, static_cast<uint8_t>(zx), eg,
                         py + n * d.m * out_sz * esz, pool);
      return;
    }
    const uint8_t* xg = px + (n * d.c + g * cg) * in_sz;
    uint8_t* rp = thread_bytes(0, gemm_int8::packed_rhs_bytes(kdim, out_sz));
    if (pointwise) {
      gemm_int8::pack_rhs(xg, kdim, out_sz, out_sz, false, x_mask, rp);
    } else {
      im2col_packed_u8(d.win, cg, xg, x_mask, static_cast<uint8_t>(zx), rp);
    }
    Epilogue eg = ep;
    eg.per_row = true;
    eg.bias = bias.data() + g * mg;
    if (eg.out != gemm_int8::OutType::kS32) {
      eg.multiplier += g * mg;
      eg.shift += g * mg;
      if (eg.row_table) eg.row_table += g * mg;
    }
    const gemm_int8::Operands op{st->packed[g].data(), rp, mg, out_sz, kdim, false};
    if (pool2x2)
      return gemm_pool2x2_q8(op, eg, d.win.small[1], d.win.small[2], d.win.small[2], py + n * d.m * pooled_sz, pool);
    uint8_t* yg = py + (n * d.m + g * mg) * out_sz * esz;
    const int64_t tail = out_sz % gemm_int8::kNr;
    if (pointwise && esz == 1 && tail > 0 && tail <= 24 && out_sz > gemm_int8::kNr &&
        gemm_int8::pixel_rows_ok(mg, gemm_int8::default_isa())) {
      // A short last panel (14x14: 196 = 6 x 32 + 4 pixels) would compute mostly junk columns: the
      // full panels as usual, the tail pixels as pixel rows (8-, 4-, 1-pixel tiles x 32 channels)
      // read in place from the last packed panel, where pixel i's quad q is at q * 128 + i * 4.
      gemm_int8::Operands head = op;
      head.n = out_sz - tail;
      gemm_int8::gemm_int8(head, eg, yg, out_sz, pool);
      const int64_t kq = gemm_int8::padded_k(kdim) / 4;
      int64_t* quad_offs = thread_offsets(0, kq);
      for (int64_t q = 0; q < kq; ++q) quad_offs[q] = q * gemm_int8::kNr * 4;
      int64_t* px_offs = thread_offsets(1, tail);
      for (int64_t i = 0; i < tail; ++i) px_offs[i] = i * 4;
      gemm_int8::Operands last{st->packed[g].data(), rp + head.n * kq * 4, mg, tail, kdim, false};
      last.rhs_quad_offsets = quad_offs;
      Epilogue ec = eg;
      ec.per_row = false;  // the channel is the column
      ec.row_table = nullptr;
      return gemm_int8::gemm_int8_pixel_rows(last, px_offs, tail, ec, yg + head.n, out_sz, pool);
    }
    gemm_int8::gemm_int8(op, eg, yg, out_sz, pool);
  };
  ThreadPool& pool = default_pool();
  const int64_t items = d.n * d.group, t = pool.num_threads();
  if (t > 1 && items >= t && (items % t == 0 || items >= 4 * t)) {
    pool.parallel_for(items, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) run_item(i, nullptr);
    });
  } else {
    for (int64_t i = 0; i < items; ++i) run_item(i, &pool);
  }
  return true;
}

void maxpool_2x2s2_s32(const int32_t* x, int64_t planes, int64_t oh, int64_t ow, int32_t* y) {
  const int64_t ph = oh / 2, pw = ow / 2;
  const bool avx512 = gemm_int8::default_isa() == gemm_int8::Isa::kAvx512Vnni;
  int32_t tail[8];
  const int32_t* y_end = y + planes * ph * pw;
  for (int64_t p = 0; p < planes; ++p)
    for (int64_t r = 0; r < ph; ++r) {
      const int32_t* a = x + (p * oh + 2 * r) * ow;
      int32_t* yr = y + (p * ph + r) * pw;
      // The vector row writes whole 8-lane groups: a group that would pass the end of y goes
      // through a slack buffer (spills into later rows are overwritten by them).
      for (int64_t c = 0; c < pw; c += 8) {
        const int64_t n = std::min<int64_t>(8, pw - c);
        const bool spill = yr + c + 8 > y_end;
        maxpool_row_s32(a + 2 * c, a + ow + 2 * c, n, spill ? tail : yr + c, avx512);
        if (spill) std::copy(tail, tail + n, yr + c);
      }
    }
}

}  // namespace edgeopt::kernels::ops::qlinear_conv

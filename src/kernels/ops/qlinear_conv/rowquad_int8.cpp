// The row-quad planes (rowquad_int8.h) and the depthwise conv on them. The planes have a portable
// builder and an AVX-512 one; the depthwise MACs and epilogue are AVX512-VNNI (x86-64 only).
#include "kernels/ops/qlinear_conv/rowquad_int8.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "kernels/microkernels/gemm_int8/interleave_u8.h"

#if defined(__x86_64__)
#include <immintrin.h>

#include "kernels/microkernels/gemm_int8/requantize_avx512.h"

// GCC 12's avx512fintrin.h trips -Wmaybe-uninitialized on its own mask intrinsics (a false positive).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#endif

namespace edgeopt::kernels::ops::qlinear_conv {
namespace {

// Quads read past a phase's last output by 64-output steps (and written by 16-quad row builds).
constexpr int64_t kSlackQuads = 64;

uint8_t* scratch(int slot, size_t n) {
  thread_local std::vector<uint8_t> bufs[3];
  if (bufs[slot].size() < n) bufs[slot].resize(n);
  return bufs[slot].data();
}

// Padded column offset of tap k of quad e (taps past kw read tap 0: zero weight).
inline int64_t tap_column(const conv::Window& w, int64_t e, int64_t k) {
  const int64_t t = 4 * e + k;
  return t < w.kernel[2] ? t * w.dilation[2] : 0;
}

// One quad row from padded input row pr: ow quads of quad e; portable (16-quad interleaves of
// four byte streams, the streams being a padded copy of the row split by stride phase).
void build_quad_row(const conv::Window& w, const RowQuadGeometry& g, const uint8_t* x, int64_t pr, uint8_t mask,
                    uint8_t pad, int64_t e, uint8_t* prow, uint8_t* streams, uint8_t* out) {
  const int64_t ih = w.big[1], iw = w.big[2], pt = w.pad_begin[1], pl = w.pad_begin[2], sw = w.stride[2];
  const int64_t iy = pr - pt;
  if (iy < 0 || iy >= ih) {
    std::memset(out, pad, static_cast<size_t>(g.ow * 4));
    return;
  }
  std::memset(prow, pad, static_cast<size_t>(g.row_bytes));
  const int64_t cols = std::clamp<int64_t>(g.row_bytes - pl, 0, iw);
  if (cols > 0) {
    std::memcpy(prow + pl, x + iy * iw, static_cast<size_t>(cols));
    if (mask) gemm_int8::xor_u8(prow + pl, cols, mask);
  }
  const uint8_t* s[4];
  if (sw == 1) {
    for (int64_t k = 0; k < 4; ++k) s[k] = prow + tap_column(w, e, k);
  } else if (sw == 2) {
    const int64_t half = g.row_bytes / 2 / 16 * 16;
    uint8_t* even = streams;
    uint8_t* odd = streams + half;
    for (int64_t j = 0; j < half; j += 16) gemm_int8::deinterleave2x16_u8(prow + 2 * j, even + j, odd + j);
    for (int64_t k = 0; k < 4; ++k) {
      const int64_t off = tap_column(w, e, k);
      s[k] = (off % 2 ? odd : even) + off / 2;
    }
  } else {
    for (int64_t k = 0; k < 4; ++k) {
      uint8_t* sk = streams + k * g.stream_len;
      const int64_t off = tap_column(w, e, k);
      for (int64_t j = 0; j < g.stream_len; ++j) sk[j] = prow[j * sw + off];
      s[k] = sk;
    }
  }
  for (int64_t j = 0; j < g.ow; j += 16) gemm_int8::interleave4x16_xor_u8(s[0] + j, s[1] + j, s[2] + j, s[3] + j, 0, out + j * 4);
}

#if defined(__x86_64__)
// The quad planes with AVX-512 (F+BW), 16 quads per step straight from the input row: a masked
// 64-byte load of padded columns [sw * j, sw * j + 64) (pad outside the input; a padded copy of
// the row would miss store forwarding on its reload), xor, then vpermd puts dwords
// [sw*L, sw*L + 4) into lane L and vpshufb picks the bytes sw * t + tap_column of quad 4L + t.
__attribute__((target("avx512f,avx512bw,avx512vl"))) void build_quad_planes_avx512(
    const conv::Window& w, const RowQuadGeometry& g, const uint8_t* x, uint8_t mask, uint8_t pad,
    const RowQuadBuilder::Shuffle& sh, const uint64_t* load_masks, uint8_t* x4) {
  const int64_t ih = w.big[1], iw = w.big[2], pt = w.pad_begin[1], pl = w.pad_begin[2], sw = w.stride[2];
  const __m512i dperm = _mm512_load_si512(sh.dwords), bshuf = _mm512_load_si512(sh.bytes);
  const __m512i vpad = _mm512_set1_epi8(static_cast<char>(pad)), vmask = _mm512_set1_epi8(static_cast<char>(mask));
  const int64_t steps = (g.ow + 15) / 16;
  for (int64_t ph = 0; ph < w.stride[1]; ++ph)
    for (int64_t i = 0; i < g.rows; ++i) {
      uint8_t* out = x4 + (ph * g.phase_quads + i * g.ow) * 4;
      const int64_t iy = i * w.stride[1] + ph - pt;
      if (iy < 0 || iy >= ih) {
        for (int64_t s = 0; s < steps; ++s) _mm512_storeu_si512(out + s * 64, vpad);
        continue;
      }
      const uint8_t* xr = x + iy * iw - pl;
      for (int64_t s = 0; s < steps; ++s) {
        const __mmask64 m = load_masks[s];
        __m512i v = _mm512_mask_loadu_epi8(vpad, m, xr + sw * 16 * s);  // masked-off bytes are not read
        if (mask) v = _mm512_xor_si512(v, _mm512_maskz_mov_epi8(m, vmask));
        v = _mm512_permutexvar_epi32(dperm, v);
        _mm512_storeu_si512(out + s * 64, _mm512_shuffle_epi8(v, bshuf));
      }
    }
}
#endif

}  // namespace

RowQuadGeometry rowquad_geometry(const conv::Window& w) {
  RowQuadGeometry g;
  g.oh = w.small[1];
  g.ow = w.small[2];
  g.nq = (w.kernel[2] + 3) / 4;
  g.rows = g.oh + (w.kernel[1] - 1) * w.dilation[1] / w.stride[1];
  g.phase_quads = g.rows * g.ow + kSlackQuads;
  g.plane_quads = w.stride[1] * g.phase_quads;
  // A stream (one tap's bytes for every output column) is read in 16-byte steps up to ceil16(ow);
  // the padded row covers P[j * sw + tap_column] for j < stream_len (+ 32 for the deinterleave).
  g.stream_len = (g.ow + 15) / 16 * 16 + 16;
  const int64_t taps_span = 4 * g.nq * w.dilation[2];
  g.row_bytes = (g.stream_len + taps_span) * w.stride[2] + taps_span + 64;
  return g;
}

RowQuadBuilder::RowQuadBuilder(const conv::Window& w, uint8_t mask, uint8_t pad)
    : w_(w), g_(rowquad_geometry(w)), mask_(mask), pad_(pad) {
#if defined(__x86_64__)
  const int64_t sw = w.stride[2];
  avx512_ = gemm_int8::default_isa() == gemm_int8::Isa::kAvx512Vnni && 3 * sw + (4 * g_.nq - 1) * w.dilation[2] <= 15;
  if (!avx512_) return;
  shuffles_.resize(static_cast<size_t>(g_.nq));
  for (int64_t e = 0; e < g_.nq; ++e)
    for (int l = 0; l < 4; ++l)
      for (int t = 0; t < 4; ++t) {
        shuffles_[e].dwords[l * 4 + t] = static_cast<int32_t>(sw * l + t);
        for (int k = 0; k < 4; ++k)
          shuffles_[e].bytes[l * 16 + t * 4 + k] = static_cast<uint8_t>(sw * t + tap_column(w, e, k));
      }
  const int64_t pl = w.pad_begin[2], iw = w.big[2];
  for (int64_t s = 0; s < (g_.ow + 15) / 16; ++s) {
    const int64_t c = sw * 16 * s;  // first padded column of the step
    const int64_t lo = std::clamp<int64_t>(pl - c, 0, 64), hi = std::clamp<int64_t>(pl + iw - c, lo, 64);
    load_masks_.push_back(hi - lo == 64 ? ~uint64_t{0} : (hi == lo ? 0 : ((uint64_t{1} << (hi - lo)) - 1) << lo));
  }
#endif
}

void RowQuadBuilder::build(const uint8_t* x, int64_t e, uint8_t* x4) const {
#if defined(__x86_64__)
  if (avx512_) return build_quad_planes_avx512(w_, g_, x, mask_, pad_, shuffles_[e], load_masks_.data(), x4);
#endif
  uint8_t* prow = scratch(0, static_cast<size_t>(g_.row_bytes + std::max(4 * g_.stream_len, g_.row_bytes + 32)));
  uint8_t* streams = prow + g_.row_bytes;
  for (int64_t ph = 0; ph < w_.stride[1]; ++ph)
    for (int64_t i = 0; i < g_.rows; ++i)
      build_quad_row(w_, g_, x, i * w_.stride[1] + ph, mask_, pad_, e, prow, streams,
                     x4 + (ph * g_.phase_quads + i * g_.ow) * 4);
}

#if defined(__x86_64__)
namespace {

using gemm_int8::Epilogue;
using gemm_int8::OutType;

inline __mmask16 lanes_mask(int64_t n) {
  return n >= 16 ? static_cast<__mmask16>(0xffff) : static_cast<__mmask16>((1u << n) - 1);
}

// acc = bias + sum_a vpdpbusd(quads at tap_off[a] + v, wq[a]) for the nv outputs of one plane,
// 64 per step (four independent chains), then requantized (or s32) straight into y.
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,bmi2"))) void rowquad_plane_avx512vnni(
    const uint8_t* x4, const int64_t* tap_off, const int32_t* wq, int64_t kh, int32_t bias, int64_t nv,
    const Epilogue& ep, int64_t ch, void* y) {
  const bool q8 = ep.out != OutType::kS32;
  const bool channel_form = q8 && gemm_int8::x86::requant_channel_ok(ep.multiplier[ch], ep.shift[ch]);
  const gemm_int8::x86::RequantConsts k =
      q8 ? gemm_int8::x86::requant_consts_channel(ep.multiplier[ch], ep.shift[ch]) : gemm_int8::x86::RequantConsts{};
  const gemm_int8::x86::RequantChannel kc = channel_form
                                                ? gemm_int8::x86::requant_channel(ep.multiplier[ch], ep.shift[ch])
                                                : gemm_int8::x86::RequantChannel{};
  const __m512i zp = _mm512_set1_epi32(ep.zero_point), lo = _mm512_set1_epi32(ep.qmin), hi = _mm512_set1_epi32(ep.qmax);
  const __m512i vbias = _mm512_set1_epi32(bias);
  for (int64_t v = 0; v < nv; v += 64) {
    __m512i acc[4] = {vbias, vbias, vbias, vbias};
    for (int64_t a = 0; a < kh; ++a) {
      const uint8_t* src = x4 + (tap_off[a] + v) * 4;
      const __m512i w = _mm512_set1_epi32(wq[a]);
      for (int u = 0; u < 4; ++u) acc[u] = _mm512_dpbusd_epi32(acc[u], _mm512_loadu_si512(src + 64 * u), w);
    }
    for (int u = 0; u < 4; ++u) {
      const int64_t at = v + 16 * u;
      if (at >= nv) break;
      const __mmask16 m = lanes_mask(nv - at);
      if (!q8) {
        _mm512_mask_storeu_epi32(static_cast<int32_t*>(y) + at, m, acc[u]);
        continue;
      }
      const __m128i q = _mm512_cvtepi32_epi8(channel_form ? gemm_int8::x86::requantize16_channel(acc[u], kc, zp, lo, hi)
                                                          : gemm_int8::x86::requantize16(acc[u], k, zp, lo, hi));
      if (m == 0xffff)
        _mm_storeu_si128(reinterpret_cast<__m128i*>(static_cast<uint8_t*>(y) + at), q);
      else
        _mm_mask_storeu_epi8(static_cast<uint8_t*>(y) + at, m, q);
    }
  }
}

// Transposes a 16x16 block of dwords in place: r[i] lane j <-> r[j] lane i.
__attribute__((target("avx512f"))) inline void transpose16x16_epi32(__m512i r[16]) {
  __m512i t[16], u[16];
  for (int i = 0; i < 16; i += 2) {
    t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
    t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
  }
  // u[4b + j]: in each 128-bit lane L, column 4L + j of rows 4b .. 4b + 3.
  for (int b = 0; b < 16; b += 4) {
    u[b] = _mm512_unpacklo_epi64(t[b], t[b + 2]);
    u[b + 1] = _mm512_unpackhi_epi64(t[b], t[b + 2]);
    u[b + 2] = _mm512_unpacklo_epi64(t[b + 1], t[b + 3]);
    u[b + 3] = _mm512_unpackhi_epi64(t[b + 1], t[b + 3]);
  }
  for (int j = 0; j < 4; ++j) {
    t[j] = _mm512_shuffle_i32x4(u[j], u[j + 4], 0x88);       // lanes 0, 2 of rows 0-7
    t[j + 4] = _mm512_shuffle_i32x4(u[j], u[j + 4], 0xdd);   // lanes 1, 3
    t[j + 8] = _mm512_shuffle_i32x4(u[j + 8], u[j + 12], 0x88);
    t[j + 12] = _mm512_shuffle_i32x4(u[j + 8], u[j + 12], 0xdd);
  }
  for (int j = 0; j < 4; ++j) {
    r[j] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0x88);           // columns 0-3
    r[j + 4] = _mm512_shuffle_i32x4(t[j + 4], t[j + 12], 0x88);  // 4-7
    r[j + 8] = _mm512_shuffle_i32x4(t[j], t[j + 8], 0xdd);       // 8-11
    r[j + 12] = _mm512_shuffle_i32x4(t[j + 4], t[j + 12], 0xdd); // 12-15
  }
}

// Depthwise conv of 16 channels at once, one channel per lane (small planes, dilation 1, kernel
// width <= 4). The channels' input rows are transposed into a zero-point-padded pixel-major tile
// t [hp][wp][16 channels]; then four consecutive pixels are 64 contiguous bytes, and one vpermb
// turns them into the 16 channels' tap quads of one kernel row (byte 4c + k = pixel k, channel c),
// so an output position of all 16 channels costs kh loads, kh vpermb and kh vpdpbusd, with no
// per-channel setup and no plane padded to 64-output steps. Results are transposed back into the
// channels' output planes 16 positions at a time. x: channel c0's input plane; y: its output plane.
template <int KH>
__attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,avx512vbmi,bmi2"))) void dw_block16_avx512vnni(
    const uint8_t* x, int64_t in_sz, const conv::Window& w, int64_t kh_rt, int64_t nch, uint8_t mask, uint8_t pad,
    const int32_t* wq16, const int32_t* bias16, int64_t c0, const Epilogue& ep, uint8_t* t, void* y) {
  const int64_t kh = KH > 0 ? KH : kh_rt;
  const int64_t ih = w.big[1], iw = w.big[2], oh = w.small[1], ow = w.small[2];
  const int64_t sh = w.stride[1], sw = w.stride[2], pt = w.pad_begin[1], pl = w.pad_begin[2];
  const int64_t hp = (oh - 1) * sh + kh, wp = (ow - 1) * sw + 4, nv = oh * ow;
  std::memset(t, pad, static_cast<size_t>(hp * wp * 16));
  // A row segment of 16 pixels goes pixel-major in two vpermt2b rounds: a[j] holds channels
  // 4j .. 4j + 3 (byte 16 cc + col); round 1 gathers 4-pixel groups of 8 channels (byte 32 gg +
  // 8 p + cl: pixel 4 (2h + gg) + p of channel cl), round 2 joins the two channel halves (byte
  // 16 p + c: pixel 4g + p of channel c).
  alignas(64) uint8_t ib[4][64];
  for (int h = 0; h < 2; ++h)
    for (int gg = 0; gg < 2; ++gg)
      for (int p = 0; p < 4; ++p)
        for (int cl = 0; cl < 8; ++cl) {
          ib[h][gg * 32 + p * 8 + cl] = static_cast<uint8_t>((cl / 4) * 64 + (cl % 4) * 16 + 4 * (2 * h + gg) + p);
          for (int c = 0; c < 16; c += 8)  // round 2, group gg of a pair: channel c + cl
            ib[2 + gg][p * 16 + c + cl] = static_cast<uint8_t>((c ? 64 : 0) + gg * 32 + p * 8 + cl);
        }
  const __m512i r1[2] = {_mm512_load_si512(ib[0]), _mm512_load_si512(ib[1])};
  const __m512i r2[2] = {_mm512_load_si512(ib[2]), _mm512_load_si512(ib[3])};
  const __m512i vmask = _mm512_set1_epi8(static_cast<char>(mask));
  for (int64_t ir = 0; ir < ih && ir + pt < hp; ++ir)
    for (int64_t cb = 0; cb < iw && pl + cb < wp; cb += 16) {
      const int64_t n = std::min<int64_t>(16, iw - cb), nstore = std::min(n, wp - pl - cb);
      const auto lm = static_cast<__mmask16>((1u << n) - 1);
      const uint8_t* src = x + ir * iw + cb;
      __m128i rows[16];
      for (int64_t i = 0; i < 16; ++i) rows[i] = _mm_maskz_loadu_epi8(lm, src + (i < nch ? i : 0) * in_sz);
      __m512i a[4];
      for (int64_t j = 0; j < 4; ++j)
        a[j] = _mm512_inserti32x4(
            _mm512_inserti32x4(_mm512_inserti32x4(_mm512_castsi128_si512(rows[4 * j]), rows[4 * j + 1], 1),
                               rows[4 * j + 2], 2),
            rows[4 * j + 3], 3);
      uint8_t* dst = t + ((ir + pt) * wp + pl + cb) * 16;
      for (int h = 0; h < 2 && 8 * h < nstore; ++h) {
        const __m512i lo = _mm512_permutex2var_epi8(a[0], r1[h], a[1]), hi = _mm512_permutex2var_epi8(a[2], r1[h], a[3]);
        for (int gg = 0; gg < 2; ++gg) {
          const int64_t px = std::clamp<int64_t>(nstore - 4 * (2 * h + gg), 0, 4);
          if (px == 0) break;
          const __m512i o = _mm512_xor_si512(_mm512_permutex2var_epi8(lo, r2[gg], hi), vmask);
          const __mmask64 sm = px == 4 ? ~__mmask64{0} : (__mmask64{1} << (16 * px)) - 1;
          _mm512_mask_storeu_epi8(dst + (8 * h + 4 * gg) * 16, sm, o);
        }
      }
    }
  // vpermb index: quad byte 4c + k <- pixel k's byte c.
  alignas(64) uint8_t idx_bytes[64];
  for (int c = 0; c < 16; ++c)
    for (int k = 0; k < 4; ++k) idx_bytes[c * 4 + k] = static_cast<uint8_t>(k * 16 + c);
  const __m512i idx = _mm512_load_si512(idx_bytes);
  const bool q8 = ep.out != OutType::kS32;
  gemm_int8::x86::RequantLanes k{};
  if (q8) {  // lanes past nch repeat channel c0's constants
    alignas(64) int32_t mult[16], shift[16];
    for (int64_t i = 0; i < 16; ++i) {
      mult[i] = ep.multiplier[c0 + (i < nch ? i : 0)];
      shift[i] = ep.shift[c0 + (i < nch ? i : 0)];
    }
    k = gemm_int8::x86::requant_lanes(mult, shift);
  }
  const __m512i zp = _mm512_set1_epi32(ep.zero_point), lo = _mm512_set1_epi32(ep.qmin), hi = _mm512_set1_epi32(ep.qmax);
  const __m512i vbias = _mm512_loadu_si512(bias16);
  __m512i wv[8];
  for (int64_t a = 0; a < kh; ++a) wv[a] = _mm512_loadu_si512(wq16 + a * 16);
  int64_t r = 0, col = 0;  // of position v + j
  for (int64_t v = 0; v < nv; v += 16) {
    __m512i acc[16];
    for (int j = 0; j < 16; ++j) {
      if (v + j >= nv) {
        acc[j] = _mm512_setzero_si512();
        continue;
      }
      const uint8_t* src = t + (r * sh * wp + col * sw) * 16;
      __m512i s = vbias;
      for (int64_t a = 0; a < kh; ++a)
        s = _mm512_dpbusd_epi32(s, _mm512_permutexvar_epi8(idx, _mm512_loadu_si512(src + a * wp * 16)), wv[a]);
      acc[j] = q8 ? gemm_int8::x86::requantize16_lanes(s, k, zp, lo, hi) : s;
      if (++col == ow) col = 0, ++r;
    }
    transpose16x16_epi32(acc);  // acc[c]: positions v .. v + 15 of channel c0 + c
    const __mmask16 m = lanes_mask(nv - v);
    for (int64_t c = 0; c < nch; ++c) {
      if (q8) {
        uint8_t* yc = static_cast<uint8_t*>(y) + c * nv + v;
        const __m128i b = _mm512_cvtepi32_epi8(acc[c]);
        if (m == 0xffff)
          _mm_storeu_si128(reinterpret_cast<__m128i*>(yc), b);
        else
          _mm_mask_storeu_epi8(yc, m, b);
      } else {
        _mm512_mask_storeu_epi32(static_cast<int32_t*>(y) + c * nv + v, m, acc[c]);
      }
    }
  }
}

}  // namespace

DwQuadWeights dw_quad_weights(const Tensor& w) {
  DwQuadWeights r;
  if (w.rank() < 3 || w.shape()[1] != 1 || w.shape()[w.rank() - 1] > 4) return r;
  const int64_t c = w.shape()[0], kw = w.shape()[w.rank() - 1], k_sz = w.numel() / std::max<int64_t>(c, 1);
  const int64_t kh = k_sz / kw;
  const uint8_t wmask = w.dtype() == DType::kU8 ? 0x80 : 0;
  const auto* pw = static_cast<const uint8_t*>(w.raw());
  r.w_storage = w.raw();
  r.kh = kh;
  r.quads.assign(static_cast<size_t>(c * kh), 0);
  r.sums.assign(static_cast<size_t>(c), 0);
  for (int64_t ch = 0; ch < c; ++ch) {
    uint32_t wsum = 0;
    for (int64_t a = 0; a < kh; ++a) {
      uint8_t q[4] = {0, 0, 0, 0};
      for (int64_t b = 0; b < kw; ++b) {
        q[b] = pw[ch * k_sz + a * kw + b] ^ wmask;
        wsum += static_cast<uint32_t>(static_cast<int32_t>(static_cast<int8_t>(q[b])));
      }
      std::memcpy(&r.quads[static_cast<size_t>(ch * kh + a)], q, 4);
    }
    r.sums[static_cast<size_t>(ch)] = static_cast<int32_t>(wsum);
  }
  return r;
}

bool dwconv_q8_rowquad_applies(const ConvInt8Inputs& in, const gemm_int8::Epilogue& ep) {
  const conv::ConvDims& d = in.d;
  if (gemm_int8::default_isa() != gemm_int8::Isa::kAvx512Vnni) return false;
  if (!(d.c / d.group == 1 && d.m == d.group && d.group > 1 && d.win.nd <= 2 && d.win.kernel[2] <= 4)) return false;
  const int32_t want = in.w->dtype() == DType::kU8 ? 128 : 0;
  for (int32_t z : in.w_zp)
    if (z != want) return false;
  if (ep.out != OutType::kS32)
    for (int64_t c = 0; c < d.m; ++c)
      if (!gemm_int8::x86::requant_vec_ok(ep.shift[c])) return false;
  return true;
}

void dwconv_q8_rowquad(const ConvInt8Inputs& in, const gemm_int8::Epilogue& ep, void* y, int64_t p_begin,
                       int64_t p_end, const DwQuadWeights* pre) {
  const conv::ConvDims& d = in.d;
  const conv::Window& w = d.win;
  const int64_t kh = w.kernel[1];
  const int64_t in_sz = w.big_numel(), nv = w.small[1] * w.small[2];
  const size_t esz = ep.out == OutType::kS32 ? 4 : 1;
  const bool x_signed = in.x->dtype() == DType::kI8;
  const uint8_t mask = x_signed ? 0x80 : 0;
  const int32_t zx = in.x_zp + (x_signed ? 128 : 0);
  const auto* px = static_cast<const uint8_t*>(in.x->raw());
  const int32_t* pb = in.bias ? in.bias->data<int32_t>() : nullptr;
  const RowQuadBuilder builder(w, mask, static_cast<uint8_t>(zx));
  const RowQuadGeometry& g = builder.geometry();

  uint8_t* x4 = scratch(1, static_cast<size_t>(g.plane_quads * 4));
  std::vector<int64_t> tap_off(static_cast<size_t>(kh));
  for (int64_t a = 0; a < kh; ++a) tap_off[a] = rowquad_tap_offset(w, g, a);

  // The per-channel weight quads and sums: prepare's, or made here once for this call.
  DwQuadWeights here;
  if (!pre || pre->w_storage != in.w->raw() || pre->kh != kh || static_cast<int64_t>(pre->sums.size()) != d.c) {
    here = dw_quad_weights(*in.w);
    pre = &here;
  }
  for (int64_t p = p_begin; p < p_end; ++p) {
    const int64_t c = p % d.c;
    const int32_t* wq = pre->quads.data() + c * kh;
    const auto wsum = static_cast<uint32_t>(pre->sums[c]);
    // Padded taps read x == zx: their products cancel against zx * sum(w) (wrapping, as the reference).
    const int32_t bias =
        static_cast<int32_t>(static_cast<uint32_t>(pb ? pb[c] : 0) - static_cast<uint32_t>(zx) * wsum);
    builder.build(px + p * in_sz, 0, x4);
    rowquad_plane_avx512vnni(x4, tap_off.data(), wq, kh, bias, nv, ep, c,
                             static_cast<uint8_t*>(y) + p * nv * static_cast<int64_t>(esz));
  }
}

bool dwconv_q8_blocked_pays(const ConvInt8Inputs& in) {
  const conv::Window& w = in.d.win;
  return gemm_int8::has_avx512_vbmi() && w.nd == 2 && w.small[1] * w.small[2] <= kBlockedMaxOutputs && w.kernel[1] <= 8 &&
         w.dilation[1] == 1 && w.dilation[2] == 1;
}

void dwconv_q8_rowquad_blocks(const ConvInt8Inputs& in, const gemm_int8::Epilogue& ep, void* y, int64_t b_begin,
                              int64_t b_end, const DwQuadWeights* pre) {
  const conv::ConvDims& d = in.d;
  const conv::Window& w = d.win;
  const int64_t kh = w.kernel[1];
  const int64_t in_sz = w.big_numel(), nv = w.small[1] * w.small[2], nblk = (d.c + 15) / 16;
  const size_t esz = ep.out == OutType::kS32 ? 4 : 1;
  const bool x_signed = in.x->dtype() == DType::kI8;
  const int32_t zx = in.x_zp + (x_signed ? 128 : 0);
  const auto* px = static_cast<const uint8_t*>(in.x->raw());
  const int32_t* pb = in.bias ? in.bias->data<int32_t>() : nullptr;
  const int64_t hp = (w.small[1] - 1) * w.stride[1] + kh, wp = (w.small[2] - 1) * w.stride[2] + 4;
  uint8_t* t = scratch(2, static_cast<size_t>(hp * wp * 16 + 64));
  DwQuadWeights here;
  if (!pre || pre->w_storage != in.w->raw() || pre->kh != kh || static_cast<int64_t>(pre->sums.size()) != d.c) {
    here = dw_quad_weights(*in.w);
    pre = &here;
  }
  alignas(64) int32_t wq16[8 * 16], bias16[16];
  for (int64_t b = b_begin; b < b_end; ++b) {
    const int64_t n = b / nblk, c0 = b % nblk * 16, nch = std::min<int64_t>(16, d.c - c0);
    for (int64_t i = 0; i < 16; ++i) {
      const int64_t c = c0 + (i < nch ? i : 0);
      for (int64_t a = 0; a < kh; ++a) wq16[a * 16 + i] = pre->quads[static_cast<size_t>(c * kh + a)];
      const auto wsum = static_cast<uint32_t>(pre->sums[static_cast<size_t>(c)]);
      // Padded taps read zx: their products cancel against zx * sum(w) (wrapping, as the reference).
      bias16[i] = static_cast<int32_t>(static_cast<uint32_t>(pb ? pb[c] : 0) - static_cast<uint32_t>(zx) * wsum);
    }
    const uint8_t* xb = px + (n * d.c + c0) * in_sz;
    void* yb = static_cast<uint8_t*>(y) + (n * d.c + c0) * nv * static_cast<int64_t>(esz);
    const uint8_t mask = x_signed ? 0x80 : 0, pad = static_cast<uint8_t>(zx);
    if (kh == 3)
      dw_block16_avx512vnni<3>(xb, in_sz, w, kh, nch, mask, pad, wq16, bias16, c0, ep, t, yb);
    else
      dw_block16_avx512vnni<0>(xb, in_sz, w, kh, nch, mask, pad, wq16, bias16, c0, ep, t, yb);
  }
}

#else  // not x86-64: the portable depthwise kernel in conv_int8_fast.cpp runs instead

bool dwconv_q8_rowquad_applies(const ConvInt8Inputs&, const gemm_int8::Epilogue&) { return false; }

DwQuadWeights dw_quad_weights(const Tensor&) { return {}; }

bool dwconv_q8_blocked_pays(const ConvInt8Inputs&) { return false; }

void dwconv_q8_rowquad_blocks(const ConvInt8Inputs&, const gemm_int8::Epilogue&, void*, int64_t, int64_t,
                              const DwQuadWeights*) {
  std::abort();
}

void dwconv_q8_rowquad(const ConvInt8Inputs&, const gemm_int8::Epilogue&, void*, int64_t, int64_t,
                       const DwQuadWeights*) {
  std::abort();
}

#endif

}  // namespace edgeopt::kernels::ops::qlinear_conv

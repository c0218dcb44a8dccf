// quant::requantize for 16 s32 lanes with AVX-512 (F+BW, target-attributed, x86-64 only): the vector
// form every AVX-512 int8 epilogue uses (the GEMM's, the depthwise conv's), bit-exact with the
// scalar routine in kernels/quant/requantize.h for right shifts 0..31 (shift in [-31, 0]).
//
//   const RequantConsts k = requant_consts_channel(ep.multiplier[c], ep.shift[c]);
//   __m512i y = requantize16(acc, k, zp, lo, hi);   // clamp(requantize(acc) + zp, lo, hi) per lane
//
// Callers must check the CPU (gemm_int8::default_isa() == kAvx512Vnni implies F+BW) and the shifts.
#pragma once
#include <cstdint>

namespace edgeopt::kernels::gemm_int8::x86 {

// requant_channel's per-channel inputs, precomputed once per GEMM: loop bodies then broadcast them
// from memory instead of moving scalars into vector registers channel by channel (slow on Zen 4).
struct RequantChannelScalars {
  int64_t add = 0, neg_below = 0;
  int32_t mult = 0, sra = 0;
};

inline bool requant_channel_ok(int32_t shift) { return shift <= -1 && shift >= -31; }

// For shift in [-31, -1] (requant_channel_ok).
inline RequantChannelScalars requant_channel_scalars(int32_t multiplier, int32_t shift) {
  const int64_t rs = -static_cast<int64_t>(shift);
  const int64_t half = int64_t{1} << (rs - 1);
  RequantChannelScalars s;
  s.add = (int64_t{1} << 30) + (half << 31);
  s.neg_below = half << 31;
  s.mult = multiplier;
  s.sra = static_cast<int32_t>(rs - 1);
  return s;
}

}  // namespace edgeopt::kernels::gemm_int8::x86

#if defined(__x86_64__)
#include <immintrin.h>

namespace edgeopt::kernels::gemm_int8::x86 {

#define EDGEOPT_TARGET_REQUANT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,bmi2")))

// With M > 0 and p = acc * M, the high multiply rounds half toward +inf:
// |q| = (|p| + 2^30 - [p < 0]) >> 31 with the sign of p; the rounding right shift rounds half away
// from zero: |y| = (|q| + 2^(rs-1)) >> rs. Since 2^(rs-1) is an integer, both fold into one shift:
// |y| = (|p| + 2^30 - [p < 0] + 2^(rs-1) * 2^31) >> (31 + rs), exact in unsigned 64-bit lanes.
// The per-channel parts (M's odd lanes, the addend, the shift) are built once per row or column.
struct RequantConsts {
  __m512i mult, mult_odd, add_even, add_odd, shift_even, shift_odd;
};

// Per-lane channels: mult and shift hold 16 multipliers / shifts.
EDGEOPT_TARGET_REQUANT_AVX512 inline RequantConsts requant_consts(__m512i mult, __m512i shift) {
  const __m512i low32 = _mm512_set1_epi64(0xffffffffLL);
  const __m512i rs = _mm512_sub_epi32(_mm512_setzero_si512(), shift);
  const __m512i half = _mm512_srli_epi32(_mm512_sllv_epi32(_mm512_set1_epi32(1), rs), 1);  // 2^(rs-1) or 0
  const __m512i nudge = _mm512_set1_epi64(int64_t{1} << 30), k31 = _mm512_set1_epi64(31);
  RequantConsts c;
  c.mult = mult;
  c.mult_odd = _mm512_srli_epi64(mult, 32);
  c.add_even = _mm512_add_epi64(_mm512_slli_epi64(_mm512_and_si512(half, low32), 31), nudge);
  c.add_odd = _mm512_add_epi64(_mm512_slli_epi64(_mm512_srli_epi64(half, 32), 31), nudge);
  c.shift_even = _mm512_add_epi64(_mm512_and_si512(rs, low32), k31);
  c.shift_odd = _mm512_add_epi64(_mm512_srli_epi64(rs, 32), k31);
  return c;
}

// One channel for all 16 lanes: even and odd lanes share scalar constants.
EDGEOPT_TARGET_REQUANT_AVX512 inline RequantConsts requant_consts_channel(int32_t multiplier, int32_t shift) {
  const int64_t rs = -static_cast<int64_t>(shift);
  const int64_t half = rs > 0 ? int64_t{1} << (rs - 1) : 0;
  RequantConsts c;
  c.mult = _mm512_set1_epi32(multiplier);
  c.mult_odd = c.mult;
  c.add_even = c.add_odd = _mm512_set1_epi64((int64_t{1} << 30) + (half << 31));
  c.shift_even = c.shift_odd = _mm512_set1_epi64(31 + rs);
  return c;
}

EDGEOPT_TARGET_REQUANT_AVX512 inline __m512i requantize16(__m512i acc, const RequantConsts& c, __m512i zp, __m512i lo,
                                                          __m512i hi) {
  const __mmask16 neg = _mm512_cmplt_epi32_mask(acc, _mm512_setzero_si512());
  const __m512i mag = _mm512_abs_epi32(acc);  // INT32_MIN -> 2^31, right as an unsigned lane
  const __m512i one = _mm512_set1_epi64(1);
  __m512i pe = _mm512_add_epi64(_mm512_mul_epu32(mag, c.mult), c.add_even);
  __m512i po = _mm512_add_epi64(_mm512_mul_epu32(_mm512_srli_epi64(mag, 32), c.mult_odd), c.add_odd);
  pe = _mm512_mask_sub_epi64(pe, static_cast<__mmask8>(_pext_u32(neg, 0x5555)), pe, one);
  po = _mm512_mask_sub_epi64(po, static_cast<__mmask8>(_pext_u32(neg, 0xAAAA)), po, one);
  pe = _mm512_srlv_epi64(pe, c.shift_even);
  po = _mm512_srlv_epi64(po, c.shift_odd);
  __m512i y = _mm512_mask_blend_epi32(0xAAAA, pe, _mm512_slli_epi64(po, 32));
  y = _mm512_mask_sub_epi32(y, neg, _mm512_setzero_si512(), y);
  y = _mm512_add_epi32(y, zp);
  return _mm512_min_epi32(_mm512_max_epi32(y, lo), hi);
}

// The same for one channel whose right shift rs is 1..31 (shift in [-31, -1]: real scales below
// 1/2, i.e. every conv/matmul requantization in practice), in fewer steps: with p = acc * M signed
// and q = floor((p + 2^30) / 2^31) (the high multiply), the rounding shift is
// y = floor((q + 2^(rs-1) - [q < 0]) / 2^rs) = floor((p + 2^30 + (2^(rs-1) - [p < -2^30]) 2^31) / 2^(31+rs)),
// i.e. the high dword of that 64-bit sum shifted right (arithmetic) by rs - 1. No magnitudes, no
// pext: two vpmuldq, a compare and a masked subtract per half, one dword merge, one vpsrad.
struct RequantChannel {
  __m512i mult, add, neg_below, two31;
  __m128i sra;  // rs - 1
};


EDGEOPT_TARGET_REQUANT_AVX512 inline RequantChannel requant_channel(const RequantChannelScalars& s) {
  RequantChannel c;
  c.mult = _mm512_set1_epi32(s.mult);
  c.add = _mm512_set1_epi64(s.add);
  c.neg_below = _mm512_set1_epi64(s.neg_below);  // p + add < this  <=>  p < -2^30
  c.two31 = _mm512_set1_epi64(int64_t{1} << 31);
  c.sra = _mm_cvtsi32_si128(s.sra);
  return c;
}

EDGEOPT_TARGET_REQUANT_AVX512 inline RequantChannel requant_channel(int32_t multiplier, int32_t shift) {
  return requant_channel(requant_channel_scalars(multiplier, shift));
}

EDGEOPT_TARGET_REQUANT_AVX512 inline __m512i requantize16_channel(__m512i acc, const RequantChannel& c, __m512i zp,
                                                                  __m512i lo, __m512i hi) {
  __m512i pe = _mm512_add_epi64(_mm512_mul_epi32(acc, c.mult), c.add);
  __m512i po = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), c.mult), c.add);
  pe = _mm512_mask_sub_epi64(pe, _mm512_cmplt_epi64_mask(pe, c.neg_below), pe, c.two31);
  po = _mm512_mask_sub_epi64(po, _mm512_cmplt_epi64_mask(po, c.neg_below), po, c.two31);
  // High dwords: po's stay in the odd lanes, pe's move down into the even ones.
  __m512i y = _mm512_mask_shuffle_epi32(po, 0x5555, pe, _MM_PERM_CDAB);
  y = _mm512_add_epi32(_mm512_sra_epi32(y, c.sra), zp);
  return _mm512_min_epi32(_mm512_max_epi32(y, lo), hi);
}

}  // namespace edgeopt::kernels::gemm_int8::x86
#endif  // __x86_64__

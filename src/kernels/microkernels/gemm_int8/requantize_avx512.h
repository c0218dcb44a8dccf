// quant::requantize for 16 s32 lanes with AVX-512 (F+BW, target-attributed, x86-64 only): the vector
// form every AVX-512 int8 epilogue uses (the GEMM's, the depthwise conv's), bit-exact with the
// scalar routine in kernels/quant/requantize.h for right shifts 1..31 (requant_vec_ok; real
// multipliers below 1/2, i.e. every conv/matmul requantization in practice; others go scalar).
//
//   const RequantConsts k = requant_consts_channel(ep.multiplier[c], ep.shift[c]);
//   __m512i y = requantize16(acc, k, zp, lo, hi);   // clamp(requantize(acc) + zp, lo, hi) per lane
//
// Callers must check the CPU (gemm_int8::default_isa() == kAvx512Vnni implies F+BW) and the shifts.
#pragma once
#include <bit>
#include <cstdint>

namespace edgeopt::kernels::gemm_int8::x86 {

inline bool requant_vec_ok(int32_t shift) { return shift <= -1 && shift >= -31; }

// The exact product p = acc * multiplier is rounded once by n = 31 + rs bits (rs = -shift), ties to
// even. A tie needs p to end in exactly n - 1 = 30 + rs zero bits; |acc| < 2^31 contributes at most
// 31, so with countr_zero(multiplier) <= rs - 2 no tie exists and round-half-up, (p + 2^(n-1)) >> n,
// is the same rounding: the cheap per-channel form. Real scale ratios almost always qualify (the
// multiplier's low bits are the rounded mantissa of s_x * s_w / s_y); dyadic ones (power-of-two
// scales) take requantize16, which resolves ties.
inline bool requant_channel_ok(int32_t multiplier, int32_t shift) {
  return requant_vec_ok(shift) && multiplier > 0 && std::countr_zero(static_cast<uint32_t>(multiplier)) + 2 <= -shift;
}

// requant_channel's per-channel inputs, precomputed once per GEMM: loop bodies then broadcast them
// from memory instead of moving scalars into vector registers channel by channel (slow on Zen 4).
struct RequantChannelScalars {
  int64_t add = 0;
  int32_t mult = 0, sra = 0;
  int32_t shift = 0;     // the channel's own shift, for the general form
  bool general = false;  // not requant_channel_ok (a tie is possible): requantize16 with these mult/shift
};

// For requant_vec_ok channels; the channel form's constants where requant_channel_ok.
inline RequantChannelScalars requant_channel_scalars(int32_t multiplier, int32_t shift) {
  const int64_t rs = -static_cast<int64_t>(shift);
  RequantChannelScalars s;
  s.mult = multiplier;
  s.shift = shift;
  s.general = !requant_channel_ok(multiplier, shift);
  if (s.general) return s;
  s.add = int64_t{1} << (30 + rs);  // 2^(n-1)
  s.sra = static_cast<int32_t>(rs - 1);  // n - 32: the shift left after taking the high dword
  return s;
}

}  // namespace edgeopt::kernels::gemm_int8::x86

#if defined(__x86_64__)
#include <immintrin.h>

namespace edgeopt::kernels::gemm_int8::x86 {

#define EDGEOPT_TARGET_REQUANT_AVX512 __attribute__((target("avx512f,avx512bw,avx512vl,bmi2")))

// The general form, per-lane multipliers and shifts: with p = acc * multiplier (vpmuldq on even
// and odd lanes) and n = 31 - shift, y = (p + 2^(n-1) - 1 + bit_n(p)) >> n, arithmetic: floor plus
// one exactly when the remainder is above half, or equal to it with an odd floor (half to even).
struct RequantConsts {
  __m512i mult, mult_odd, halfm1_even, halfm1_odd, n_even, n_odd;
};

// Per-lane channels: mult and shift hold 16 multipliers / shifts (each requant_vec_ok).
EDGEOPT_TARGET_REQUANT_AVX512 inline RequantConsts requant_consts(__m512i mult, __m512i shift) {
  const __m512i low32 = _mm512_set1_epi64(0xffffffffLL), one = _mm512_set1_epi64(1);
  const __m512i n = _mm512_sub_epi32(_mm512_set1_epi32(31), shift);
  RequantConsts c;
  c.mult = mult;
  c.mult_odd = _mm512_srli_epi64(mult, 32);
  c.n_even = _mm512_and_si512(n, low32);
  c.n_odd = _mm512_srli_epi64(n, 32);
  c.halfm1_even = _mm512_sub_epi64(_mm512_sllv_epi64(one, _mm512_sub_epi64(c.n_even, one)), one);
  c.halfm1_odd = _mm512_sub_epi64(_mm512_sllv_epi64(one, _mm512_sub_epi64(c.n_odd, one)), one);
  return c;
}

// One channel for all 16 lanes: even and odd lanes share scalar constants.
EDGEOPT_TARGET_REQUANT_AVX512 inline RequantConsts requant_consts_channel(int32_t multiplier, int32_t shift) {
  const int64_t n = 31 - static_cast<int64_t>(shift);
  RequantConsts c;
  c.mult = c.mult_odd = _mm512_set1_epi32(multiplier);
  c.halfm1_even = c.halfm1_odd = _mm512_set1_epi64((int64_t{1} << (n - 1)) - 1);
  c.n_even = c.n_odd = _mm512_set1_epi64(n);
  return c;
}

EDGEOPT_TARGET_REQUANT_AVX512 inline __m512i requantize_half_even8(__m512i p, __m512i halfm1, __m512i n) {
  const __m512i odd = _mm512_and_si512(_mm512_srav_epi64(p, n), _mm512_set1_epi64(1));
  return _mm512_srav_epi64(_mm512_add_epi64(p, _mm512_add_epi64(halfm1, odd)), n);
}

EDGEOPT_TARGET_REQUANT_AVX512 inline __m512i requantize16(__m512i acc, const RequantConsts& c, __m512i zp, __m512i lo,
                                                          __m512i hi) {
  const __m512i pe = _mm512_mul_epi32(acc, c.mult);
  const __m512i po = _mm512_mul_epi32(_mm512_srli_epi64(acc, 32), c.mult_odd);
  const __m512i ye = requantize_half_even8(pe, c.halfm1_even, c.n_even);  // |y| < 2^30: the low dword
  const __m512i yo = requantize_half_even8(po, c.halfm1_odd, c.n_odd);
  __m512i y = _mm512_mask_blend_epi32(0xAAAA, ye, _mm512_slli_epi64(yo, 32));
  y = _mm512_add_epi32(y, zp);
  return _mm512_min_epi32(_mm512_max_epi32(y, lo), hi);
}

// The per-channel form for requant_channel_ok channels (no ties, so half up == half to even):
// y = (p + 2^(n-1)) >> n with n >= 32 is the high dword of the 64-bit sum shifted right by n - 32.
// Two vpmuldq, two adds, one dword merge, one vpsrad.
struct RequantChannel {
  __m512i mult, add;
  __m128i sra;  // n - 32
};

EDGEOPT_TARGET_REQUANT_AVX512 inline RequantChannel requant_channel(const RequantChannelScalars& s) {
  RequantChannel c;
  c.mult = _mm512_set1_epi32(s.mult);
  c.add = _mm512_set1_epi64(s.add);
  c.sra = _mm_cvtsi32_si128(s.sra);
  return c;
}

EDGEOPT_TARGET_REQUANT_AVX512 inline RequantChannel requant_channel(int32_t multiplier, int32_t shift) {
  return requant_channel(requant_channel_scalars(multiplier, shift));
}

EDGEOPT_TARGET_REQUANT_AVX512 inline __m512i requantize16_channel(__m512i acc, const RequantChannel& c, __m512i zp,
                                                                  __m512i lo, __m512i hi) {
  const __m512i pe = _mm512_add_epi64(_mm512_mul_epi32(acc, c.mult), c.add);
  const __m512i po = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), c.mult), c.add);
  // High dwords: po's stay in the odd lanes, pe's move down into the even ones.
  __m512i y = _mm512_mask_shuffle_epi32(po, 0x5555, pe, _MM_PERM_CDAB);
  y = _mm512_add_epi32(_mm512_sra_epi32(y, c.sra), zp);
  return _mm512_min_epi32(_mm512_max_epi32(y, lo), hi);
}

// 16 channels, one per lane (a depthwise block of channels): the channel form with per-lane
// constants where every lane's channel is requant_channel_ok, else the general per-lane form.
struct RequantLanes {
  bool channel_form = false;
  RequantConsts general;
  __m512i mult, mult_odd, add_even, add_odd, sra;
};

EDGEOPT_TARGET_REQUANT_AVX512 inline RequantLanes requant_lanes(const int32_t* multiplier, const int32_t* shift) {
  alignas(64) int32_t sra[16];
  alignas(64) int64_t add[16];
  bool channel_form = true;
  for (int i = 0; i < 16; ++i) {
    const RequantChannelScalars cs = requant_channel_scalars(multiplier[i], shift[i]);
    channel_form = channel_form && !cs.general;
    add[i] = cs.add;
    sra[i] = cs.sra;
  }
  RequantLanes r;
  r.channel_form = channel_form;
  r.mult = _mm512_loadu_si512(multiplier);
  r.mult_odd = _mm512_srli_epi64(r.mult, 32);
  const __m512i even = _mm512_set_epi64(14, 12, 10, 8, 6, 4, 2, 0), odd = _mm512_set_epi64(15, 13, 11, 9, 7, 5, 3, 1);
  const __m512i a0 = _mm512_load_si512(add), a1 = _mm512_load_si512(add + 8);
  r.add_even = _mm512_permutex2var_epi64(a0, even, a1);
  r.add_odd = _mm512_permutex2var_epi64(a0, odd, a1);
  r.sra = _mm512_load_si512(sra);
  if (!channel_form) r.general = requant_consts(r.mult, _mm512_loadu_si512(shift));
  return r;
}

EDGEOPT_TARGET_REQUANT_AVX512 inline __m512i requantize16_lanes(__m512i acc, const RequantLanes& k, __m512i zp,
                                                                __m512i lo, __m512i hi) {
  if (!k.channel_form) return requantize16(acc, k.general, zp, lo, hi);
  // requantize16_channel with per-lane constants: the rounded high dword, shifted per lane.
  const __m512i pe = _mm512_add_epi64(_mm512_mul_epi32(acc, k.mult), k.add_even);
  const __m512i po = _mm512_add_epi64(_mm512_mul_epi32(_mm512_srli_epi64(acc, 32), k.mult_odd), k.add_odd);
  const __m512i y = _mm512_add_epi32(
      _mm512_srav_epi32(_mm512_mask_shuffle_epi32(po, 0x5555, pe, _MM_PERM_CDAB), k.sra), zp);
  return _mm512_min_epi32(_mm512_max_epi32(y, lo), hi);
}

}  // namespace edgeopt::kernels::gemm_int8::x86
#endif  // __x86_64__

// Tests of kernels/quant/requantize.h, the rounding shared by QuantizeLinear, int8 kernels and QAT.
#include "kernels/quant/requantize.h"

#include <gtest/gtest.h>

#include <cfenv>
#include <cmath>
#include <random>

namespace edgeopt::kernels::quant {
namespace {

TEST(Requantize, RoundHalfEvenTies) {
  const float in[] = {0.5f, 1.5f, 2.5f, 3.5f, -0.5f, -1.5f, -2.5f, -3.5f, 0.49999997f, 2.5000002f, 1e9f, -7.f};
  const float want[] = {0.f, 2.f, 2.f, 4.f, 0.f, -2.f, -2.f, -4.f, 0.f, 3.f, 1e9f, -7.f};
  for (size_t i = 0; i < std::size(in); ++i) EXPECT_EQ(round_half_even(in[i]), want[i]) << "x=" << in[i];
}

TEST(Requantize, QuantizeF32TiesAndSaturation) {
  // x / scale lands exactly on .5: ties go to even, then the zero point is added.
  EXPECT_EQ(quantize_f32(5.f, 2.f, 0, 0, 255), 2);    // 2.5 -> 2
  EXPECT_EQ(quantize_f32(7.f, 2.f, 0, 0, 255), 4);    // 3.5 -> 4
  EXPECT_EQ(quantize_f32(-5.f, 2.f, 0, -128, 127), -2);
  EXPECT_EQ(quantize_f32(5.f, 2.f, 1, 0, 255), 3);    // round first, then + zero point
  EXPECT_EQ(quantize_f32(1000.f, 2.f, 128, 0, 255), 255);
  EXPECT_EQ(quantize_f32(-1000.f, 2.f, 128, 0, 255), 0);
  EXPECT_EQ(quantize_f32(1e30f, 1e-30f, 0, -128, 127), 127);  // x / scale overflows to inf
  EXPECT_EQ(quantize_f32(-INFINITY, 1.f, 0, -128, 127), -128);
  EXPECT_EQ(quantize_f32(NAN, 1.f, 3, -128, 127), 3);
  EXPECT_EQ(quantize_f32(-3e9f, 1.f, 0, INT32_MIN, INT32_MAX), INT32_MIN);
  EXPECT_FLOAT_EQ(fake_quantize_f32(0.26f, 0.1f, 10, 0, 255), 0.3f);
  EXPECT_FLOAT_EQ(dequantize_f32(0, 0.5f, 128), -64.f);
}

TEST(Requantize, QuantizeF32IgnoresFpRoundingMode) {
  const int old = std::fegetround();
  for (int mode : {FE_UPWARD, FE_DOWNWARD, FE_TOWARDZERO}) {
    std::fesetround(mode);
    EXPECT_EQ(quantize_f32(2.5f, 1.f, 0, -128, 127), 2) << "mode " << mode;
    EXPECT_EQ(quantize_f32(-2.5f, 1.f, 0, -128, 127), -2) << "mode " << mode;
    EXPECT_EQ(quantize_f32(2.6f, 1.f, 0, -128, 127), 3) << "mode " << mode;
  }
  std::fesetround(old);
}

TEST(Requantize, MultiplierRepresentsRealWithin2PowMinus31) {
  std::mt19937_64 rng(5);
  std::uniform_real_distribution<double> log_m(std::log(1e-9), std::log(1e4));
  for (int i = 0; i < 20000; ++i) {
    const double real = std::exp(log_m(rng));
    const QuantMultiplier m = quantize_multiplier(real);
    ASSERT_GE(m.multiplier, 1 << 30) << "real=" << real;
    const double rep = std::ldexp(static_cast<double>(m.multiplier), m.shift - 31);
    ASSERT_LE(std::fabs(rep - real) / real, std::ldexp(1.0, -31)) << "real=" << real << " rep=" << rep;
  }
  EXPECT_EQ(quantize_multiplier(0.0).multiplier, 0);
  EXPECT_EQ(quantize_multiplier(-1.0).multiplier, 0);
  EXPECT_EQ(quantize_multiplier(1e-30).multiplier, 0);  // below 2^-62: every int32 rounds to 0
  const QuantMultiplier one = quantize_multiplier(1.0);
  EXPECT_EQ(one.multiplier, 1 << 30);
  EXPECT_EQ(one.shift, 1);
  // A mantissa that rounds up to 1.0 moves to the next power of two.
  const QuantMultiplier up = quantize_multiplier(std::nextafter(1.0, 0.0));
  EXPECT_EQ(up.multiplier, 1 << 30);
  EXPECT_EQ(up.shift, 1);
}

TEST(Requantize, EqualsExactRoundHalfEvenOfTheRepresentedMultiplier) {
  std::mt19937_64 rng(11);
  std::uniform_real_distribution<double> log_m(std::log(1e-6), std::log(8.0));
  std::uniform_int_distribution<int32_t> acc_d(-(1 << 24), 1 << 24);
  std::uniform_int_distribution<int32_t> zp_d(-128, 127);
  const int n = 200000;
  for (int i = 0; i < n; ++i) {
    const double real = std::exp(log_m(rng));
    const int32_t acc = acc_d(rng), zp = zp_d(rng);
    const QuantMultiplier m = quantize_multiplier(real);
    const int32_t got = requantize(acc, m, zp, INT32_MIN, INT32_MAX);
    // Against the real multiplier: only the Q0.31 representation differs, by <= 2^-31 relative.
    ASSERT_LE(std::fabs(got - (std::round(acc * real) + zp)), 1.0) << "acc=" << acc << " real=" << real;
    // Against the represented multiplier, exactly: acc * multiplier < 2^56 is exact in a long double
    // and nearbyintl rounds half to even in the default FP mode.
    const long double v = ldexpl(static_cast<long double>(acc) * m.multiplier, m.shift - 31);
    ASSERT_EQ(got, static_cast<int64_t>(nearbyintl(v)) + zp) << "acc=" << acc << " real=" << real;
  }
}

// The whole int32 range and every multiplier and shift edge, against a 128-bit reference.
TEST(Requantize, ExtremesAgainstInt128) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> any(INT32_MIN, INT32_MAX);
  for (int32_t mult : {int32_t{1} << 30, (int32_t{1} << 30) + 1, INT32_MAX, 1518500250})
    for (int shift = -62; shift <= 31; ++shift)
      for (int i = 0; i < 64; ++i) {
        const int32_t acc = i == 0 ? INT32_MIN : i == 1 ? INT32_MAX : i < 6 ? i - 4 : any(rng);
        const int32_t got = requantize(acc, QuantMultiplier{mult, shift}, 0, INT32_MIN, INT32_MAX);
        const __int128 p = static_cast<__int128>(acc) * mult;
        const int nsh = 31 - shift;
        __int128 want;
        if (nsh <= 0) {
          want = p << -nsh;
        } else {
          const __int128 den = static_cast<__int128>(1) << nsh;
          __int128 q = p / den, r = p % den;
          if (r < 0) { q -= 1; r += den; }
          want = q + ((2 * r > den || (2 * r == den && (q & 1))) ? 1 : 0);
        }
        want = want > INT32_MAX ? INT32_MAX : (want < INT32_MIN ? INT32_MIN : want);
        ASSERT_EQ(got, static_cast<int32_t>(want)) << "acc=" << acc << " mult=" << mult << " shift=" << shift;
      }
}

TEST(Requantize, RoundingAndSaturation) {
  const QuantMultiplier half = quantize_multiplier(0.5);
  EXPECT_EQ(requantize(3, half, 0, -1000, 1000), 2);    // 1.5 -> 2
  EXPECT_EQ(requantize(-3, half, 0, -1000, 1000), -2);  // -1.5 -> -2: ties to even
  EXPECT_EQ(requantize(5, half, 0, -1000, 1000), 2);    // 2.5 -> 2
  EXPECT_EQ(requantize(-5, half, 0, -1000, 1000), -2);  // -2.5 -> -2
  EXPECT_EQ(requantize(7, half, 0, -1000, 1000), 4);    // 3.5 -> 4
  EXPECT_EQ(requantize(5, quantize_multiplier(0.25), 0, -1000, 1000), 1);  // 1.25: one rounding, not two
  EXPECT_EQ(requantize(-6, quantize_multiplier(0.25), 0, -1000, 1000), -2);  // -1.5 -> -2
  EXPECT_EQ(requantize(1000, half, 10, -128, 127), 127);
  EXPECT_EQ(requantize(-1000, half, 10, -128, 127), -128);
  // acc << shift overflows int32 for M = 4: computed exactly, then saturated.
  EXPECT_EQ(requantize(INT32_MAX, quantize_multiplier(4.0), 0, INT32_MIN, INT32_MAX), INT32_MAX);
  EXPECT_EQ(requantize(INT32_MIN, quantize_multiplier(4.0), 0, INT32_MIN, INT32_MAX), INT32_MIN);
  EXPECT_EQ(requantize(1 << 29, quantize_multiplier(1.5), 0, INT32_MIN, INT32_MAX), 805306368);
  EXPECT_EQ(requantize(123456, QuantMultiplier{}, 7, -128, 127), 7);
  EXPECT_EQ(requantize(100, quantize_multiplier(3.0), -5, -1000, 1000), 295);
}

}  // namespace
}  // namespace edgeopt::kernels::quant

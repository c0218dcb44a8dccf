#include "kernels/microkernels/quantize_q8/quantize_q8.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>

#include "kernels/quant/requantize.h"

namespace edgeopt::kernels::quantize_q8 {
namespace {

TEST(QuantizeQ8, EveryIsaEqualsQuantizeF32BitExactly) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-400.f, 400.f);
  std::vector<float> x;
  for (int i = 0; i < 5000; ++i) x.push_back(u(rng));
  for (float t = -130.5f; t <= 130.5f; t += 0.5f) x.push_back(t * 0.02f);  // ties at scale 0.02
  for (float v :
       {0.f, -0.f, 1e30f, -1e30f, 3e9f, std::numeric_limits<float>::infinity(), -std::numeric_limits<float>::infinity(),
        std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::denorm_min(), 16777217.f, -8388609.5f})
    x.push_back(v);
  const int64_t n = static_cast<int64_t>(x.size());
  struct P {
    float scale;
    int32_t zp, lo, hi;
    bool is_signed;
  };
  for (const P& p : {P{0.02f, 128, 0, 255, false}, P{0.7f, -3, -128, 127, true}, P{1e-6f, 0, -128, 127, true},
                     P{3.f, 300, 0, 255, false}, P{0.05f, 10, 10, 200, false}})
    for (gemm_int8::Isa isa : gemm_int8::supported_isas()) {
      std::vector<uint8_t> y(x.size() + 1, 0xCD);
      quantize_f32_to_q8(x.data(), n, p.scale, p.zp, p.lo, p.hi, p.is_signed, y.data(), isa);
      for (int64_t i = 0; i < n; ++i) {
        const int32_t want = quant::quantize_f32(x[i], p.scale, p.zp, p.lo, p.hi);
        const int32_t got = p.is_signed ? int32_t{static_cast<int8_t>(y[i])} : int32_t{y[i]};
        ASSERT_EQ(got, want) << "x=" << x[i] << " scale=" << p.scale << " zp=" << p.zp
                             << " isa=" << gemm_int8::isa_name(isa);
      }
      EXPECT_EQ(y[n], 0xCD) << "wrote past n";
    }
}

}  // namespace
}  // namespace edgeopt::kernels::quantize_q8

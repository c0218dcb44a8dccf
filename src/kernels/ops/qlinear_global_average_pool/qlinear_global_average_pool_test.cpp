#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/error.h"
#include "kernels/testing/int8_testing.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::ops::qlinear_global_average_pool {
namespace {

using testing::q8_scalar;
using testing::random_q8;

struct Case {
  Shape x;
  DType xt, yt;
};

std::vector<Tensor> inputs(const Case& cs, std::mt19937& rng) {
  std::uniform_real_distribution<float> sd(0.005f, 0.1f);
  std::uniform_int_distribution<int> zd(-30, 30);
  auto zp = [&](DType t) { return q8_scalar(t, (t == DType::kU8 ? 128 : 0) + zd(rng)); };
  return {random_q8(cs.xt, cs.x, rng), Tensor::scalar_f32(sd(rng)), zp(cs.xt), Tensor::scalar_f32(sd(rng) / 4),
          zp(cs.yt)};
}

int32_t code(const Tensor& t, int64_t i) {
  return t.dtype() == DType::kU8 ? int32_t{t.data<uint8_t>()[i]} : int32_t{t.data<int8_t>()[i]};
}

const Case kCases[] = {
    {Shape({1, 1280, 7, 7}), DType::kU8, DType::kU8},  // MobileNetV2's head
    {Shape({2, 5, 3, 4}), DType::kI8, DType::kI8},
    {Shape({3, 7, 11}), DType::kU8, DType::kI8},  // 1-D
    {Shape({1, 4, 2, 3, 5}), DType::kI8, DType::kU8},  // 3-D
    {Shape({1, 16, 1, 1}), DType::kU8, DType::kU8},
};

// Against the QDQ graph it replaces (DequantizeLinear -> GlobalAveragePool -> QuantizeLinear, run
// through those ops): within one step, and equal except where the exact mean sits at a .5
// boundary of y_scale (checked with an f64 oracle); the fast forward equals the reference.
TEST(QLinearGlobalAveragePool, MatchesTheQdqGraphWithinOneStep) {
  std::mt19937 rng(3);
  for (const Case& cs : kCases) {
    const std::vector<Tensor> in = inputs(cs, rng);
    const Node n = testing::make_node("QLinearGlobalAveragePool", 5, 1);
    const Tensor got = testing::run_op(n, in)[0];
    const Tensor fx = testing::run_op(testing::make_node("DequantizeLinear", 3, 1), {in[0], in[1], in[2]})[0];
    const Tensor mean = testing::run_op(testing::make_node("GlobalAveragePool", 1, 1), {fx})[0];
    const Tensor want = testing::run_op(testing::make_node("QuantizeLinear", 3, 1), {mean, in[3], in[4]})[0];
    ASSERT_EQ(got.shape(), want.shape()) << cs.x.str();
    ASSERT_EQ(got.dtype(), want.dtype()) << cs.x.str();
    const int64_t plane = in[0].numel() / got.numel();
    const double sx = in[1].data<float>()[0], sy = in[3].data<float>()[0];
    const int32_t zx = code(in[2], 0);
    int64_t differ = 0;
    for (int64_t p = 0; p < got.numel(); ++p) {
      ASSERT_LE(std::abs(code(got, p) - code(want, p)), 1) << cs.x.str() << " plane " << p;
      if (code(got, p) == code(want, p)) continue;
      ++differ;
      int64_t sum = 0;
      for (int64_t i = 0; i < plane; ++i) sum += code(in[0], p * plane + i) - zx;
      const double v = static_cast<double>(sum) * sx / static_cast<double>(plane) / sy;
      EXPECT_LT(std::abs(v - std::floor(v) - 0.5), 1e-4) << "differs away from a .5 boundary: " << v;
    }
    EXPECT_LE(differ * 100, got.numel()) << cs.x.str();
    std::vector<Tensor> fast(1);
    ForwardCtx ctx{n, in, fast};
    find_op("QLinearGlobalAveragePool")->forward_fast(ctx);
    testing::expect_bit_exact(got, fast[0], "fast vs reference, x=" + cs.x.str());
  }
}

TEST(QLinearGlobalAveragePool, BadInputsNameTheTensorOrAttribute) {
  std::mt19937 rng(4);
  std::vector<Tensor> in = inputs(kCases[1], rng);
  auto message = [&](const Node& n, const std::vector<Tensor>& v) -> std::string {
    try {
      testing::run_op(n, v);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  Node n = testing::make_node("QLinearGlobalAveragePool", 5, 1);
  std::vector<Tensor> bad = in;
  bad[2] = q8_scalar(DType::kU8, 3);  // x is i8
  EXPECT_NE(message(n, bad).find("x_zero_point"), std::string::npos) << message(n, bad);
  bad = in;
  bad[3] = Tensor::scalar_f32(0.f);
  EXPECT_NE(message(n, bad).find("y_scale"), std::string::npos) << message(n, bad);
  bad = in;
  bad[0] = random_q8(DType::kI8, Shape({4, 5}), rng);
  EXPECT_NE(message(n, bad).find("rank >= 3"), std::string::npos) << message(n, bad);
  Node last = n;
  last.set_attr("channels_last", int64_t{1});
  EXPECT_NE(message(last, in).find("channels_last"), std::string::npos) << message(last, in);
}

}  // namespace
}  // namespace edgeopt::kernels::ops::qlinear_global_average_pool

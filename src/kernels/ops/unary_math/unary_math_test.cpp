#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(UnaryMath, F32MatchesLibm) {
  Tensor x = random_f32({3, 7}, 1, 0.1f, 3.f);
  struct Case {
    const char* op;
    double (*f)(double);
  };
  for (const Case& c : {Case{"Exp", [](double v) { return std::exp(v); }}, Case{"Log", [](double v) { return std::log(v); }},
                        Case{"Sqrt", [](double v) { return std::sqrt(v); }}, Case{"Erf", [](double v) { return std::erf(v); }},
                        Case{"Neg", [](double v) { return -v; }}, Case{"Abs", [](double v) { return std::fabs(v); }}}) {
    Tensor want(DType::kF32, x.shape());
    for (int64_t i = 0; i < x.numel(); ++i) want.data<float>()[i] = static_cast<float>(c.f(x.data<float>()[i]));
    expect_close(want, run_op(make_node(c.op, 1, 1), {x})[0], 1e-6, 1e-6, c.op);
  }
  auto a = run_op(make_node("Abs", 1, 1), {Tensor::from_vector<float>({3}, {-2.f, 0.f, 1.5f})})[0];
  expect_close(Tensor::from_vector<float>({3}, {2.f, 0.f, 1.5f}), a, 0, 0, "abs signs");
}

TEST(UnaryMath, IntegerNegAndAbs) {
  auto n = run_op(make_node("Neg", 1, 1), {Tensor::from_vector<int32_t>({3}, {-4, 0, 7})})[0];
  EXPECT_EQ(n.data<int32_t>()[0], 4);
  EXPECT_EQ(n.data<int32_t>()[2], -7);
  auto a = run_op(make_node("Abs", 1, 1), {Tensor::from_vector<int8_t>({3}, {-128, -5, 6})})[0];
  EXPECT_EQ(a.data<int8_t>()[0], -128);  // wraps, as numpy
  EXPECT_EQ(a.data<int8_t>()[1], 5);
  auto u = run_op(make_node("Abs", 1, 1), {Tensor::from_vector<uint8_t>({1}, {200})})[0];
  EXPECT_EQ(u.data<uint8_t>()[0], 200);
  EXPECT_THROW(run_op(make_node("Neg", 1, 1), {Tensor::zeros(DType::kU8, {2})}), Error);
  EXPECT_THROW(run_op(make_node("Exp", 1, 1), {Tensor::zeros(DType::kI32, {2})}), Error);
}

TEST(UnaryMath, PowBroadcastAndMixedTypes) {
  // test_pow_bcast_array: x [2,3] ^ y [3].
  auto y = run_op(make_node("Pow", 2, 1), {Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6}),
                                           Tensor::from_vector<float>({3}, {1, 2, 3})})[0];
  expect_close(Tensor::from_vector<float>({2, 3}, {1, 4, 27, 4, 25, 216}), y, 1e-5, 1e-6, "bcast array");
  // test_pow_types_int32_float32: the output keeps the base's dtype.
  auto yi = run_op(make_node("Pow", 2, 1), {Tensor::from_vector<int32_t>({3}, {1, 2, 3}),
                                            Tensor::from_vector<float>({3}, {4, 5, 6})})[0];
  ASSERT_EQ(yi.dtype(), DType::kI32);
  EXPECT_EQ(yi.data<int32_t>()[1], 32);
  EXPECT_EQ(yi.data<int32_t>()[2], 729);
  auto yf = run_op(make_node("Pow", 2, 1), {Tensor::from_vector<float>({2}, {2.f, 9.f}),
                                            Tensor::from_vector<int64_t>({}, {2})})[0];
  expect_close(Tensor::from_vector<float>({2}, {4.f, 81.f}), yf, 0, 0, "f32 ^ i64");
  EXPECT_THROW(run_op(make_node("Pow", 2, 1), {Tensor::zeros(DType::kU8, {2}), random_f32({2}, 1)}), Error);
  EXPECT_THROW(run_op(make_node("Pow", 2, 1), {random_f32({2, 3}, 1), random_f32({4}, 2)}), Error);
}

TEST(UnaryMath, GradientsMatchFiniteDifferences) {
  Tensor pos = random_f32({2, 5}, 3, 0.5f, 2.f);
  for (const char* op : {"Exp", "Log", "Sqrt", "Erf", "Neg"}) expect_gradients_match(make_node(op, 1, 1), {pos});
  Tensor mixed = random_f32({2, 5}, 4, 0.2f, 1.f);
  for (int64_t i = 0; i < mixed.numel(); i += 2) mixed.data<float>()[i] *= -1.f;  // away from the kink
  expect_gradients_match(make_node("Abs", 1, 1), {mixed});
  expect_gradients_match(make_node("Pow", 2, 1), {random_f32({2, 3}, 5, 0.5f, 2.f), random_f32({3}, 6, -1.5f, 2.f)});
}

}  // namespace edgeopt::kernels::testing

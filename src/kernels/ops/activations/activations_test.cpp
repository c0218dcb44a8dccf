#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

// Inputs in [-4, 4] kept 0.05 away from every kink (0, +-3, and HardSigmoid's +-2.5 edges).
Tensor away_from_kinks(Shape s, uint64_t seed) {
  Tensor x = random_f32(std::move(s), seed, -4.f, 4.f);
  for (int64_t i = 0; i < x.numel(); ++i) {
    float& v = x.data<float>()[i];
    for (float k : {-3.f, -2.5f, 0.f, 2.5f, 3.f})
      if (std::fabs(v - k) < 0.05f) v = k + 0.1f;
  }
  return x;
}

void expect_pointwise(const std::string& op, const Node& n, float (*f)(float, float, float), float a, float b) {
  Tensor x = Tensor::from_vector<float>({7}, {-5.f, -3.f, -1.f, -0.f, 0.5f, 3.f, 20.f});
  auto y = run_op(n, {x})[0];
  Tensor want(DType::kF32, x.shape());
  for (int64_t i = 0; i < x.numel(); ++i) want.data<float>()[i] = f(x.data<float>()[i], a, b);
  expect_close(want, y, 1e-6, 1e-6, op);
}

}  // namespace

TEST(Activations, ForwardMatchesDefinitions) {
  Node lr = make_node("LeakyRelu", 1, 1);
  expect_pointwise(
      "LeakyRelu default", lr, [](float x, float a, float) { return x > 0 ? x : a * x; }, 0.01f, 0);
  lr.set_attr("alpha", 0.1f);
  expect_pointwise(
      "LeakyRelu", lr, [](float x, float a, float) { return x > 0 ? x : a * x; }, 0.1f, 0);
  expect_pointwise(
      "Sigmoid", make_node("Sigmoid", 1, 1),
      [](float x, float, float) { return static_cast<float>(1.0 / (1.0 + std::exp(-double(x)))); }, 0, 0);
  expect_pointwise(
      "Tanh", make_node("Tanh", 1, 1), [](float x, float, float) { return std::tanh(x); }, 0, 0);
  Node hs = make_node("HardSigmoid", 1, 1);
  auto hsig = [](float x, float a, float b) { return std::max(0.f, std::min(1.f, a * x + b)); };
  expect_pointwise("HardSigmoid default", hs, hsig, 0.2f, 0.5f);
  hs.set_attr("alpha", 0.5f);
  hs.set_attr("beta", 0.6f);
  expect_pointwise("HardSigmoid", hs, hsig, 0.5f, 0.6f);
  expect_pointwise(
      "HardSwish", make_node("HardSwish", 1, 1),
      [](float x, float, float) { return x * std::max(0.f, std::min(1.f, x / 6 + 0.5f)); }, 0, 0);
}

TEST(Activations, SigmoidSaturatesWithoutNan) {
  auto y = run_op(make_node("Sigmoid", 1, 1), {Tensor::from_vector<float>({2}, {-1000.f, 1000.f})})[0];
  EXPECT_EQ(y.data<float>()[0], 0.f);
  EXPECT_EQ(y.data<float>()[1], 1.f);
}

TEST(Activations, GradientsMatchFiniteDifferences) {
  for (const char* op : {"LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish"}) {
    SCOPED_TRACE(op);
    expect_gradients_match(make_node(op, 1, 1), {away_from_kinks({3, 7}, 5)});
  }
  Node lr = make_node("LeakyRelu", 1, 1);
  lr.set_attr("alpha", 0.3f);
  expect_gradients_match(lr, {away_from_kinks({11}, 6)});
}

TEST(Activations, RejectIntegerInput) {
  for (const char* op : {"LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish"})
    EXPECT_THROW(run_op(make_node(op, 1, 1), {Tensor::zeros(DType::kI32, {2})}), Error) << op;
  EXPECT_THROW(run_op(make_node("Tanh", 1, 1), {Tensor()}), Error);
}

}  // namespace edgeopt::kernels::testing

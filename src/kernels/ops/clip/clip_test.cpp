#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(Clip, InputBounds) {
  Node n = make_node("Clip", 3, 1);
  Tensor x = Tensor::from_vector<float>({5}, {-3.f, -1.f, 0.f, 1.f, 3.f});
  auto y = run_op(n, {x, Tensor::scalar_f32(-1.5f), Tensor::scalar_f32(2.f)})[0];
  expect_close(Tensor::from_vector<float>({5}, {-1.5f, -1.f, 0.f, 1.f, 2.f}), y, 0, 0, "clip");
  // Only max (min omitted as ""), only min (trailing input absent).
  y = run_op(n, {x, Tensor(), Tensor::scalar_f32(0.f)})[0];
  expect_close(Tensor::from_vector<float>({5}, {-3.f, -1.f, 0.f, 0.f, 0.f}), y, 0, 0, "clip max only");
  y = run_op(make_node("Clip", 2, 1), {x, Tensor::scalar_f32(0.f)})[0];
  expect_close(Tensor::from_vector<float>({5}, {0.f, 0.f, 0.f, 1.f, 3.f}), y, 0, 0, "clip min only");
  y = run_op(make_node("Clip", 1, 1), {x})[0];
  expect_close(x, y, 0, 0, "clip no bounds");
  // lo > hi: everything is hi.
  y = run_op(n, {x, Tensor::scalar_f32(2.f), Tensor::scalar_f32(1.f)})[0];
  expect_close(Tensor::from_vector<float>({5}, {1.f, 1.f, 1.f, 1.f, 1.f}), y, 0, 0, "clip lo>hi");
}

TEST(Clip, AttributeBoundsBeforeOpset11) {
  Node n = make_node("Clip", 1, 1);
  n.set_attr("min", -0.5f);
  n.set_attr("max", 0.5f);
  auto y = run_op(n, {Tensor::from_vector<float>({3}, {-1.f, 0.25f, 1.f})})[0];
  expect_close(Tensor::from_vector<float>({3}, {-0.5f, 0.25f, 0.5f}), y, 0, 0, "clip attrs");
}

TEST(Clip, IntegerDtypes) {
  Tensor x = Tensor::from_vector<int8_t>({4}, {-128, -1, 1, 127});
  auto y = run_op(make_node("Clip", 3, 1), {x, Tensor(), Tensor::from_vector<int8_t>({}, {0})})[0];
  expect_close(Tensor::from_vector<int8_t>({4}, {-128, -1, 0, 0}), y, 0, 0, "clip i8 max");
  y = run_op(make_node("Clip", 1, 1), {x})[0];
  expect_close(x, y, 0, 0, "clip i8 default");
  Tensor z = Tensor::from_vector<int64_t>({3}, {-5, 5, 50});
  y = run_op(make_node("Clip", 3, 1),
             {z, Tensor::from_vector<int64_t>({}, {0}), Tensor::from_vector<int64_t>({}, {10})})[0];
  expect_close(Tensor::from_vector<int64_t>({3}, {0, 5, 10}), y, 0, 0, "clip i64");
}

TEST(Clip, Errors) {
  Node n = make_node("Clip", 3, 1);
  Tensor x = random_f32({4}, 1);
  EXPECT_THROW(run_op(n, {x, random_f32({2}, 2), Tensor()}), Error);                     // non-scalar min
  EXPECT_THROW(run_op(n, {x, Tensor::from_vector<int32_t>({}, {0}), Tensor()}), Error);  // dtype mismatch
  EXPECT_THROW(run_op(n, {Tensor::zeros(DType::kBool, {2}), Tensor(), Tensor()}), Error);
}

TEST(Clip, GradientMatchesFiniteDifferences) {
  Node n = make_node("Clip", 3, 1);
  Tensor x = random_f32({4, 5}, 3, -1.f, 1.f);
  for (int64_t i = 0; i < x.numel(); ++i) {  // keep away from the bounds at +-0.5
    float& v = x.data<float>()[i];
    if (std::abs(std::abs(v) - 0.5f) < 0.05f) v *= 1.3f;
  }
  expect_gradients_match(n, {x, Tensor::scalar_f32(-0.5f), Tensor::scalar_f32(0.5f)});
  Node a = make_node("Clip", 1, 1);
  a.set_attr("min", -0.5f);
  expect_gradients_match(a, {x});
}

}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(MaxMin, OnnxExamples) {
  // test_max_example / test_min_example: [3,2,1], [1,4,4], [2,5,3].
  std::vector<Tensor> in{Tensor::from_vector<float>({3}, {3, 2, 1}), Tensor::from_vector<float>({3}, {1, 4, 4}),
                         Tensor::from_vector<float>({3}, {2, 5, 3})};
  expect_close(Tensor::from_vector<float>({3}, {3, 5, 4}), run_op(make_node("Max", 3, 1), in)[0], 0, 0, "max");
  expect_close(Tensor::from_vector<float>({3}, {1, 2, 1}), run_op(make_node("Min", 3, 1), in)[0], 0, 0, "min");
}

TEST(MaxMin, BroadcastIntegersAndNaN) {
  auto y = run_op(make_node("Max", 2, 1), {Tensor::from_vector<int32_t>({2, 1}, {1, 9}),
                                           Tensor::from_vector<int32_t>({3}, {4, 0, 10})})[0];
  ASSERT_EQ(y.shape(), Shape({2, 3}));
  const int32_t want[] = {4, 1, 10, 9, 9, 10};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(y.data<int32_t>()[i], want[i]);
  auto u = run_op(make_node("Min", 2, 1), {Tensor::from_vector<uint8_t>({2}, {200, 3}),
                                           Tensor::from_vector<uint8_t>({1}, {100})})[0];
  EXPECT_EQ(u.data<uint8_t>()[0], 100);
  EXPECT_EQ(u.data<uint8_t>()[1], 3);
  auto f = run_op(make_node("Max", 2, 1), {Tensor::from_vector<float>({2}, {NAN, 1.f}),
                                           Tensor::from_vector<float>({2}, {0.f, NAN})})[0];
  EXPECT_TRUE(std::isnan(f.data<float>()[0]));
  EXPECT_TRUE(std::isnan(f.data<float>()[1]));
}

TEST(MaxMin, F16IsExact) {
  Tensor a = Tensor::from_vector<float>({3}, {1.5f, -2.f, 0.25f}).cast(DType::kF16);
  Tensor b = Tensor::from_vector<float>({1}, {0.5f}).cast(DType::kF16);
  auto y = run_op(make_node("Max", 2, 1), {a, b})[0];
  ASSERT_EQ(y.dtype(), DType::kF16);
  expect_close(Tensor::from_vector<float>({3}, {1.5f, 0.5f, 0.5f}), y.cast(DType::kF32), 0, 0, "f16 max");
}

TEST(MaxMin, GradientsMatchFiniteDifferences) {
  // Distinct values (no ties within eps) so the finite differences are well defined.
  Tensor a = Tensor::from_vector<float>({2, 3}, {0.1f, 0.9f, -0.5f, 0.3f, -0.8f, 0.6f});
  Tensor b = Tensor::from_vector<float>({3}, {0.5f, -0.2f, 0.0f});
  expect_gradients_match(make_node("Max", 2, 1), {a, b});
  expect_gradients_match(make_node("Min", 2, 1), {a, b});
  expect_gradients_match(make_node("Max", 1, 1), {a});
}

TEST(MaxMin, Errors) {
  EXPECT_THROW(run_op(make_node("Max", 2, 1), {random_f32({2}, 1), Tensor::zeros(DType::kI32, {2})}), Error);
  EXPECT_THROW(run_op(make_node("Min", 2, 1), {random_f32({2, 3}, 1), random_f32({4}, 2)}), Error);
  EXPECT_THROW(run_op(make_node("Max", 1, 1), {Tensor::zeros(DType::kBool, {2})}), Error);
}

}  // namespace edgeopt::kernels::testing

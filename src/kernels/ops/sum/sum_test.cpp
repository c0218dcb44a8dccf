#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(Sum, OnnxExample) {
  // test_sum_example: [3,0,2] + [1,3,4] + [2,6,6] = [6,9,12].
  Node n = make_node("Sum", 3, 1);
  auto y = run_op(n, {Tensor::from_vector<float>({3}, {3, 0, 2}), Tensor::from_vector<float>({3}, {1, 3, 4}),
                      Tensor::from_vector<float>({3}, {2, 6, 6})});
  expect_close(Tensor::from_vector<float>({3}, {6, 9, 12}), y[0], 0, 0, "sum");
  auto one = run_op(make_node("Sum", 1, 1), {Tensor::from_vector<float>({2}, {1.5f, -2.f})});
  expect_close(Tensor::from_vector<float>({2}, {1.5f, -2.f}), one[0], 0, 0, "one input");
}

TEST(Sum, BroadcastsAgainstANaiveSum) {
  Tensor a = random_f32({2, 1, 4}, 1), b = random_f32({3, 1}, 2), c = random_f32({}, 3);
  auto y = run_op(make_node("Sum", 3, 1), {a, b, c})[0];
  ASSERT_EQ(y.shape(), Shape({2, 3, 4}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j)
      for (int64_t k = 0; k < 4; ++k)
        EXPECT_FLOAT_EQ(y.data<float>()[(i * 3 + j) * 4 + k],
                        a.data<float>()[i * 4 + k] + b.data<float>()[j] + c.data<float>()[0]);
}

TEST(Sum, GradientMatchesFiniteDifferences) {
  expect_gradients_match(make_node("Sum", 3, 1), {random_f32({2, 3}, 4), random_f32({3}, 5), random_f32({2, 1}, 6)});
}

TEST(Sum, Errors) {
  EXPECT_THROW(run_op(make_node("Sum", 2, 1), {random_f32({2, 3}, 1), random_f32({4}, 2)}), Error);
  EXPECT_THROW(run_op(make_node("Sum", 2, 1), {random_f32({2}, 1), Tensor::zeros(DType::kI32, {2})}), Error);
}

}  // namespace edgeopt::kernels::testing

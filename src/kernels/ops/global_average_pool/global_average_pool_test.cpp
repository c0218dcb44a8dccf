#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

TEST(GlobalAveragePool, ForwardMatchesDefinition) {
  Tensor x = Tensor::from_vector<float>({1, 2, 2, 3}, {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, 0});
  auto y = run_op(make_node("GlobalAveragePool", 1, 1), {x});
  expect_close(Tensor::from_vector<float>({1, 2, 1, 1}, {3.5f, -2.5f}), y[0], 1e-6, 0, "2d");
  Tensor x1 = random_f32({2, 3, 5}, 1);
  Tensor y1 = run_op(make_node("GlobalAveragePool", 1, 1), {x1})[0];
  ASSERT_EQ(y1.shape(), Shape({2, 3, 1}));
  double s = 0;
  for (int i = 5; i < 10; ++i) s += x1.data<float>()[i];
  EXPECT_NEAR(y1.data<float>()[1], s / 5, 1e-6);
  EXPECT_EQ(run_op(make_node("GlobalAveragePool", 1, 1), {random_f32({1, 2, 3, 4, 5}, 2)})[0].shape(),
            Shape({1, 2, 1, 1, 1}));
}

TEST(GlobalAveragePool, GradientMatchesFiniteDifferences) {
  expect_gradients_match(make_node("GlobalAveragePool", 1, 1), {random_f32({2, 3, 2, 3}, 1)});
}

TEST(GlobalAveragePool, RejectsBadInput) {
  EXPECT_THROW(run_op(make_node("GlobalAveragePool", 1, 1), {random_f32({4}, 1)}), Error);
  EXPECT_THROW(run_op(make_node("GlobalAveragePool", 1, 1), {Tensor::zeros(DType::kI32, {1, 2, 2})}), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

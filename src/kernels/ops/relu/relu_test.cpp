#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(Relu, ForwardMatchesDefinition) {
  Node n = make_node("Relu", 1, 1);
  auto y = run_op(n, {Tensor::from_vector<float>({4}, {-2.f, -0.f, 0.5f, 3.f})});
  expect_close(Tensor::from_vector<float>({4}, {0.f, 0.f, 0.5f, 3.f}), y[0], 0, 0, "relu");
}

TEST(Relu, GradientMatchesFiniteDifferences) {
  Node n = make_node("Relu", 1, 1);
  // Keep inputs away from the kink at 0, where the finite difference is meaningless.
  Tensor x = random_f32({3, 5}, 7, 0.1f, 1.f);
  for (int64_t i = 0; i < x.numel(); i += 2) x.data<float>()[i] *= -1.f;
  expect_gradients_match(n, {x});
}

TEST(Relu, RejectsIntegerInput) {
  Node n = make_node("Relu", 1, 1);
  EXPECT_THROW(run_op(n, {Tensor::zeros(DType::kI64, {2})}), Error);
}

}  // namespace edgeopt::kernels::testing

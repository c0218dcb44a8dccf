// The shared Softmax/LogSoftmax cases (axes, opset < 13 coercion, gradients, errors) live in
// softmax/softmax_test.cpp as the SoftmaxFamily suite; these are LogSoftmax's own.
#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

TEST(LogSoftmax, HandComputed) {
  Tensor y = run_op(make_node("LogSoftmax", 1, 1), {Tensor::from_vector<float>({1, 3}, {-1, 0, 1})})[0];
  expect_close(Tensor::from_vector<float>({1, 3}, {-2.40760596f, -1.40760596f, -0.40760596f}), y, 1e-6, 1e-6,
               "logsoftmax");
}

TEST(LogSoftmax, HugeGapDoesNotUnderflowToMinusInfinity) {
  // exp(-200) underflows in f32, but log-softmax subtracts instead of dividing.
  Tensor y = run_op(make_node("LogSoftmax", 1, 1), {Tensor::from_vector<float>({2}, {0, 200})})[0];
  EXPECT_NEAR(y.data<float>()[0], -200.f, 1e-4);
  EXPECT_NEAR(y.data<float>()[1], 0.f, 1e-6);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

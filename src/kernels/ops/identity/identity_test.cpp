#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(Identity, CopiesAnyDtype) {
  Tensor x = random_f32({1, 1, 2, 2}, 1);
  auto y = run_op(make_node("Identity", 1, 1), {x})[0];
  expect_close(x, y, 0, 0, "identity f32");
  EXPECT_NE(x.raw(), y.raw()) << "the output must not alias the input";
  Tensor b = Tensor::from_vector<bool>({3}, {true, false, true});
  expect_close(b, run_op(make_node("Identity", 1, 1), {b})[0], 0, 0, "identity bool");
}

TEST(Identity, Errors) { EXPECT_THROW(run_op(make_node("Identity", 1, 1), {Tensor()}), Error); }

TEST(Identity, GradientMatchesFiniteDifferences) {
  expect_gradients_match(make_node("Identity", 1, 1), {random_f32({2, 3}, 2)});
}

}  // namespace edgeopt::kernels::testing

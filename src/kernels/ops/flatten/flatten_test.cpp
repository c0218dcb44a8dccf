#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(Flatten, ShapesForEveryAxis) {
  Tensor x = random_f32({2, 3, 4, 5}, 1);
  const std::vector<std::pair<int64_t, Shape>> cases = {{0, {1, 120}}, {1, {2, 60}},  {2, {6, 20}},
                                                        {3, {24, 5}},  {4, {120, 1}}, {-1, {24, 5}},
                                                        {-2, {6, 20}}, {-3, {2, 60}}, {-4, {1, 120}}};
  for (const auto& [axis, want] : cases) {
    Node n = make_node("Flatten", 1, 1);
    n.set_attr("axis", axis);
    auto y = run_op(n, {x})[0];
    EXPECT_EQ(y.shape(), want) << "axis=" << axis;
    expect_close(x.reshaped(want), y, 0, 0, "flatten values");
  }
  EXPECT_EQ(run_op(make_node("Flatten", 1, 1), {x})[0].shape(), Shape({2, 60}));  // default axis 1
}

TEST(Flatten, AnyDtypeAndScalar) {
  Tensor x = Tensor::from_vector<int64_t>({2, 1, 2}, {1, -2, 3, 1LL << 40});
  auto y = run_op(make_node("Flatten", 1, 1), {x})[0];
  expect_close(x.reshaped({2, 2}), y, 0, 0, "flatten i64");
  Node n = make_node("Flatten", 1, 1);
  n.set_attr("axis", int64_t{0});
  EXPECT_EQ(run_op(n, {Tensor::scalar_f32(3.f)})[0].shape(), Shape({1, 1}));
}

TEST(Flatten, Errors) {
  Node n = make_node("Flatten", 1, 1);
  n.set_attr("axis", int64_t{5});
  EXPECT_THROW(run_op(n, {random_f32({2, 3, 4, 5}, 1)}), Error);
  n.set_attr("axis", int64_t{-5});
  EXPECT_THROW(run_op(n, {random_f32({2, 3, 4, 5}, 1)}), Error);
}

TEST(Flatten, GradientMatchesFiniteDifferences) {
  Node n = make_node("Flatten", 1, 1);
  n.set_attr("axis", int64_t{2});
  expect_gradients_match(n, {random_f32({2, 3, 2}, 3)});
}

}  // namespace edgeopt::kernels::testing

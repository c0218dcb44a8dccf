#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(Split, EqualPartsDefaultAxis) {
  Tensor x = Tensor::from_vector<float>({6}, {1, 2, 3, 4, 5, 6});
  auto y = run_op(make_node("Split", 1, 3), {x});
  expect_close(Tensor::from_vector<float>({2}, {1, 2}), y[0], 0, 0, "part 0");
  expect_close(Tensor::from_vector<float>({2}, {3, 4}), y[1], 0, 0, "part 1");
  expect_close(Tensor::from_vector<float>({2}, {5, 6}), y[2], 0, 0, "part 2");
}

TEST(Split, VariablePartsAsInputAndAttribute2d) {
  Tensor x = Tensor::from_vector<int64_t>({2, 6}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12});
  Node n = make_node("Split", 2, 2);
  n.set_attr("axis", int64_t{1});
  auto y = run_op(n, {x, Tensor::from_vector<int64_t>({2}, {2, 4})});
  expect_close(Tensor::from_vector<int64_t>({2, 2}, {1, 2, 7, 8}), y[0], 0, 0, "part 0");
  expect_close(Tensor::from_vector<int64_t>({2, 4}, {3, 4, 5, 6, 9, 10, 11, 12}), y[1], 0, 0, "part 1");
  Node a = make_node("Split", 1, 2);  // opset < 13 form
  a.set_attr("axis", int64_t{-1});
  a.set_attr("split", std::vector<int64_t>{2, 4});
  auto z = run_op(a, {x});
  expect_close(y[0], z[0], 0, 0, "attr part 0");
  expect_close(y[1], z[1], 0, 0, "attr part 1");
}

TEST(Split, NumOutputsUnevenAndZeroSizes) {
  Node n = make_node("Split", 1, 3);
  n.set_attr("num_outputs", int64_t{3});
  auto y = run_op(n, {random_f32({7, 2}, 1)});
  EXPECT_EQ(y[0].shape(), Shape({3, 2}));
  EXPECT_EQ(y[1].shape(), Shape({3, 2}));
  EXPECT_EQ(y[2].shape(), Shape({1, 2}));
  auto z =
      run_op(make_node("Split", 2, 3), {Tensor::zeros(DType::kF32, {0}), Tensor::from_vector<int64_t>({3}, {0, 0, 0})});
  for (const auto& t : z) EXPECT_EQ(t.shape(), Shape({0}));
}

TEST(Split, SkipsUnnamedOutputs) {
  Node n = make_node("Split", 1, 3);
  n.outputs[1] = "";
  auto y = run_op(n, {Tensor::from_vector<float>({3}, {1, 2, 3})});
  EXPECT_FALSE(y[1].defined());
  EXPECT_EQ(y[2].at(0), 3.0);
}

TEST(Split, Errors) {
  Tensor x = random_f32({6}, 1);
  EXPECT_THROW(run_op(make_node("Split", 1, 4), {x}), Error);                                             // 6 % 4
  EXPECT_THROW(run_op(make_node("Split", 2, 2), {x, Tensor::from_vector<int64_t>({2}, {2, 3})}), Error);  // sum 5
  EXPECT_THROW(run_op(make_node("Split", 2, 2), {x, Tensor::from_vector<int64_t>({3}, {2, 2, 2})}), Error);
  EXPECT_THROW(run_op(make_node("Split", 2, 2), {x, Tensor::from_vector<int64_t>({2}, {-1, 7})}), Error);
  Node n = make_node("Split", 1, 2);
  n.set_attr("axis", int64_t{1});
  EXPECT_THROW(run_op(n, {x}), Error);
  EXPECT_THROW(run_op(make_node("Split", 1, 1), {Tensor::scalar_f32(1.f)}), Error);
}

TEST(Split, GradientMatchesFiniteDifferences) {
  Node n = make_node("Split", 2, 3);
  n.set_attr("axis", int64_t{1});
  expect_gradients_match(n, {random_f32({2, 6, 2}, 1), Tensor::from_vector<int64_t>({3}, {1, 3, 2})});
}

}  // namespace edgeopt::kernels::testing

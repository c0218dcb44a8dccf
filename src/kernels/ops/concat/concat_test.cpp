#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {
Node concat_node(size_t n, int64_t axis) {
  Node node = make_node("Concat", n, 1);
  node.set_attr("axis", axis);
  return node;
}
}  // namespace

TEST(Concat, TwoDimsBothAxes) {
  Tensor a = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector<float>({2, 2}, {5, 6, 7, 8});
  expect_close(Tensor::from_vector<float>({4, 2}, {1, 2, 3, 4, 5, 6, 7, 8}), run_op(concat_node(2, 0), {a, b})[0], 0, 0,
               "axis 0");
  expect_close(Tensor::from_vector<float>({2, 4}, {1, 2, 5, 6, 3, 4, 7, 8}), run_op(concat_node(2, 1), {a, b})[0], 0, 0,
               "axis 1");
  expect_close(Tensor::from_vector<float>({2, 4}, {1, 2, 5, 6, 3, 4, 7, 8}), run_op(concat_node(2, -1), {a, b})[0], 0,
               0, "axis -1");
}

TEST(Concat, UnevenSizesEmptyInputAndIntegers) {
  Tensor a = Tensor::from_vector<int32_t>({2, 1}, {1, 2});
  Tensor b = Tensor::zeros(DType::kI32, {2, 0});
  Tensor c = Tensor::from_vector<int32_t>({2, 3}, {3, 4, 5, 6, 7, 8});
  auto y = run_op(concat_node(3, 1), {a, b, c})[0];
  expect_close(Tensor::from_vector<int32_t>({2, 4}, {1, 3, 4, 5, 2, 6, 7, 8}), y, 0, 0, "concat i32");
  Tensor single = random_f32({3}, 1);
  expect_close(single, run_op(concat_node(1, 0), {single})[0], 0, 0, "single input");
}

TEST(Concat, Errors) {
  EXPECT_THROW(run_op(concat_node(2, 0), {random_f32({2, 3}, 1), random_f32({2, 4}, 2)}), Error);  // dim 1 differs
  EXPECT_THROW(run_op(concat_node(2, 0), {random_f32({2, 3}, 1), random_f32({3}, 2)}), Error);     // rank differs
  EXPECT_THROW(run_op(concat_node(2, 2), {random_f32({2, 3}, 1), random_f32({2, 3}, 2)}), Error);  // bad axis
  EXPECT_THROW(run_op(concat_node(2, 0), {random_f32({2}, 1), Tensor::zeros(DType::kI64, {2})}), Error);
  EXPECT_THROW(run_op(make_node("Concat", 2, 1), {random_f32({2}, 1), random_f32({2}, 1)}), Error);  // no axis
}

TEST(Concat, GradientMatchesFiniteDifferences) {
  expect_gradients_match(concat_node(3, 1),
                         {random_f32({2, 1, 3}, 1), random_f32({2, 2, 3}, 2), random_f32({2, 3, 3}, 3)});
}

}  // namespace edgeopt::kernels::testing

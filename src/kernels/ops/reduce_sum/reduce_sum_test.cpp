#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {
// test_reduce_*_example data [3,2,2].
Tensor example() { return Tensor::from_vector<float>({3, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}); }
}  // namespace

TEST(ReduceSum, AxesAttributeAndInputForms) {
  Node attr = make_node("ReduceSum", 1, 1);  // opset < 13
  attr.set_attr("axes", std::vector<int64_t>{1});
  attr.set_attr("keepdims", int64_t{0});
  expect_close(Tensor::from_vector<float>({3, 2}, {4, 6, 12, 14, 20, 22}), run_op(attr, {example()})[0], 0, 0,
               "attr axes [1]");
  Node input = make_node("ReduceSum", 2, 1);  // opset 13+
  expect_close(Tensor::from_vector<float>({3, 1, 2}, {4, 6, 12, 14, 20, 22}),
               run_op(input, {example(), Tensor::from_vector<int64_t>({1}, {-2})})[0], 0, 0, "input axes [-2]");
  expect_close(Tensor::from_vector<float>({1, 1, 1}, {78}), run_op(make_node("ReduceSum", 1, 1), {example()})[0], 0,
               0, "all axes");
  expect_close(Tensor::from_vector<float>({1, 1, 1}, {78}),
               run_op(input, {example(), Tensor::from_vector<int64_t>({0}, {})})[0], 0, 0, "empty axes input");
}

TEST(ReduceSum, NoopWithEmptyAxesAndIntegers) {
  Node n = make_node("ReduceSum", 2, 1);
  n.set_attr("noop_with_empty_axes", int64_t{1});
  expect_close(example(), run_op(n, {example(), Tensor::from_vector<int64_t>({0}, {})})[0], 0, 0, "noop");
  Node i = make_node("ReduceSum", 1, 1);
  i.set_attr("axes", std::vector<int64_t>{0});
  auto y = run_op(i, {Tensor::from_vector<int32_t>({2, 2}, {1, -5, 3, 2})})[0];
  EXPECT_EQ(y.data<int32_t>()[0], 4);
  EXPECT_EQ(y.data<int32_t>()[1], -3);
}

TEST(ReduceSum, GradientMatchesFiniteDifferences) {
  Node n = make_node("ReduceSum", 1, 1);
  n.set_attr("axes", std::vector<int64_t>{0, 2});
  n.set_attr("keepdims", int64_t{0});
  expect_gradients_match(n, {random_f32({2, 3, 4}, 1)});
}

TEST(ReduceSum, Errors) {
  Node n = make_node("ReduceSum", 1, 1);
  n.set_attr("axes", std::vector<int64_t>{3});
  EXPECT_THROW(run_op(n, {example()}), Error);
  n.set_attr("axes", std::vector<int64_t>{1, -2});
  EXPECT_THROW(run_op(n, {example()}), Error);
  Node in = make_node("ReduceSum", 2, 1);
  EXPECT_THROW(run_op(in, {example(), Tensor::from_vector<int32_t>({1}, {0})}), Error);
  EXPECT_THROW(run_op(make_node("ReduceSum", 1, 1), {Tensor::zeros(DType::kU8, {2})}), Error);
}

}  // namespace edgeopt::kernels::testing

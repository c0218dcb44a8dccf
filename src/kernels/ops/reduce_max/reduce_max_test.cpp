#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {
// test_reduce_max_*_example data [3,2,2].
Tensor example() { return Tensor::from_vector<float>({3, 2, 2}, {5, 1, 20, 2, 30, 1, 40, 2, 55, 1, 60, 2}); }
}  // namespace

TEST(ReduceMax, OnnxExamples) {
  Node n = make_node("ReduceMax", 1, 1);  // opset < 18: attribute
  n.set_attr("axes", std::vector<int64_t>{1});
  n.set_attr("keepdims", int64_t{0});
  expect_close(Tensor::from_vector<float>({3, 2}, {20, 2, 40, 2, 60, 2}), run_op(n, {example()})[0], 0, 0, "axes [1]");
  expect_close(Tensor::from_vector<float>({1, 1, 1}, {60}), run_op(make_node("ReduceMax", 1, 1), {example()})[0], 0,
               0, "all axes");
  Node in = make_node("ReduceMax", 2, 1);  // opset 18: input
  expect_close(Tensor::from_vector<float>({3, 1, 2}, {20, 2, 40, 2, 60, 2}),
               run_op(in, {example(), Tensor::from_vector<int64_t>({1}, {-2})})[0], 0, 0, "input axes [-2]");
}

TEST(ReduceMax, IntegersNaNAndEmpty) {
  Node n = make_node("ReduceMax", 1, 1);
  n.set_attr("axes", std::vector<int64_t>{1});
  auto y = run_op(n, {Tensor::from_vector<int8_t>({2, 3}, {-5, -1, -7, 3, 9, -128})})[0];
  EXPECT_EQ(y.data<int8_t>()[0], -1);
  EXPECT_EQ(y.data<int8_t>()[1], 9);
  auto f = run_op(n, {Tensor::from_vector<float>({2, 2}, {1.f, NAN, 2.f, 3.f})})[0];
  EXPECT_TRUE(std::isnan(f.data<float>()[0]));
  EXPECT_EQ(f.data<float>()[1], 3.f);
  auto e = run_op(n, {Tensor::zeros(DType::kF32, {2, 0})})[0];
  EXPECT_EQ(e.data<float>()[0], -INFINITY);
}

TEST(ReduceMax, GradientMatchesFiniteDifferences) {
  Node n = make_node("ReduceMax", 1, 1);
  n.set_attr("axes", std::vector<int64_t>{1});
  // Distinct values: the max moves only by eps.
  Tensor x = Tensor::from_vector<float>({2, 4, 2}, {0.1f, 0.9f, -0.3f, 0.5f, 0.7f, -0.6f, 0.2f, 0.4f,
                                                    -0.8f, 0.3f, 0.6f, -0.1f, 0.0f, 0.8f, -0.4f, 0.25f});
  expect_gradients_match(n, {x});
}

TEST(ReduceMax, Errors) {
  Node n = make_node("ReduceMax", 1, 1);
  n.set_attr("axes", std::vector<int64_t>{-4});
  EXPECT_THROW(run_op(n, {example()}), Error);
  EXPECT_THROW(run_op(make_node("ReduceMax", 1, 1), {Tensor::zeros(DType::kBool, {2})}), Error);
}

}  // namespace edgeopt::kernels::testing

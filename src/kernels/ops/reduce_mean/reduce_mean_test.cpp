#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {
Node mean_node(std::vector<int64_t> axes, int64_t keepdims) {
  Node n = make_node("ReduceMean", 1, 1);
  if (!axes.empty()) n.set_attr("axes", axes);
  n.set_attr("keepdims", keepdims);
  return n;
}
}  // namespace

TEST(ReduceMean, OnnxExampleCases) {
  // test_reduce_mean_*_example: data [3,2,2] = [[[5,1],[20,2]],[[30,1],[40,2]],[[55,1],[60,2]]].
  Tensor x = Tensor::from_vector<float>({3, 2, 2}, {5, 1, 20, 2, 30, 1, 40, 2, 55, 1, 60, 2});
  expect_close(Tensor::from_vector<float>({3, 2}, {12.5f, 1.5f, 35.f, 1.5f, 57.5f, 1.5f}),
               run_op(mean_node({1}, 0), {x})[0], 1e-6, 1e-6, "axes [1] keepdims 0");
  expect_close(Tensor::from_vector<float>({3, 1, 2}, {12.5f, 1.5f, 35.f, 1.5f, 57.5f, 1.5f}),
               run_op(mean_node({-2}, 1), {x})[0], 1e-6, 1e-6, "axes [-2] keepdims 1");
  expect_close(Tensor::from_vector<float>({1, 1, 1}, {18.25f}), run_op(mean_node({}, 1), {x})[0], 1e-6, 1e-6,
               "all axes");
  expect_close(Tensor::from_vector<float>({2}, {35.f, 1.5f}), run_op(mean_node({0, 1}, 0), {x})[0], 1e-6, 1e-6,
               "axes [0,1]");
}

TEST(ReduceMean, AxesInputNoopAndIntegers) {
  Tensor x = random_f32({2, 3, 4}, 1);
  Node n = make_node("ReduceMean", 2, 1);
  auto y = run_op(n, {x, Tensor::from_vector<int64_t>({1}, {2})})[0];
  ASSERT_EQ(y.shape(), Shape({2, 3, 1}));
  for (int i = 0; i < 6; ++i) {
    double s = 0;
    for (int k = 0; k < 4; ++k) s += x.data<float>()[i * 4 + k];
    EXPECT_NEAR(y.data<float>()[i], s / 4, 1e-6);
  }
  n.set_attr("noop_with_empty_axes", int64_t{1});
  expect_close(x, run_op(n, {x, Tensor::zeros(DType::kI64, {0})})[0], 0, 0, "noop");
  Tensor ints = Tensor::from_vector<int32_t>({2, 2}, {1, 2, -3, -4});
  expect_close(Tensor::from_vector<int32_t>({2}, {1, -3}), run_op(mean_node({1}, 0), {ints})[0], 0, 0, "i32 truncates");
  auto e = run_op(mean_node({0}, 0), {Tensor::zeros(DType::kF32, {0, 2})})[0];
  EXPECT_TRUE(std::isnan(e.data<float>()[0]));
}

TEST(ReduceMean, Errors) {
  Tensor x = random_f32({2, 3}, 1);
  EXPECT_THROW(run_op(mean_node({2}, 1), {x}), Error);
  EXPECT_THROW(run_op(mean_node({1, -1}, 1), {x}), Error);
  EXPECT_THROW(run_op(mean_node({0}, 1), {Tensor::zeros(DType::kU8, {2})}), Error);
}

TEST(ReduceMean, GradientsMatchFiniteDifferences) {
  expect_gradients_match(mean_node({0, 2}, 0), {random_f32({2, 3, 4}, 2)});
  expect_gradients_match(mean_node({}, 1), {random_f32({3, 2}, 3)});
  expect_gradients_match(make_node("ReduceMean", 2, 1),
                         {random_f32({3, 2}, 4), Tensor::from_vector<int64_t>({1}, {-1})});
}

}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

TEST(MatMul, HandComputed2d) {
  auto y = run_op(make_node("MatMul", 2, 1), {Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6}),
                                              Tensor::from_vector<float>({3, 2}, {7, 8, 9, 10, 11, 12})});
  expect_close(Tensor::from_vector<float>({2, 2}, {58, 64, 139, 154}), y[0], 0, 0, "2x3 @ 3x2");
}

TEST(MatMul, OneDimensionalPromotion) {
  Tensor v = Tensor::from_vector<float>({3}, {1, 2, 3});
  Tensor m = Tensor::from_vector<float>({3, 2}, {1, 0, 0, 1, 1, 1});
  expect_close(Tensor::from_vector<float>({2}, {4, 5}), run_op(make_node("MatMul", 2, 1), {v, m})[0], 0, 0, "vec @ mat");
  Tensor mt = Tensor::from_vector<float>({2, 3}, {1, 0, 1, 0, 1, 1});
  expect_close(Tensor::from_vector<float>({2}, {4, 5}), run_op(make_node("MatMul", 2, 1), {mt, v})[0], 0, 0, "mat @ vec");
  expect_close(Tensor::from_vector<float>({}, {14}), run_op(make_node("MatMul", 2, 1), {v, v})[0], 0, 0, "vec @ vec");
  // A batched matrix times a vector: [2, 2, 3] @ [3] -> [2, 2].
  Tensor b = random_f32({2, 2, 3}, 1);
  Tensor y = run_op(make_node("MatMul", 2, 1), {b, v})[0];
  ASSERT_EQ(y.shape(), Shape({2, 2}));
  for (int64_t r = 0; r < 4; ++r)
    EXPECT_NEAR(y.data<float>()[r], b.data<float>()[3 * r] + 2 * b.data<float>()[3 * r + 1] + 3 * b.data<float>()[3 * r + 2],
                1e-6);
}

TEST(MatMul, BatchBroadcastMatchesPerSliceProducts) {
  // [2, 1, 3, 4] @ [3, 4, 5] -> [2, 3, 3, 5]: A broadcasts over dim 1, B over dim 0.
  Tensor a = random_f32({2, 1, 3, 4}, 1), b = random_f32({3, 4, 5}, 2);
  Tensor y = run_op(make_node("MatMul", 2, 1), {a, b})[0];
  ASSERT_EQ(y.shape(), Shape({2, 3, 3, 5}));
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      Tensor as = Tensor::from_vector<float>({3, 4}, std::vector<float>(a.data<float>() + i * 12, a.data<float>() + i * 12 + 12));
      Tensor bs = Tensor::from_vector<float>({4, 5}, std::vector<float>(b.data<float>() + j * 20, b.data<float>() + j * 20 + 20));
      Tensor ys = run_op(make_node("MatMul", 2, 1), {as, bs})[0];
      Tensor got = Tensor::from_vector<float>(
          {3, 5}, std::vector<float>(y.data<float>() + (i * 3 + j) * 15, y.data<float>() + (i * 3 + j) * 15 + 15));
      expect_close(ys, got, 0, 0, "slice " + std::to_string(i) + "," + std::to_string(j));
    }
}

TEST(MatMul, GradientMatchesFiniteDifferences) {
  Node n = make_node("MatMul", 2, 1);
  expect_gradients_match(n, {random_f32({3, 4}, 1), random_f32({4, 2}, 2)});
  expect_gradients_match(n, {random_f32({2, 1, 3, 4}, 3), random_f32({3, 4, 2}, 4)});
  expect_gradients_match(n, {random_f32({4}, 5), random_f32({2, 4, 3}, 6)});
  expect_gradients_match(n, {random_f32({2, 3, 4}, 7), random_f32({4}, 8)});
  expect_gradients_match(n, {random_f32({5}, 9), random_f32({5}, 10)});
}

TEST(MatMul, RejectsBadInput) {
  Node n = make_node("MatMul", 2, 1);
  EXPECT_THROW(run_op(n, {random_f32({2, 3}, 1), random_f32({2, 3}, 2)}), Error);      // K mismatch
  EXPECT_THROW(run_op(n, {random_f32({2, 2, 3}, 1), random_f32({3, 3, 2}, 2)}), Error);  // batch mismatch
  EXPECT_THROW(run_op(n, {Tensor::scalar_f32(1.f), random_f32({3}, 2)}), Error);        // rank 0
  EXPECT_THROW(run_op(n, {Tensor::zeros(DType::kI64, {2, 3}), random_f32({3, 2}, 2)}), Error);
}

TEST(MatMul, Macs) {
  Node n = make_node("MatMul", 2, 1);
  std::vector<Shape> in{{2, 3, 4}, {4, 5}}, out{{2, 3, 5}};
  EXPECT_EQ(node_macs(n, in, out), 30 * 4);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

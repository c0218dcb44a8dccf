#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(ConstantOfShape, FillsWithValue) {
  Node n = make_node("ConstantOfShape", 1, 1);
  n.set_attr("value", Tensor::from_vector<int32_t>({1}, {7}));
  auto y = run_op(n, {Tensor::from_vector<int64_t>({3}, {2, 1, 3})})[0];
  ASSERT_EQ(y.dtype(), DType::kI32);
  ASSERT_EQ(y.shape(), Shape({2, 1, 3}));
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(y.data<int32_t>()[i], 7);
}

TEST(ConstantOfShape, DefaultIsF32ZerosAndEmptyShapes) {
  Node n = make_node("ConstantOfShape", 1, 1);
  auto y = run_op(n, {Tensor::from_vector<int64_t>({2}, {4, 5})})[0];
  ASSERT_EQ(y.dtype(), DType::kF32);
  expect_close(Tensor::zeros(DType::kF32, {4, 5}), y, 0, 0, "zeros");
  auto e = run_op(n, {Tensor::from_vector<int64_t>({1}, {0})})[0];
  EXPECT_EQ(e.shape(), Shape({0}));
  auto s = run_op(n, {Tensor::from_vector<int64_t>({0}, {})})[0];  // shape [] -> a scalar
  EXPECT_EQ(s.numel(), 1);
}

TEST(ConstantOfShape, Errors) {
  Node n = make_node("ConstantOfShape", 1, 1);
  EXPECT_THROW(run_op(n, {Tensor::from_vector<int64_t>({2}, {2, -1})}), Error);
  EXPECT_THROW(run_op(n, {Tensor::from_vector<int32_t>({2}, {2, 1})}), Error);
  n.set_attr("value", Tensor::from_vector<float>({2}, {1.f, 2.f}));
  EXPECT_THROW(run_op(n, {Tensor::from_vector<int64_t>({1}, {3})}), Error);
}

}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(Binary, F32SameShape) {
  Tensor a = Tensor::from_vector<float>({2, 2}, {1.f, -2.f, 3.f, 4.f});
  Tensor b = Tensor::from_vector<float>({2, 2}, {0.5f, 2.f, -3.f, 8.f});
  expect_close(Tensor::from_vector<float>({2, 2}, {1.5f, 0.f, 0.f, 12.f}), run_op(make_node("Add", 2, 1), {a, b})[0], 0,
               0, "add");
  expect_close(Tensor::from_vector<float>({2, 2}, {0.5f, -4.f, 6.f, -4.f}), run_op(make_node("Sub", 2, 1), {a, b})[0],
               0, 0, "sub");
  expect_close(Tensor::from_vector<float>({2, 2}, {0.5f, -4.f, -9.f, 32.f}), run_op(make_node("Mul", 2, 1), {a, b})[0],
               0, 0, "mul");
  expect_close(Tensor::from_vector<float>({2, 2}, {2.f, -1.f, -1.f, 0.5f}), run_op(make_node("Div", 2, 1), {a, b})[0],
               0, 0, "div");
}

TEST(Binary, BroadcastsBothWays) {
  // [3,1] op [1,4] -> [3,4]; checked against the naive double loop.
  Tensor a = random_f32({3, 1}, 1);
  Tensor b = random_f32({1, 4}, 2);
  auto y = run_op(make_node("Sub", 2, 1), {a, b})[0];
  ASSERT_EQ(y.shape(), Shape({3, 4}));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_EQ(y.data<float>()[i * 4 + j], a.data<float>()[i] - b.data<float>()[j]);
  // Scalar with a rank-3 tensor.
  Tensor c = random_f32({2, 3, 5}, 3);
  auto z = run_op(make_node("Mul", 2, 1), {Tensor::scalar_f32(2.f), c})[0];
  ASSERT_EQ(z.shape(), c.shape());
  for (int64_t i = 0; i < c.numel(); ++i) EXPECT_EQ(z.data<float>()[i], 2.f * c.data<float>()[i]);
}

TEST(Binary, IntegerDtypes) {
  // uint8 wraps and divides with truncation (ONNX test_sub_uint8 / test_div_uint8).
  Tensor a = Tensor::from_vector<uint8_t>({3}, {16, 3, 250});
  Tensor b = Tensor::from_vector<uint8_t>({3}, {11, 5, 10});
  expect_close(Tensor::from_vector<uint8_t>({3}, {1, 0, 25}), run_op(make_node("Div", 2, 1), {a, b})[0], 0, 0,
               "div u8");
  expect_close(Tensor::from_vector<uint8_t>({3}, {5, 254, 240}), run_op(make_node("Sub", 2, 1), {a, b})[0], 0, 0,
               "sub u8");
  expect_close(Tensor::from_vector<uint8_t>({3}, {27, 8, 4}), run_op(make_node("Add", 2, 1), {a, b})[0], 0, 0,
               "add u8");
  Tensor c = Tensor::from_vector<int32_t>({4}, {7, -7, 7, -7});
  Tensor d = Tensor::from_vector<int32_t>({4}, {2, 2, -2, -2});
  expect_close(Tensor::from_vector<int32_t>({4}, {3, -3, -3, 3}), run_op(make_node("Div", 2, 1), {c, d})[0], 0, 0,
               "div i32");
  Tensor e = Tensor::from_vector<int64_t>({2}, {3, -4});
  Tensor f = Tensor::from_vector<int64_t>({1}, {5});
  expect_close(Tensor::from_vector<int64_t>({2}, {15, -20}), run_op(make_node("Mul", 2, 1), {e, f})[0], 0, 0,
               "mul i64");
  Tensor g = Tensor::from_vector<int8_t>({2}, {100, -100});
  expect_close(Tensor::from_vector<int8_t>({2}, {-56, 56}), run_op(make_node("Add", 2, 1), {g, g})[0], 0, 0,
               "add i8 wraps");
}

TEST(Binary, Errors) {
  Node n = make_node("Add", 2, 1);
  EXPECT_THROW(run_op(n, {random_f32({2, 3}, 1), random_f32({4}, 2)}), Error);            // not broadcastable
  EXPECT_THROW(run_op(n, {random_f32({2}, 1), Tensor::zeros(DType::kI32, {2})}), Error);  // dtype mismatch
  EXPECT_THROW(run_op(n, {random_f32({2}, 1), Tensor()}), Error);                         // missing input
  EXPECT_THROW(run_op(n, {Tensor::zeros(DType::kBool, {2}), Tensor::zeros(DType::kBool, {2})}), Error);
  Tensor z = Tensor::zeros(DType::kI32, {2});
  EXPECT_THROW(run_op(make_node("Div", 2, 1), {z, z}), Error);  // int div by 0
}

TEST(Binary, GradientsMatchFiniteDifferences) {
  for (const char* op : {"Add", "Sub", "Mul", "Div"}) {
    SCOPED_TRACE(op);
    Node n = make_node(op, 2, 1);
    expect_gradients_match(n, {random_f32({2, 3}, 1), random_f32({2, 3}, 2, 0.5f, 1.5f)});
    // Broadcast: the operand grads must be summed back to [3,1] and [4].
    expect_gradients_match(n, {random_f32({3, 1}, 3), random_f32({4}, 4, 0.5f, 1.5f)});
  }
}

}  // namespace edgeopt::kernels::testing

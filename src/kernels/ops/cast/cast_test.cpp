#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {
Node cast_node(int64_t to) {
  Node n = make_node("Cast", 1, 1);
  n.set_attr("to", to);
  return n;
}
}  // namespace

TEST(Cast, F16AndBf16RoundTripToF32) {
  Tensor x = Tensor::from_vector<float>({6}, {0.f, 1.f, -2.5f, 0.1f, 65504.f, 1e-7f});
  Tensor h = run_op(cast_node(10), {x})[0];
  ASSERT_EQ(h.dtype(), DType::kF16);
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ(h.data_u16()[i], f32_to_f16(x.data<float>()[i])) << i;
  Tensor back = run_op(cast_node(1), {h})[0];
  ASSERT_EQ(back.dtype(), DType::kF32);
  for (int64_t i = 0; i < x.numel(); ++i) EXPECT_EQ(back.data<float>()[i], f16_to_f32(h.data_u16()[i])) << i;
  EXPECT_EQ(back.data<float>()[2], -2.5f);              // exactly representable
  EXPECT_NEAR(back.data<float>()[3], 0.1f, 1e-4f);       // 0.1 rounds to 0.0999755859375
  Tensor b = run_op(cast_node(16), {x})[0];
  ASSERT_EQ(b.dtype(), DType::kBF16);
  Tensor bb = run_op(cast_node(1), {b})[0];
  for (int64_t i = 0; i < x.numel(); ++i) {
    EXPECT_EQ(bb.data<float>()[i], bf16_to_f32(f32_to_bf16(x.data<float>()[i]))) << i;
    EXPECT_NEAR(bb.data<float>()[i], x.data<float>()[i], std::abs(x.data<float>()[i]) * 4e-3) << i;
  }
}

TEST(Cast, FloatToIntTruncatesAndSaturates) {
  Tensor x = Tensor::from_vector<float>({6}, {1.7f, -1.7f, 300.f, -300.f, NAN, 127.f});
  Tensor y = run_op(cast_node(3), {x})[0];
  ASSERT_EQ(y.dtype(), DType::kI8);
  std::vector<int8_t> want = {1, -1, 127, -128, 0, 127};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_EQ(y.data<int8_t>()[i], want[i]) << i;
  Tensor u = run_op(cast_node(2), {x})[0];
  std::vector<uint8_t> wu = {1, 0, 255, 0, 0, 127};
  for (size_t i = 0; i < wu.size(); ++i) EXPECT_EQ(u.data<uint8_t>()[i], wu[i]) << i;
  Tensor l = run_op(cast_node(7), {Tensor::from_vector<float>({2}, {3e9f, -2.5f})})[0];
  EXPECT_EQ(l.data<int64_t>()[0], 3000000000LL);
  EXPECT_EQ(l.data<int64_t>()[1], -2);
}

TEST(Cast, IntegersAndBool) {
  Tensor x = Tensor::from_vector<int64_t>({3}, {-3, 0, 5});
  Tensor f = run_op(cast_node(1), {x})[0];
  expect_close(Tensor::from_vector<float>({3}, {-3.f, 0.f, 5.f}), f, 0, 0, "i64->f32");
  Tensor b = run_op(cast_node(9), {x})[0];
  ASSERT_EQ(b.dtype(), DType::kBool);
  EXPECT_EQ(b.data<bool>()[0], true);
  EXPECT_EQ(b.data<bool>()[1], false);
  Tensor same = run_op(cast_node(7), {x})[0];
  EXPECT_EQ(same.data<int64_t>()[2], 5);
}

TEST(Cast, Errors) {
  Tensor x = Tensor::from_vector<float>({1}, {1.f});
  try {
    run_op(cast_node(11), {x});  // DOUBLE
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("to = 11"), std::string::npos) << e.what();
  }
  EXPECT_THROW(run_op(make_node("Cast", 1, 1), {x}), Error);  // 'to' missing
}

}  // namespace edgeopt::kernels::testing

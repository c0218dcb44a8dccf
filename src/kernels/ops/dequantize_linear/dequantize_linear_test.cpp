#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

std::vector<Tensor> run_dequantize(const std::vector<Tensor>& in, int64_t opset = 13, int64_t axis = 1,
                                   bool set_axis = false) {
  Node n = make_node("DequantizeLinear", in.size(), 1);
  if (set_axis) n.set_attr("axis", axis);
  std::vector<Tensor> out(1);
  ForwardCtx ctx{n, in, out, false, nullptr, 0, opset};
  find_op("DequantizeLinear")->forward(ctx);
  return out;
}

TEST(DequantizeLinear, I8AndI32PerTensor) {
  auto y = run_dequantize({Tensor::from_vector<int8_t>({4}, {-128, -1, 0, 127}), Tensor::scalar_f32(0.5f),
                           Tensor::from_vector<int8_t>({}, {-1})}, 10);
  expect_close(Tensor::from_vector<float>({4}, {-63.5f, 0.f, 0.5f, 64.f}), y[0], 0, 0, "i8");
  auto b = run_dequantize({Tensor::from_vector<int32_t>({3}, {-100000, 0, 2147483647}), Tensor::scalar_f32(0.25f)});
  expect_close(Tensor::from_vector<float>({3}, {-25000.f, 0.f, 536870911.75f}), b[0], 0, 1e-7, "i32");
}

TEST(DequantizeLinear, PerAxis0) {
  auto x = Tensor::from_vector<uint8_t>({2, 2}, {0, 255, 10, 20});
  auto y = run_dequantize({x, Tensor::from_vector<float>({2}, {1.f, 0.5f}), Tensor::from_vector<uint8_t>({2}, {128, 10})},
                          13, 0, true);
  expect_close(Tensor::from_vector<float>({2, 2}, {-128.f, 127.f, 0.f, 5.f}), y[0], 0, 0, "axis 0");
}

TEST(DequantizeLinear, RoundTripWithinHalfAScale) {
  Tensor x = random_f32({5, 7}, 3, -2.f, 2.f);
  Node q = make_node("QuantizeLinear", 3, 1);
  auto scale = Tensor::scalar_f32(4.f / 255.f);
  auto zp = Tensor::from_vector<uint8_t>({}, {128});
  auto xq = run_op(q, {x, scale, zp});
  auto y = run_dequantize({xq[0], scale, zp});
  expect_close(x, y[0], 2.f / 255.f + 1e-6, 0, "round trip");
}

TEST(DequantizeLinear, Errors) {
  auto x = Tensor::from_vector<uint8_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_THROW(run_dequantize({x, Tensor::scalar_f32(1.f), Tensor::from_vector<int8_t>({}, {0})}), Error);
  EXPECT_THROW(run_dequantize({Tensor::from_vector<int32_t>({1}, {5}), Tensor::scalar_f32(1.f),
                               Tensor::from_vector<int32_t>({}, {3})}), Error);
  EXPECT_THROW(run_dequantize({x, Tensor::from_vector<float>({2}, {1.f, 2.f})}), Error);
  EXPECT_THROW(run_dequantize({x, Tensor::from_vector<float>({3}, {1.f, 2.f, 3.f})}, 12), Error);
  EXPECT_THROW(run_dequantize({x.cast(DType::kF32), Tensor::scalar_f32(1.f)}), Error);
  EXPECT_THROW(run_dequantize({x, Tensor::scalar_f32(0.f)}), Error);
  EXPECT_THROW(run_dequantize({x}), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

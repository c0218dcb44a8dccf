#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

std::vector<Tensor> run_quantize(const std::vector<Tensor>& in, int64_t opset = 13, int64_t axis = 1,
                                 bool set_axis = false) {
  Node n = make_node("QuantizeLinear", in.size(), 1);
  if (set_axis) n.set_attr("axis", axis);
  std::vector<Tensor> out(1);
  ForwardCtx ctx{n, in, out, false, nullptr, 0, opset};
  find_op("QuantizeLinear")->forward(ctx);
  return out;
}

TEST(QuantizeLinear, I8TiesToEvenAndSaturates) {
  auto x = Tensor::from_vector<float>({8}, {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 300.f, -300.f});
  auto y = run_quantize({x, Tensor::scalar_f32(1.f), Tensor::from_vector<int8_t>({}, {0})}, 10);
  expect_close(Tensor::from_vector<int8_t>({8}, {0, 2, 2, 0, -2, -2, 127, -128}), y[0], 0, 0, "i8");
}

TEST(QuantizeLinear, DefaultsToU8WithZeroPointZero) {
  auto x = Tensor::from_vector<float>({4}, {-1.f, 0.2f, 0.26f, 100.f});
  auto y = run_quantize({x, Tensor::scalar_f32(0.1f)});
  expect_close(Tensor::from_vector<uint8_t>({4}, {0, 2, 3, 255}), y[0], 0, 0, "u8 default");
}

TEST(QuantizeLinear, I32InputAndOneElementScale) {
  auto x = Tensor::from_vector<int32_t>({3}, {-7, 6, 1000});
  auto y = run_quantize({x, Tensor::from_vector<float>({1}, {4.f}), Tensor::from_vector<uint8_t>({1}, {100})});
  expect_close(Tensor::from_vector<uint8_t>({3}, {98, 102, 255}), y[0], 0, 0, "i32 x");  // -1.75->-2, 1.5->2, 350 saturates
}

TEST(QuantizeLinear, PerAxisAnyAxis) {
  // x [2,3]: axis 0 uses scale per row, axis -1 (== 1) per column (5/2 = 2.5 ties to 2).
  auto x = Tensor::from_vector<float>({2, 3}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f});
  auto rows = run_quantize({x, Tensor::from_vector<float>({2}, {1.f, 2.f}), Tensor::from_vector<int8_t>({2}, {0, -10})},
                           13, 0, true);
  expect_close(Tensor::from_vector<int8_t>({2, 3}, {1, 2, 3, -8, -8, -7}), rows[0], 0, 0, "axis 0");
  auto cols = run_quantize({x, Tensor::from_vector<float>({3}, {1.f, 2.f, 4.f}),
                            Tensor::from_vector<uint8_t>({3}, {0, 1, 2})}, 13, -1, true);
  expect_close(Tensor::from_vector<uint8_t>({2, 3}, {1, 2, 3, 4, 3, 4}), cols[0], 0, 0, "axis -1");
}

TEST(QuantizeLinear, Errors) {
  auto x = Tensor::from_vector<float>({2, 3}, {1.f, 2.f, 3.f, 4.f, 5.f, 6.f});
  auto s3 = Tensor::from_vector<float>({3}, {1.f, 2.f, 4.f});
  // Per-axis needs opset 13.
  EXPECT_THROW(run_quantize({x, s3}, 10), Error);
  // Scale length must match x.shape[axis] (axis defaults to 1: 3 channels).
  EXPECT_THROW(run_quantize({x, Tensor::from_vector<float>({2}, {1.f, 2.f})}), Error);
  EXPECT_THROW(run_quantize({x, s3}, 13, 2, true), Error);
  EXPECT_THROW(run_quantize({x, Tensor::scalar_f32(0.f)}), Error);
  EXPECT_THROW(run_quantize({x, Tensor::scalar_f32(-1.f)}), Error);
  EXPECT_THROW(run_quantize({x, Tensor::scalar_f32(NAN)}), Error);
  EXPECT_THROW(run_quantize({x, s3, Tensor::from_vector<uint8_t>({2}, {0, 0})}), Error);
  EXPECT_THROW(run_quantize({x, Tensor::scalar_f32(1.f), Tensor::from_vector<int32_t>({}, {0})}), Error);
  EXPECT_THROW(run_quantize({x, Tensor::from_vector<int32_t>({}, {1})}), Error);
  EXPECT_THROW(run_quantize({Tensor::zeros(DType::kI64, {2}), Tensor::scalar_f32(1.f)}), Error);
  EXPECT_THROW(run_quantize({x}), Error);
  EXPECT_THROW(run_quantize({x, Tensor::from_vector<float>({1, 3}, {1.f, 2.f, 4.f})}), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

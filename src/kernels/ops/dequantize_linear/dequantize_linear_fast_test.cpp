#include <gtest/gtest.h>

#include <random>

#include "kernels/testing/int8_testing.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::ops::dequantize_linear {
namespace {

TEST(DequantizeLinearFast, PerTensorEqualsReference) {
  const OpDef* op = find_op("DequantizeLinear");
  ASSERT_NE(op->forward_fast, nullptr);
  std::mt19937 rng(3);
  const Node n = testing::make_node("DequantizeLinear", 3, 1);
  for (DType dt : {DType::kU8, DType::kI8}) {
    const std::vector<Tensor> in{testing::random_q8(dt, {2, 3, 17, 5}, rng), Tensor::scalar_f32(0.0371f),
                                 testing::q8_scalar(dt, dt == DType::kU8 ? 131 : -7)};
    std::vector<Tensor> ref(1), fast(1);
    ForwardCtx r{n, in, ref}, f{n, in, fast};
    op->forward(r);
    op->forward_fast(f);
    ASSERT_EQ(ref[0].shape(), fast[0].shape());
    for (int64_t i = 0; i < ref[0].numel(); ++i)
      ASSERT_EQ(ref[0].data<float>()[i], fast[0].data<float>()[i]) << "element " << i << " " << dtype_name(dt);
  }
}

}  // namespace
}  // namespace edgeopt::kernels::ops::dequantize_linear

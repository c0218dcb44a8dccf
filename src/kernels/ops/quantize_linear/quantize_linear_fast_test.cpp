#include <gtest/gtest.h>

#include <limits>

#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/testing/int8_testing.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::ops::quantize_linear {
namespace {

TEST(QuantizeLinearFast, PerTensorEqualsReferenceOnEveryIsa) {
  const OpDef* op = find_op("QuantizeLinear");
  ASSERT_NE(op->forward_fast, nullptr);
  Tensor x = testing::random_f32({3, 5, 41, 37}, 4, -3.f, 3.f);
  x.data<float>()[0] = std::numeric_limits<float>::quiet_NaN();
  x.data<float>()[1] = std::numeric_limits<float>::infinity();
  x.data<float>()[2] = 0.25f;  // a tie at scale 0.5 / zp 0 would be 0.5 -> 0
  const Node n = testing::make_node("QuantizeLinear", 3, 1);
  for (DType dt : {DType::kU8, DType::kI8})
    for (gemm_int8::Isa isa : gemm_int8::supported_isas()) {
      gemm_int8::ScopedForcedIsa forced(isa);
      const std::vector<Tensor> in{x, Tensor::scalar_f32(0.5f), testing::q8_scalar(dt, dt == DType::kU8 ? 130 : -5)};
      std::vector<Tensor> ref(1), fast(1);
      ForwardCtx r{n, in, ref}, f{n, in, fast};
      op->forward(r);
      op->forward_fast(f);
      testing::expect_bit_exact(ref[0], fast[0],
                                std::string("QuantizeLinear ") + dtype_name(dt) + " isa=" + gemm_int8::isa_name(isa));
    }
}

}  // namespace
}  // namespace edgeopt::kernels::ops::quantize_linear

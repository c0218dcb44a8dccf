#include <gtest/gtest.h>

#include <random>

#include "core/error.h"
#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/testing/int8_testing.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::ops::qlinear_add {
namespace {

using testing::q8_scalar;
using testing::random_q8;

struct Case {
  Shape a, b;
  DType at, bt, ct;
  std::string activation;
};

std::vector<Tensor> inputs(const Case& cs, std::mt19937& rng) {
  std::uniform_real_distribution<float> sd(0.01f, 0.1f);
  std::uniform_int_distribution<int> zd(-30, 30);
  auto zp = [&](DType t) { return q8_scalar(t, (t == DType::kU8 ? 128 : 0) + zd(rng)); };
  return {random_q8(cs.at, cs.a, rng),
          Tensor::scalar_f32(sd(rng)),
          zp(cs.at),
          random_q8(cs.bt, cs.b, rng),
          Tensor::scalar_f32(sd(rng)),
          zp(cs.bt),
          Tensor::scalar_f32(sd(rng)),
          zp(cs.ct)};
}

Node add_node(const Case& cs) {
  Node n = testing::make_node("QLinearAdd", 8, 1);
  if (!cs.activation.empty()) n.set_attr("activation", cs.activation);
  if (cs.activation == "Clip") {
    n.set_attr("activation_min", -1.f);
    n.set_attr("activation_max", 2.f);
  }
  return n;
}

const Case kCases[] = {
    {Shape({2, 3, 5, 5}), Shape({2, 3, 5, 5}), DType::kU8, DType::kU8, DType::kU8, ""},
    {Shape({1, 16, 7, 9}), Shape({1, 16, 7, 9}), DType::kI8, DType::kI8, DType::kI8, "Relu"},
    {Shape({4, 70000}), Shape({4, 70000}), DType::kU8, DType::kI8, DType::kU8, "Clip"},
    {Shape({2, 3, 4}), Shape({3, 1}), DType::kU8, DType::kU8, DType::kI8, "Relu"},
    {Shape({1, 3, 37}), Shape({1, 3, 37}), DType::kI8, DType::kU8, DType::kU8, ""},
};

// Exactly DequantizeLinear(A) + DequantizeLinear(B) -> clamp -> QuantizeLinear, run through those ops.
TEST(QLinearAdd, EqualsTheQdqGraphBitExactly) {
  std::mt19937 rng(2);
  for (const Case& cs : kCases) {
    const std::vector<Tensor> in = inputs(cs, rng);
    const Node n = add_node(cs);
    const Tensor got = testing::run_op(n, in)[0];
    Node dq = testing::make_node("DequantizeLinear", 3, 1);
    const Tensor fa = testing::run_op(dq, {in[0], in[1], in[2]})[0];
    const Tensor fb = testing::run_op(dq, {in[3], in[4], in[5]})[0];
    Tensor sum = testing::run_op(testing::make_node("Add", 2, 1), {fa, fb})[0];
    if (!cs.activation.empty()) {
      Node clip = testing::make_node("Clip", 1, 1);
      clip.set_attr("min", cs.activation == "Relu" ? 0.f : -1.f);
      clip.set_attr("max", cs.activation == "Relu" ? 1e30f : 2.f);
      sum = testing::run_op(clip, {sum}, false, nullptr, 0)[0];
    }
    const Tensor want = testing::run_op(testing::make_node("QuantizeLinear", 3, 1), {sum, in[6], in[7]})[0];
    testing::expect_bit_exact(want, got, "QLinearAdd a=" + cs.a.str() + " b=" + cs.b.str() + " act=" + cs.activation);
    if (HasFatalFailure()) return;
    for (gemm_int8::Isa isa : gemm_int8::supported_isas()) {  // avx512vnni: the AVX-512 dequantize-add
      gemm_int8::ScopedForcedIsa forced(isa);
      std::vector<Tensor> fast(1);
      ForwardCtx ctx{n, in, fast};
      find_op("QLinearAdd")->forward_fast(ctx);
      testing::expect_bit_exact(got, fast[0],
                                std::string("QLinearAdd fast, isa=") + gemm_int8::isa_name(isa) + " a=" + cs.a.str());
    }
  }
}

TEST(QLinearAdd, BadInputsNameTheTensor) {
  std::mt19937 rng(2);
  std::vector<Tensor> in = inputs(kCases[0], rng);
  in[5] = q8_scalar(DType::kI8, 0);
  try {
    testing::run_op(add_node(kCases[0]), in);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("B_zero_point"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace edgeopt::kernels::ops::qlinear_add

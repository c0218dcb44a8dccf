// GemmBf16: the reference against the fp32 Gemm reference on bf16-rounded A and B (f32 sums in
// another order: tolerance), and the fast kernel (with and without the prepared, packed weight)
// against the reference over batch sizes 1..130, transB, bias, fused activations and a rank-3 A.
#include "kernels/ops/gemm_bf16/gemm_bf16.h"

#include <gtest/gtest.h>

#include <sstream>

#include "core/dtype.h"
#include "kernels/common.h"
#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels {
namespace {

using testing::expect_close;
using testing::make_node;
using testing::random_f32;
using testing::run_op;

struct Case {
  std::vector<int64_t> a;  // A's shape, [..., K]
  int64_t n;
  bool trans_b, bias;
  const char* act;
  std::string describe() const {
    std::ostringstream os;
    os << "A=" << Shape(a).str() << " N=" << n << " transB=" << trans_b << " bias=" << bias << " act=" << act;
    return os.str();
  }
};

const Case kCases[] = {{{1, 64}, 10, true, true, "Relu"},  {{3, 33}, 17, false, true, ""},
                       {{7, 50}, 49, true, false, "Clip"}, {{16, 128}, 96, false, true, "Relu"},
                       {{130, 7}, 3, true, true, ""},       {{2, 5, 9}, 11, false, true, ""},
                       {{1, 1}, 1, false, false, ""}};

Node gemm_node(const char* op_type, const Case& cs) {
  Node nd = make_node(op_type, cs.bias ? 3 : 2, 1);
  nd.set_attr("transB", int64_t{cs.trans_b});
  if (*cs.act) nd.set_attr("activation", std::string(cs.act));
  if (std::string(cs.act) == "Clip") {
    nd.set_attr("activation_min", -0.5f);
    nd.set_attr("activation_max", 0.75f);
  }
  return nd;
}

std::vector<Tensor> inputs(const Case& cs, uint64_t seed) {
  const int64_t k = cs.a.back();
  return {random_f32(Shape(cs.a), seed), random_f32(cs.trans_b ? Shape{cs.n, k} : Shape{k, cs.n}, seed + 1),
          random_f32({cs.n}, seed + 2)};
}

TEST(GemmBf16, ReferenceIsGemmOnRoundedInputs) {
  const auto round = [](float v) { return bf16_to_f32(f32_to_bf16(v)); };
  uint64_t seed = 1;
  for (const Case& cs : kCases) {
    if (cs.a.size() != 2) continue;
    std::vector<Tensor> in = inputs(cs, seed += 5);
    if (!cs.bias) in.pop_back();
    std::vector<Tensor> rounded = in;
    rounded[0] = unary_f32(in[0], round);
    rounded[1] = unary_f32(in[1], round);
    expect_close(run_op(gemm_node("Gemm", cs), rounded)[0], run_op(gemm_node("GemmBf16", cs), in)[0], 1e-5, 1e-5,
                 "GemmBf16 ref vs Gemm on bf16 inputs, " + cs.describe());
  }
}

TEST(GemmBf16, FastMatchesReference) {
  uint64_t seed = 50;
  for (const Case& cs : kCases) {
    std::vector<Tensor> in = inputs(cs, seed += 5);
    if (!cs.bias) in.pop_back();
    testing::expect_fast_matches_ref_prepared(gemm_node("GemmBf16", cs), in, 1e-5, 1e-5, cs.describe());
  }
}

}  // namespace
}  // namespace edgeopt::kernels

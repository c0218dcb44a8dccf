#include <gtest/gtest.h>

#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels::testing {
namespace {

struct ActCase {
  std::string op;
  float lo, hi;  // input range
  std::vector<std::pair<std::string, float>> attrs;
};

TEST(ActivationsFast, ForwardBackwardMatchReference) {
  const std::vector<ActCase> cases = {
      {"LeakyRelu", -2.f, 2.f, {}},        {"LeakyRelu", -2.f, 2.f, {{"alpha", 0.3f}}},
      {"Sigmoid", -30.f, 30.f, {}},        {"Sigmoid", -120.f, 120.f, {}},  // saturating, never overflowing
      {"Tanh", -10.f, 10.f, {}},           {"Tanh", -0.5f, 0.5f, {}},
      {"HardSigmoid", -5.f, 5.f, {}},      {"HardSigmoid", -5.f, 5.f, {{"alpha", 0.5f}, {"beta", 0.25f}}},
      {"HardSwish", -5.f, 5.f, {}},
  };
  const std::vector<Shape> shapes = {{1}, {5, 3, 7, 9}, {1, 17, 13, 11}, {5, 17, 33, 31}, {0, 3}};
  uint64_t seed = 11;
  for (const auto& c : cases) {
    Node n = make_node(c.op, 1, 1);
    for (const auto& [k, v] : c.attrs) n.set_attr(k, v);
    for (const Shape& s : shapes)
      expect_fast_matches_ref(n, {random_f32(s, seed++, c.lo, c.hi)}, {.training = true, .opset = 14},
                              c.op + " x=" + s.str() + " range [" + std::to_string(c.lo) + "," + std::to_string(c.hi) + "]");
  }
}

TEST(ActivationsFast, RejectsNonF32) {
  for (const char* op : {"LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid", "HardSwish"}) {
    Node n = make_node(op, 1, 1);
    std::vector<Tensor> in{Tensor::zeros(DType::kI64, {3})}, out(1);
    ForwardCtx ctx{n, in, out};
    EXPECT_THROW(find_op(op)->forward_fast(ctx), Error) << op;
  }
}

}  // namespace
}  // namespace edgeopt::kernels::testing

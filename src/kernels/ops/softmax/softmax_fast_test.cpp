#include <gtest/gtest.h>

#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels::testing {
namespace {

struct SmCase {
  Shape x;
  int64_t axis;  // INT64_MIN: attribute absent
  int64_t opset;
  float scale;   // inputs in [-scale, scale]
};

// Last-axis rows (fast), other axes (reference), opset < 13 2-D coercion (fast when it flattens
// the tail), large logits.
std::vector<SmCase> sm_cases() {
  return {{{5, 10}, INT64_MIN, 13, 1.f},  {{3, 7, 17}, -1, 13, 4.f},  {{1, 1}, INT64_MIN, 13, 1.f},
          {{2, 3, 4}, 1, 13, 1.f},        {{2, 3, 5}, 1, 11, 1.f},    {{128, 10}, -1, 17, 60.f},
          {{9, 33}, 1, 17, 1.f},          {{3000, 13}, -1, 17, 3.f},  {{0, 5}, -1, 17, 1.f}};
}

void run_cases(const std::string& op) {
  uint64_t seed = 31;
  for (const auto& c : sm_cases()) {
    Node n = make_node(op, 1, 1);
    if (c.axis != INT64_MIN) n.set_attr("axis", c.axis);
    expect_fast_matches_ref(n, {random_f32(c.x, seed++, -c.scale, c.scale)},
                            {.training = true, .atol = 1e-5, .rtol = 1e-5, .opset = c.opset},
                            op + " x=" + c.x.str() + " axis=" + std::to_string(c.axis) + " opset " +
                                std::to_string(c.opset));
  }
}

TEST(SoftmaxFast, ForwardBackwardMatchReference) { run_cases("Softmax"); }

TEST(SoftmaxFast, BadAxisThrows) {
  Node n = make_node("Softmax", 1, 1);
  n.set_attr("axis", int64_t{3});
  std::vector<Tensor> in{random_f32({2, 3}, 1)}, out(1);
  ForwardCtx ctx{n, in, out};
  EXPECT_THROW(find_op("Softmax")->forward_fast(ctx), Error);
}

}  // namespace

// Shared with log_softmax_fast_test.cpp (same layouts).
void run_softmax_family_cases(const std::string& op) { run_cases(op); }

}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels::testing {
namespace {

TEST(GlobalAveragePoolFast, ForwardBackwardMatchReference) {
  const std::vector<Shape> shapes = {{1, 1, 1, 1}, {5, 17, 7, 9}, {5, 3, 13}, {2, 16, 3, 3, 3},
                                     {1, 7, 67, 71}, {5, 16, 28, 28}, {3, 4}, {0, 3, 2, 2}};
  uint64_t seed = 71;
  for (const Shape& s : shapes) {
    Node n = make_node("GlobalAveragePool", 1, 1);
    expect_fast_matches_ref(n, {random_f32(s, seed++, -1.f, 3.f)}, {.training = true}, "x=" + s.str());
  }
}

TEST(GlobalAveragePoolFast, Errors) {
  Node n = make_node("GlobalAveragePool", 1, 1);
  std::vector<Tensor> in{random_f32({4}, 1)}, out(1);
  ForwardCtx ctx{n, in, out};
  EXPECT_THROW(find_op("GlobalAveragePool")->forward_fast(ctx), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels::testing {
namespace {

// Shapes around the vector width and the thread split (> 2 x 16384 elements), empty included.
std::vector<Shape> eltwise_shapes() {
  return {{1}, {1, 1, 1, 1}, {5, 3, 7, 9}, {1, 17, 13, 11}, {5, 16, 28, 28}, {5, 17, 33, 31}, {7}, {0, 4}};
}

TEST(ReluFast, ForwardBackwardMatchReference) {
  Node n = make_node("Relu", 1, 1);
  uint64_t seed = 3;
  for (const Shape& s : eltwise_shapes()) {
    Tensor x = random_f32(s, seed++);
    if (x.numel() > 2) x.data<float>()[1] = 0.f;  // the kink takes gradient 0 in both
    expect_fast_matches_ref(n, {x}, {.training = true}, "x=" + s.str());
  }
}

TEST(ReluFast, RejectsNonF32) {
  Node n = make_node("Relu", 1, 1);
  std::vector<Tensor> in{Tensor::zeros(DType::kI32, {3})}, out(1);
  ForwardCtx ctx{n, in, out};
  EXPECT_THROW(find_op("Relu")->forward_fast(ctx), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

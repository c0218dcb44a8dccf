#include <gtest/gtest.h>

#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels::testing {
namespace {

TEST(ClipFast, BoundInputsMatchReference) {
  const std::vector<Shape> shapes = {{1}, {5, 3, 7, 9}, {1, 17, 13, 11}, {5, 16, 33, 31}};
  const std::vector<std::pair<float, float>> bounds = {{0.f, 6.f}, {-0.5f, 0.25f}, {0.3f, -0.2f}};  // lo > hi: y = hi
  uint64_t seed = 5;
  for (const Shape& s : shapes)
    for (auto [lo, hi] : bounds) {
      Node n = make_node("Clip", 3, 1);
      const std::string cs = "x=" + s.str() + " lo=" + std::to_string(lo) + " hi=" + std::to_string(hi);
      expect_fast_matches_ref(n, {random_f32(s, seed++, -8.f, 8.f), Tensor::scalar_f32(lo), Tensor::scalar_f32(hi)},
                              {.training = true}, cs);
    }
}

TEST(ClipFast, AttributesAndMissingBoundsMatchReference) {
  uint64_t seed = 50;
  {
    Node n = make_node("Clip", 1, 1);  // opset < 11: attributes
    n.set_attr("min", -0.25f);
    n.set_attr("max", 0.5f);
    expect_fast_matches_ref(n, {random_f32({5, 7, 9, 11}, seed++)}, {.training = true, .opset = 6}, "attrs");
  }
  {
    Node n = make_node("Clip", 2, 1);  // min only
    expect_fast_matches_ref(n, {random_f32({3, 17, 5}, seed++), Tensor::scalar_f32(0.1f)}, {.training = true}, "min only");
  }
  {
    Node n = make_node("Clip", 3, 1);  // max only (min omitted)
    n.inputs[1] = "";
    expect_fast_matches_ref(n, {random_f32({3, 17, 5}, seed++), Tensor(), Tensor::scalar_f32(0.2f)}, {.training = true},
                            "max only");
  }
  {
    Node n = make_node("Clip", 1, 1);  // no bounds at all
    expect_fast_matches_ref(n, {random_f32({4, 9}, seed++)}, {.training = true}, "no bounds");
  }
}

TEST(ClipFast, IntegerDtypesRunTheReference) {
  Node n = make_node("Clip", 3, 1);
  std::vector<Tensor> in{Tensor::from_vector<int32_t>({4}, {-5, 0, 3, 9}), Tensor::from_vector<int32_t>({}, {0}),
                         Tensor::from_vector<int32_t>({}, {4})};
  expect_fast_matches_ref(n, in, {.backward = false}, "i32");
}

TEST(ClipFast, BadBoundsThrow) {
  Node n = make_node("Clip", 2, 1);
  std::vector<Tensor> in{random_f32({3}, 1), random_f32({2}, 2)}, out(1);
  ForwardCtx ctx{n, in, out};
  EXPECT_THROW(find_op("Clip")->forward_fast(ctx), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

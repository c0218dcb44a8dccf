#include <gtest/gtest.h>

#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels::testing {
namespace {

std::vector<Tensor> bn_inputs(const Shape& x, uint64_t seed, float offset) {
  const int64_t c = x[1];
  Tensor xt = random_f32(x, seed, offset - 2.f, offset + 2.f);  // an offset mean tests the variance pass
  return {xt, random_f32({c}, seed + 1, 0.5f, 1.5f), random_f32({c}, seed + 2), random_f32({c}, seed + 3),
          random_f32({c}, seed + 4, 0.5f, 2.f)};
}

std::vector<Shape> bn_shapes() {
  std::vector<Shape> shapes;
  const int64_t channels[] = {1, 3, 7, 16, 17};
  for (size_t i = 0; i < 5; ++i) {
    const int64_t n = i % 2 ? 5 : 1;
    shapes.push_back({n, channels[i], 7 + static_cast<int64_t>(i), 9 + 2 * static_cast<int64_t>(i)});
  }
  shapes.push_back({5, 16, 28, 28});
  shapes.push_back({1, 17, 1, 1});
  shapes.push_back({5, 7});        // [N, C]
  shapes.push_back({3, 4, 11});    // 1-D spatial
  shapes.push_back({2, 3, 3, 4, 5});
  return shapes;
}

TEST(BatchNormFast, TrainingMatchesReference) {
  uint64_t seed = 81;
  for (const Shape& s : bn_shapes())
    for (float offset : {0.f, 50.f})
      for (bool all_grads : {false, true}) {
        Node n = make_node("BatchNormalization", 5, 3);
        n.set_attr("momentum", 0.8f);
        n.set_attr("training_mode", int64_t{1});
        expect_fast_matches_ref(n, bn_inputs(s, seed += 5, offset),
                                {.training = true, .all_grads = all_grads, .atol = 1e-4, .rtol = 1e-4,
                                 .grad_atol = 2e-4, .grad_rtol = 2e-3, .opset = 15},
                                "x=" + s.str() + " offset=" + std::to_string(offset) +
                                    (all_grads ? " grads on running stats" : ""));
      }
}

TEST(BatchNormFast, InferenceMatchesReference) {
  uint64_t seed = 181;
  for (const Shape& s : bn_shapes()) {
    Node n = make_node("BatchNormalization", 5, 1);
    n.set_attr("epsilon", 1e-3f);
    expect_fast_matches_ref(n, bn_inputs(s, seed += 5, 1.f), {.training = false, .opset = 15}, "x=" + s.str());
  }
}

TEST(BatchNormFast, Opset9TrainingOutputsMatchReference) {
  // Opset < 14: naming the running/saved outputs selects batch statistics; all five are compared.
  uint64_t seed = 281;
  for (const Shape& s : {Shape{5, 3, 7, 9}, Shape{1, 17, 5, 5}}) {
    Node n = make_node("BatchNormalization", 5, 5);
    expect_fast_matches_ref(n, bn_inputs(s, seed += 5, 0.f),
                            {.training = true, .all_grads = true, .atol = 1e-4, .rtol = 1e-4, .grad_atol = 2e-4,
                             .grad_rtol = 2e-3, .opset = 9},
                            "opset 9 x=" + s.str());
  }
}

TEST(BatchNormFast, SpatialZeroAndErrorsRunTheReference) {
  Node n = make_node("BatchNormalization", 5, 1);
  n.set_attr("spatial", int64_t{0});
  const Shape x{2, 3, 2, 2};
  std::vector<Tensor> in{random_f32(x, 1), random_f32({3, 2, 2}, 2), random_f32({3, 2, 2}, 3),
                         random_f32({3, 2, 2}, 4), random_f32({3, 2, 2}, 5, 0.5f, 1.f)};
  expect_fast_matches_ref(n, in, {.opset = 7}, "spatial=0");
  std::vector<Tensor> bad = bn_inputs({2, 3, 4, 4}, 9, 0.f);
  bad[1] = random_f32({4}, 1);
  std::vector<Tensor> out(1);
  Node ok = make_node("BatchNormalization", 5, 1);
  ForwardCtx ctx{ok, bad, out};
  EXPECT_THROW(find_op("BatchNormalization")->forward_fast(ctx), Error);
  Node neg = make_node("BatchNormalization", 5, 1);
  neg.set_attr("epsilon", -1.f);
  std::vector<Tensor> good = bn_inputs({2, 3, 4, 4}, 9, 0.f);
  ForwardCtx ctx2{neg, good, out};
  EXPECT_THROW(find_op("BatchNormalization")->forward_fast(ctx2), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include <algorithm>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(Transpose, AllPermutationsOfRank3MatchNaiveIndexing) {
  Tensor x = random_f32({2, 3, 4}, 1);
  std::vector<int64_t> perm = {0, 1, 2};
  do {
    Node n = make_node("Transpose", 1, 1);
    n.set_attr("perm", perm);
    auto y = run_op(n, {x})[0];
    ASSERT_EQ(y.shape(), Shape({x.shape()[perm[0]], x.shape()[perm[1]], x.shape()[perm[2]]}));
    int64_t k = 0;
    for (int64_t a = 0; a < y.shape()[0]; ++a)
      for (int64_t b = 0; b < y.shape()[1]; ++b)
        for (int64_t c = 0; c < y.shape()[2]; ++c, ++k) {
          int64_t j[3];
          j[perm[0]] = a, j[perm[1]] = b, j[perm[2]] = c;
          ASSERT_EQ(y.data<float>()[k], x.data<float>()[(j[0] * 3 + j[1]) * 4 + j[2]]);
        }
  } while (std::next_permutation(perm.begin(), perm.end()));
}

TEST(Transpose, DefaultReversesAndAnyDtype) {
  Tensor x = Tensor::from_vector<int64_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  auto y = run_op(make_node("Transpose", 1, 1), {x})[0];
  expect_close(Tensor::from_vector<int64_t>({3, 2}, {1, 4, 2, 5, 3, 6}), y, 0, 0, "transpose i64");
  Tensor u = Tensor::from_vector<uint8_t>({1, 2, 1, 3}, {1, 2, 3, 4, 5, 6});
  Node n = make_node("Transpose", 1, 1);
  n.set_attr("perm", std::vector<int64_t>{0, 3, 1, 2});
  expect_close(Tensor::from_vector<uint8_t>({1, 3, 2, 1}, {1, 4, 2, 5, 3, 6}), run_op(n, {u})[0], 0, 0,
               "nhwc->nchw u8");
  EXPECT_EQ(run_op(make_node("Transpose", 1, 1), {Tensor::scalar_f32(2.f)})[0].at(0), 2.0);
}

// The fast forward (one copy when only size-1 axes move, else the index walk) against the reference.
TEST(Transpose, FastMatchesReference) {
  const std::vector<std::pair<Shape, std::vector<int64_t>>> cases = {
      {{24, 1, 32}, {1, 0, 2}}, {{1, 24, 6}, {1, 0, 2}}, {{3, 1, 1, 5}, {1, 0, 3, 2}},   // order kept / not
      {{1, 7, 1, 9}, {2, 1, 0, 3}}, {{2, 3, 4}, {2, 0, 1}}, {{1, 1, 1}, {2, 1, 0}}, {{5, 1}, {1, 0}},
      {{4, 1, 6}, {2, 1, 0}}};
  uint64_t seed = 60;
  for (const auto& [shape, perm] : cases) {
    Node n = make_node("Transpose", 1, 1);
    n.set_attr("perm", perm);
    const Tensor x = random_f32(shape, seed++);
    std::vector<Tensor> ref(1), fast(1);
    ForwardCtx rctx{n, {&x, 1}, ref};
    find_op("Transpose")->forward(rctx);
    ForwardCtx fctx{n, {&x, 1}, fast};
    find_op("Transpose")->forward_fast(fctx);
    ASSERT_EQ(ref[0].shape(), fast[0].shape()) << shape.str();
    expect_close(ref[0], fast[0], 0, 0, "Transpose fast vs ref x=" + shape.str());
    EXPECT_NE(fast[0].raw(), x.raw()) << "the output must not alias the input";
  }
}

TEST(Transpose, Errors) {
  Node n = make_node("Transpose", 1, 1);
  Tensor x = random_f32({2, 3, 4}, 1);
  n.set_attr("perm", std::vector<int64_t>{0, 1});
  EXPECT_THROW(run_op(n, {x}), Error);
  n.set_attr("perm", std::vector<int64_t>{0, 1, 1});
  EXPECT_THROW(run_op(n, {x}), Error);
  n.set_attr("perm", std::vector<int64_t>{0, 1, 3});
  EXPECT_THROW(run_op(n, {x}), Error);
}

TEST(Transpose, GradientMatchesFiniteDifferences) {
  Node n = make_node("Transpose", 1, 1);
  n.set_attr("perm", std::vector<int64_t>{1, 2, 0});
  expect_gradients_match(n, {random_f32({2, 3, 4}, 2)});
}

}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {
Node gather_node(int64_t axis) {
  Node n = make_node("Gather", 2, 1);
  n.set_attr("axis", axis);
  return n;
}
}  // namespace

TEST(Gather, Axis0And1MatchNaiveIndexing) {
  Tensor x = random_f32({5, 4, 3}, 1);
  Tensor idx = Tensor::from_vector<int64_t>({3}, {0, 1, 3});
  auto y0 = run_op(gather_node(0), {x, idx})[0];
  ASSERT_EQ(y0.shape(), Shape({3, 4, 3}));
  auto y1 = run_op(gather_node(1), {x, idx})[0];
  ASSERT_EQ(y1.shape(), Shape({5, 3, 3}));
  const int64_t pick[3] = {0, 1, 3};
  for (int a = 0; a < 5; ++a)
    for (int j = 0; j < 3; ++j)
      for (int c = 0; c < 3; ++c)
        EXPECT_EQ(y1.data<float>()[(a * 3 + j) * 3 + c], x.data<float>()[(a * 4 + pick[j]) * 3 + c]);
  for (int j = 0; j < 3; ++j)
    for (int b = 0; b < 12; ++b) EXPECT_EQ(y0.data<float>()[j * 12 + b], x.data<float>()[pick[j] * 12 + b]);
}

TEST(Gather, TwoDimIndicesNegativeIndicesAndDtypes) {
  Tensor x = Tensor::from_vector<float>({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  auto y = run_op(gather_node(1), {x, Tensor::from_vector<int32_t>({1, 2}, {0, 2})})[0];
  expect_close(Tensor::from_vector<float>({3, 1, 2}, {1, 3, 4, 6, 7, 9}), y, 0, 0, "2d indices");
  Tensor v = Tensor::from_vector<int64_t>({4}, {10, 11, 12, 13});
  auto z = run_op(gather_node(0), {v, Tensor::from_vector<int64_t>({3}, {0, -3, -4})})[0];
  expect_close(Tensor::from_vector<int64_t>({3}, {10, 11, 10}), z, 0, 0, "negative indices, i64 data");
  auto s = run_op(gather_node(-1), {v, Tensor::from_vector<int64_t>({}, {2})})[0];  // scalar index
  EXPECT_EQ(s.shape(), Shape({}));
  EXPECT_EQ(s.at(0), 12.0);
}

TEST(Gather, Errors) {
  Tensor x = random_f32({3, 2}, 1);
  EXPECT_THROW(run_op(gather_node(0), {x, Tensor::from_vector<int64_t>({1}, {3})}), Error);
  EXPECT_THROW(run_op(gather_node(0), {x, Tensor::from_vector<int64_t>({1}, {-4})}), Error);
  EXPECT_THROW(run_op(gather_node(2), {x, Tensor::from_vector<int64_t>({1}, {0})}), Error);
  EXPECT_THROW(run_op(gather_node(0), {x, Tensor::from_vector<float>({1}, {0.f})}), Error);
  EXPECT_THROW(run_op(gather_node(0), {Tensor::scalar_f32(1.f), Tensor::from_vector<int64_t>({1}, {0})}), Error);
}

TEST(Gather, GradientAccumulatesRepeatedIndices) {
  expect_gradients_match(gather_node(1),
                         {random_f32({2, 4, 3}, 2), Tensor::from_vector<int64_t>({2, 2}, {1, 3, -1, 1})});
}

}  // namespace edgeopt::kernels::testing

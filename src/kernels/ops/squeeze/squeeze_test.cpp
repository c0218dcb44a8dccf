#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {
Tensor i64(std::vector<int64_t> v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); }
}  // namespace

TEST(Squeeze, AxesInputAttributeAndDefault) {
  Tensor x = random_f32({1, 3, 1, 5}, 1);
  auto y = run_op(make_node("Squeeze", 2, 1), {x, i64({0})})[0];
  EXPECT_EQ(y.shape(), Shape({3, 1, 5}));
  expect_close(x.reshaped({3, 1, 5}), y, 0, 0, "squeeze values");
  EXPECT_EQ(run_op(make_node("Squeeze", 2, 1), {x, i64({-2})})[0].shape(), Shape({1, 3, 5}));
  EXPECT_EQ(run_op(make_node("Squeeze", 1, 1), {x})[0].shape(), Shape({3, 5}));
  Node a = make_node("Squeeze", 1, 1);
  a.set_attr("axes", std::vector<int64_t>{0, 2});
  EXPECT_EQ(run_op(a, {x})[0].shape(), Shape({3, 5}));
  Tensor b = Tensor::from_vector<bool>({1, 1}, {true});
  EXPECT_EQ(run_op(make_node("Squeeze", 1, 1), {b})[0].shape(), Shape({}));
}

TEST(Unsqueeze, AxesInputAttributeUnsortedNegative) {
  Tensor x = random_f32({3, 4, 5}, 2);
  EXPECT_EQ(run_op(make_node("Unsqueeze", 2, 1), {x, i64({0})})[0].shape(), Shape({1, 3, 4, 5}));
  EXPECT_EQ(run_op(make_node("Unsqueeze", 2, 1), {x, i64({2, 4, 5})})[0].shape(), Shape({3, 4, 1, 5, 1, 1}));
  EXPECT_EQ(run_op(make_node("Unsqueeze", 2, 1), {x, i64({5, 4, 2})})[0].shape(), Shape({3, 4, 1, 5, 1, 1}));
  EXPECT_EQ(run_op(make_node("Unsqueeze", 2, 1), {x, i64({1, 4})})[0].shape(), Shape({3, 1, 4, 5, 1}));
  EXPECT_EQ(run_op(make_node("Unsqueeze", 2, 1), {x, i64({-2})})[0].shape(), Shape({3, 4, 1, 5}));
  Node a = make_node("Unsqueeze", 1, 1);
  a.set_attr("axes", std::vector<int64_t>{3});
  auto y = run_op(a, {x})[0];
  EXPECT_EQ(y.shape(), Shape({3, 4, 5, 1}));
  expect_close(x.reshaped({3, 4, 5, 1}), y, 0, 0, "unsqueeze values");
  EXPECT_EQ(run_op(make_node("Unsqueeze", 2, 1), {Tensor::scalar_f32(1.f), i64({0})})[0].shape(), Shape({1}));
}

TEST(Squeeze, Errors) {
  Tensor x = random_f32({1, 3}, 1);
  EXPECT_THROW(run_op(make_node("Squeeze", 2, 1), {x, i64({1})}), Error);        // size 3
  EXPECT_THROW(run_op(make_node("Squeeze", 2, 1), {x, i64({2})}), Error);        // out of range
  EXPECT_THROW(run_op(make_node("Unsqueeze", 1, 1), {x}), Error);                // no axes
  EXPECT_THROW(run_op(make_node("Unsqueeze", 2, 1), {x, i64({3})}), Error);      // out of range (rank 3)
  EXPECT_THROW(run_op(make_node("Unsqueeze", 2, 1), {x, i64({0, -4})}), Error);  // repeated
  EXPECT_THROW(run_op(make_node("Unsqueeze", 2, 1), {x, Tensor::from_vector<float>({1}, {0.f})}), Error);
}

TEST(Squeeze, GradientsMatchFiniteDifferences) {
  expect_gradients_match(make_node("Squeeze", 2, 1), {random_f32({2, 1, 3}, 3), i64({1})});
  expect_gradients_match(make_node("Unsqueeze", 2, 1), {random_f32({2, 3}, 4), i64({0, 3})});
}

}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include <limits>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

Tensor i64(std::vector<int64_t> v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); }

// The numpy-style naive slice of a [20,10,5] tensor along all three dims.
Tensor naive_slice(const Tensor& x, int64_t s0, int64_t c0, int64_t t0, int64_t s1, int64_t c1, int64_t t1, int64_t s2,
                   int64_t c2, int64_t t2) {
  Tensor y(DType::kF32, {c0, c1, c2});
  int64_t k = 0;
  for (int64_t i = 0; i < c0; ++i)
    for (int64_t j = 0; j < c1; ++j)
      for (int64_t l = 0; l < c2; ++l)
        y.data<float>()[k++] = x.data<float>()[((s0 + i * t0) * 10 + (s1 + j * t1)) * 5 + (s2 + l * t2)];
  return y;
}

}  // namespace

TEST(Slice, OnnxCases) {
  Tensor x = random_f32({20, 10, 5}, 1);
  Node n5 = make_node("Slice", 5, 1);
  expect_close(naive_slice(x, 0, 3, 1, 0, 10, 1, 0, 5, 1),
               run_op(n5, {x, i64({0, 0}), i64({3, 10}), i64({0, 1}), i64({1, 1})})[0], 0, 0, "slice");
  expect_close(naive_slice(x, 0, 20, 1, 0, 10, 1, 3, 1, 1),
               run_op(make_node("Slice", 3, 1), {x, i64({0, 0, 3}), i64({20, 10, 4})})[0], 0, 0, "default axes");
  expect_close(naive_slice(x, 0, 20, 1, 0, 10, 1, 3, 1, 1),
               run_op(make_node("Slice", 4, 1), {x, i64({0, 0, 3}), i64({20, 10, 4}), i64({0, -2, -1})})[0], 0, 0,
               "negative axes");
  expect_close(naive_slice(x, 0, 20, 1, 1, 9, 1, 0, 5, 1),
               run_op(n5, {x, i64({1}), i64({1000}), i64({1}), i64({1})})[0], 0, 0, "end out of bounds");
  expect_close(naive_slice(x, 0, 20, 1, 0, 9, 1, 0, 5, 1), run_op(n5, {x, i64({0}), i64({-1}), i64({1}), i64({1})})[0],
               0, 0, "negative end");
  EXPECT_EQ(run_op(n5, {x, i64({1000}), i64({1000}), i64({1}), i64({1})})[0].shape(), Shape({20, 0, 5}));
  // starts [20,10,4] ends [0,0,1] steps [-1,-3,-2]: x[19:0:-1, 9:0:-3, 4:1:-2] in numpy.
  expect_close(naive_slice(x, 19, 19, -1, 9, 3, -3, 4, 2, -2),
               run_op(n5, {x, i64({20, 10, 4}), i64({0, 0, 1}), i64({0, 1, 2}), i64({-1, -3, -2})})[0], 0, 0,
               "negative steps");
}

TEST(Slice, ReverseWholeAxisWithInt64Extremes) {
  const int64_t lo = std::numeric_limits<int64_t>::min(), hi = std::numeric_limits<int64_t>::max();
  Tensor x = Tensor::from_vector<int32_t>({4}, {1, 2, 3, 4});
  auto y = run_op(make_node("Slice", 5, 1), {x, i64({-1}), i64({lo}), i64({0}), i64({-1})})[0];
  expect_close(Tensor::from_vector<int32_t>({4}, {4, 3, 2, 1}), y, 0, 0, "x[::-1]");
  y = run_op(make_node("Slice", 5, 1), {x, i64({1}), i64({hi}), i64({0}), i64({hi})})[0];
  expect_close(Tensor::from_vector<int32_t>({1}, {2}), y, 0, 0, "huge step");
}

TEST(Slice, AttributeFormBeforeOpset10) {
  Node n = make_node("Slice", 1, 1);
  n.set_attr("starts", std::vector<int64_t>{1});
  n.set_attr("ends", std::vector<int64_t>{-1});
  n.set_attr("axes", std::vector<int64_t>{1});
  Tensor x = Tensor::from_vector<float>({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  expect_close(Tensor::from_vector<float>({2, 2}, {2, 3, 6, 7}), run_op(n, {x})[0], 0, 0, "attrs");
}

TEST(Slice, Errors) {
  Tensor x = random_f32({4, 4}, 1);
  Node n = make_node("Slice", 5, 1);
  EXPECT_THROW(run_op(n, {x, i64({0}), i64({2}), i64({0}), i64({0})}), Error);            // step 0
  EXPECT_THROW(run_op(n, {x, i64({0}), i64({2}), i64({2}), i64({1})}), Error);            // axis out of range
  EXPECT_THROW(run_op(n, {x, i64({0, 0}), i64({2}), Tensor(), Tensor()}), Error);         // length mismatch
  EXPECT_THROW(run_op(n, {x, i64({0, 0}), i64({2, 2}), i64({1, -1}), Tensor()}), Error);  // repeated axis
  EXPECT_THROW(run_op(n, {x, random_f32({1}, 2), i64({2}), Tensor(), Tensor()}), Error);  // float starts
  EXPECT_THROW(run_op(make_node("Slice", 1, 1), {x}), Error);                             // nothing given
}

TEST(Slice, GradientMatchesFiniteDifferences) {
  expect_gradients_match(make_node("Slice", 5, 1),
                         {random_f32({4, 5, 3}, 2), i64({3, 0}), i64({0, 5}), i64({0, 1}), i64({-1, 2})});
}

}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {
Shape reshape_to(const Tensor& x, std::vector<int64_t> shape, int64_t allowzero = 0) {
  Node n = make_node("Reshape", 2, 1);
  if (allowzero) n.set_attr("allowzero", allowzero);
  auto s = static_cast<int64_t>(shape.size());
  auto y = run_op(n, {x, Tensor::from_vector<int64_t>({s}, shape)})[0];
  expect_close(x.reshaped(y.shape()), y, 0, 0, "reshape keeps row-major order");
  return y.shape();
}
}  // namespace

TEST(Reshape, OnnxCases) {
  Tensor x = random_f32({2, 3, 4}, 1);
  EXPECT_EQ(reshape_to(x, {2, 3, 2, 2}), Shape({2, 3, 2, 2}));
  EXPECT_EQ(reshape_to(x, {2, -1, 2}), Shape({2, 6, 2}));
  EXPECT_EQ(reshape_to(x, {-1, 2, 3, 4}), Shape({1, 2, 3, 4}));
  EXPECT_EQ(reshape_to(x, {24}), Shape({24}));
  EXPECT_EQ(reshape_to(x, {2, 0, 1, -1}), Shape({2, 3, 1, 4}));
  EXPECT_EQ(reshape_to(x, {2, 0, 4, 1}), Shape({2, 3, 4, 1}));
  Tensor empty = Tensor::zeros(DType::kF32, {0, 3, 4});
  EXPECT_EQ(reshape_to(empty, {3, 4, 0}, 1), Shape({3, 4, 0}));
}

TEST(Reshape, AttributeFormAndOtherDtypes) {
  Node n = make_node("Reshape", 1, 1);
  n.set_attr("shape", std::vector<int64_t>{3, -1});
  Tensor x = Tensor::from_vector<uint8_t>({6}, {1, 2, 3, 4, 5, 6});
  auto y = run_op(n, {x})[0];
  expect_close(x.reshaped({3, 2}), y, 0, 0, "reshape u8 attr");
}

TEST(Reshape, Errors) {
  Node n = make_node("Reshape", 2, 1);
  Tensor x = random_f32({2, 3}, 1);
  auto shape = [](std::vector<int64_t> v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); };
  EXPECT_THROW(run_op(n, {x, shape({4, 2})}), Error);                              // wrong element count
  EXPECT_THROW(run_op(n, {x, shape({-1, -1})}), Error);                            // two -1
  EXPECT_THROW(run_op(n, {x, shape({-1, 4})}), Error);                             // not divisible
  EXPECT_THROW(run_op(n, {x, shape({-2, 3})}), Error);                             // invalid dim
  EXPECT_THROW(run_op(n, {x, shape({1, 1, 0})}), Error);                           // 0 past the input rank
  EXPECT_THROW(run_op(n, {x, Tensor::from_vector<int32_t>({2}, {3, 2})}), Error);  // not int64
  EXPECT_THROW(run_op(make_node("Reshape", 1, 1), {x}), Error);                    // no shape at all
  n.set_attr("allowzero", int64_t{1});
  EXPECT_THROW(run_op(n, {Tensor::zeros(DType::kF32, {0, 2}), shape({0, -1})}), Error);
}

TEST(Reshape, GradientMatchesFiniteDifferences) {
  expect_gradients_match(make_node("Reshape", 2, 1),
                         {random_f32({2, 3}, 2), Tensor::from_vector<int64_t>({2}, {3, 2})});
}

}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include <optional>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {
Tensor shape_of(const Tensor& x, std::optional<int64_t> start, std::optional<int64_t> end) {
  Node n = make_node("Shape", 1, 1);
  if (start) n.set_attr("start", *start);
  if (end) n.set_attr("end", *end);
  return run_op(n, {x})[0];
}
Tensor i64(std::vector<int64_t> v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); }
}  // namespace

TEST(Shape, StartEndVariants) {
  Tensor x = random_f32({3, 4, 5}, 1);
  expect_close(i64({3, 4, 5}), shape_of(x, {}, {}), 0, 0, "full");
  expect_close(i64({3, 4, 5}), shape_of(x, {}, 10), 0, 0, "clip end");
  expect_close(i64({3, 4, 5}), shape_of(x, -10, {}), 0, 0, "clip start");
  expect_close(i64({3}), shape_of(x, {}, 1), 0, 0, "end 1");
  expect_close(i64({3, 4}), shape_of(x, {}, -1), 0, 0, "end -1");
  expect_close(i64({4, 5}), shape_of(x, 1, {}), 0, 0, "start 1");
  expect_close(i64({4}), shape_of(x, 1, 2), 0, 0, "start 1 end 2");
  expect_close(i64({4}), shape_of(x, 1, -1), 0, 0, "start 1 end -1");
  expect_close(i64({5}), shape_of(x, -1, {}), 0, 0, "start -1");
  expect_close(i64({}), shape_of(x, 2, 1), 0, 0, "empty");
  expect_close(i64({}), shape_of(Tensor::scalar_f32(1.f), {}, {}), 0, 0, "scalar");
  expect_close(i64({2, 0}), shape_of(Tensor::zeros(DType::kU8, {2, 0}), {}, {}), 0, 0, "u8 empty");
}

TEST(Shape, Errors) { EXPECT_THROW(run_op(make_node("Shape", 1, 1), {Tensor()}), Error); }

}  // namespace edgeopt::kernels::testing

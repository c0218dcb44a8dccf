#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

TEST(Constant, EveryValueAttribute) {
  Tensor v = random_f32({5, 5}, 1);
  Node n = make_node("Constant", 0, 1);
  n.set_attr("value", v);
  auto y = run_op(n, {})[0];
  expect_close(v, y, 0, 0, "value");
  EXPECT_NE(v.raw(), y.raw()) << "the output must be a copy";

  Node f = make_node("Constant", 0, 1);
  f.set_attr("value_float", 2.5f);
  expect_close(Tensor::scalar_f32(2.5f), run_op(f, {})[0], 0, 0, "value_float");
  Node fs = make_node("Constant", 0, 1);
  fs.set_attr("value_floats", std::vector<float>{1.f, 2.f});
  expect_close(Tensor::from_vector<float>({2}, {1.f, 2.f}), run_op(fs, {})[0], 0, 0, "value_floats");
  Node i = make_node("Constant", 0, 1);
  i.set_attr("value_int", int64_t{-7});
  expect_close(Tensor::from_vector<int64_t>({}, {-7}), run_op(i, {})[0], 0, 0, "value_int");
  Node is = make_node("Constant", 0, 1);
  is.set_attr("value_ints", std::vector<int64_t>{3, 4, 5});
  expect_close(Tensor::from_vector<int64_t>({3}, {3, 4, 5}), run_op(is, {})[0], 0, 0, "value_ints");
}

TEST(Constant, Errors) {
  EXPECT_THROW(run_op(make_node("Constant", 0, 1), {}), Error);  // nothing set
  Node two = make_node("Constant", 0, 1);
  two.set_attr("value_int", int64_t{1});
  two.set_attr("value_float", 1.f);
  EXPECT_THROW(run_op(two, {}), Error);
  Node s = make_node("Constant", 0, 1);
  s.set_attr("value_string", std::string("hi"));
  EXPECT_THROW(run_op(s, {}), Error);
}

}  // namespace edgeopt::kernels::testing

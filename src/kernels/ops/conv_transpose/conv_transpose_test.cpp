#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

double dot(const Tensor& a, const Tensor& b) {
  double s = 0;
  for (int64_t i = 0; i < a.numel(); ++i) s += static_cast<double>(a.data<float>()[i]) * b.data<float>()[i];
  return s;
}

std::vector<float> iota(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  return v;
}

Node convt_node(std::vector<int64_t> strides, std::vector<int64_t> pads, std::vector<int64_t> dilations,
                int64_t group, size_t n_in = 2) {
  Node n = make_node("ConvTranspose", n_in, 1);
  n.set_attr("strides", strides);
  n.set_attr("pads", pads);
  n.set_attr("dilations", dilations);
  n.set_attr("group", group);
  return n;
}

// ConvTranspose is the adjoint of Conv with the same geometry and the same W tensor:
// <convT(x), y> == <x, conv(y)>.
TEST(ConvTranspose, IsTheAdjointOfConv) {
  struct Case {
    Shape x, w;
    std::vector<int64_t> strides, pads, dilations;
    int64_t group;
  };
  const std::vector<Case> cases = {
      {{1, 2, 4, 3}, {2, 3, 3, 3}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1},
      {{2, 4, 3, 5}, {4, 2, 3, 2}, {2, 3}, {1, 0, 0, 1}, {1, 2}, 2},
      {{1, 3, 4, 4}, {3, 1, 3, 3}, {2, 2}, {1, 1, 1, 1}, {2, 1}, 3},
      {{1, 2, 6}, {2, 3, 4}, {3}, {2, 1}, {1}, 1},
      {{1, 2, 2, 3, 2}, {2, 2, 2, 2, 3}, {2, 1, 2}, {0, 1, 0, 0, 0, 1}, {1, 1, 1}, 1},
  };
  uint64_t seed = 1;
  for (const auto& c : cases) {
    Tensor x = random_f32(c.x, seed++), w = random_f32(c.w, seed++);
    Tensor y = run_op(convt_node(c.strides, c.pads, c.dilations, c.group), {x, w})[0];
    Tensor r = random_f32(y.shape(), seed++);
    Node conv = make_node("Conv", 2, 1);
    conv.set_attr("strides", c.strides);
    conv.set_attr("pads", c.pads);
    conv.set_attr("dilations", c.dilations);
    conv.set_attr("group", c.group);
    Tensor back = run_op(conv, {r, w})[0];
    ASSERT_EQ(back.shape(), x.shape()) << "x=" << c.x.str() << " w=" << c.w.str();
    EXPECT_NEAR(dot(y, r), dot(x, back), 1e-4 * (1 + std::fabs(dot(y, r)))) << "x=" << c.x.str();
  }
}

// ONNX backend cases test_convtranspose_dilations, _pads, _autopad_same, _output_shape, _pad.
TEST(ConvTranspose, OnnxExamples) {
  Node dil = convt_node({1, 1}, {0, 0, 0, 0}, {2, 2}, 1);
  expect_close(Tensor::from_vector<float>({1, 1, 5, 5}, {21, 56, 13, 16, 2, 63, 35, 67, 10, 14, 24, 22, 76, 76, 21,
                                                         9,  5,  88, 45, 63, 3, 2,  33, 18, 54}),
               run_op(dil, {Tensor::from_vector<float>({1, 1, 3, 3}, {3, 8, 1, 9, 5, 7, 3, 2, 6}),
                            Tensor::from_vector<float>({1, 1, 2, 2}, {7, 2, 1, 9})})[0],
               0, 0, "dilations");
  Tensor x = Tensor::from_vector<float>({1, 1, 3, 3}, iota(9));
  Tensor w = Tensor::from_vector<float>({1, 2, 3, 3}, std::vector<float>(18, 1.f));
  Node pads = convt_node({3, 2}, {1, 2, 1, 2}, {1, 1}, 1);
  Tensor yp = run_op(pads, {x, w})[0];
  ASSERT_EQ(yp.shape(), Shape({1, 2, 7, 3}));
  expect_close(Tensor::from_vector<float>({1, 1, 7, 3}, {1, 1, 3, 1, 1, 3, 7, 4, 9, 7, 4, 9, 7, 4, 9, 13, 7, 15, 13, 7, 15}),
               Tensor::from_vector<float>({1, 1, 7, 3}, std::vector<float>(yp.data<float>(), yp.data<float>() + 21)), 0,
               0, "pads");
  Node same = make_node("ConvTranspose", 2, 1);
  same.set_attr("auto_pad", std::string("SAME_UPPER"));
  same.set_attr("strides", std::vector<int64_t>{2, 2});
  Tensor ys = run_op(same, {x, w})[0];
  ASSERT_EQ(ys.shape(), Shape({1, 2, 6, 6}));
  const std::vector<float> want_same = {0, 0, 1, 1, 3, 2, 0, 0, 1, 1, 3, 2, 3, 3, 8,  5,  12, 7,
                                        3, 3, 7, 4, 9, 5, 9, 9, 20, 11, 24, 13, 6, 6, 13, 7, 15, 8};
  for (int64_t i = 0; i < 36; ++i) EXPECT_EQ(ys.data<float>()[i], want_same[i]) << "autopad_same at " << i;
  // output_shape [10, 8] is the natural size plus one row/column: the same as output_padding [1, 1].
  Node shape = make_node("ConvTranspose", 2, 1);
  shape.set_attr("strides", std::vector<int64_t>{3, 2});
  shape.set_attr("output_shape", std::vector<int64_t>{10, 8});
  Node outpad = make_node("ConvTranspose", 2, 1);
  outpad.set_attr("strides", std::vector<int64_t>{3, 2});
  outpad.set_attr("output_padding", std::vector<int64_t>{1, 1});
  Tensor yo = run_op(outpad, {x, w})[0];
  ASSERT_EQ(yo.shape(), Shape({1, 2, 10, 8}));
  expect_close(yo, run_op(shape, {x, w})[0], 0, 0, "output_shape vs output_padding");
  // output_shape also accepted with the N and C dims.
  shape.set_attr("output_shape", std::vector<int64_t>{1, 2, 10, 8});
  expect_close(yo, run_op(shape, {x, w})[0], 0, 0, "full output_shape");
  EXPECT_EQ(yo.data<float>()[9 * 8 + 0], 0.f);  // the padded last row only gets the (absent) bias
}

TEST(ConvTranspose, OutputShapeSmallerThanNaturalPads) {
  // Natural size 7, output_shape 6: total pad 1, which NOTSET puts at the start.
  Tensor x = random_f32({1, 1, 3}, 1), w = random_f32({1, 1, 3}, 2);
  Node n = make_node("ConvTranspose", 2, 1);
  n.set_attr("strides", std::vector<int64_t>{2});
  n.set_attr("output_shape", std::vector<int64_t>{6});
  Node s = make_node("ConvTranspose", 2, 1);
  s.set_attr("strides", std::vector<int64_t>{2});
  Tensor full = run_op(s, {x, w})[0];
  ASSERT_EQ(full.shape(), Shape({1, 1, 7}));
  Tensor y = run_op(n, {x, w})[0];
  ASSERT_EQ(y.shape(), Shape({1, 1, 6}));
  for (int64_t i = 0; i < 6; ++i) EXPECT_EQ(y.data<float>()[i], full.data<float>()[i + 1]);
}

TEST(ConvTranspose, BiasAndGroups) {
  Tensor x = random_f32({1, 4, 3, 3}, 1), w = random_f32({4, 3, 2, 2}, 2), b = random_f32({6}, 3);
  Node n = convt_node({2, 2}, {0, 0, 0, 0}, {1, 1}, 2, 3);
  Tensor y = run_op(n, {x, w, b})[0];
  ASSERT_EQ(y.shape(), Shape({1, 6, 6, 6}));
  Tensor y0 = run_op(convt_node({2, 2}, {0, 0, 0, 0}, {1, 1}, 2), {x, w})[0];
  for (int64_t i = 0; i < y.numel(); ++i)
    ASSERT_NEAR(y.data<float>()[i], y0.data<float>()[i] + b.data<float>()[i / 36], 1e-6);
}

TEST(ConvTranspose, GradientMatchesFiniteDifferences) {
  expect_gradients_match(convt_node({2, 1}, {1, 0, 0, 1}, {1, 2}, 2, 3),
                         {random_f32({2, 4, 3, 2}, 1), random_f32({4, 2, 2, 3}, 2), random_f32({4}, 3)});
  Node n1 = make_node("ConvTranspose", 2, 1);
  n1.set_attr("strides", std::vector<int64_t>{3});
  n1.set_attr("output_padding", std::vector<int64_t>{2});
  expect_gradients_match(n1, {random_f32({1, 2, 4}, 4), random_f32({2, 3, 3}, 5)});
  Node n3 = make_node("ConvTranspose", 2, 1);
  n3.set_attr("auto_pad", std::string("SAME_LOWER"));
  n3.set_attr("strides", std::vector<int64_t>{2, 1, 2});
  expect_gradients_match(n3, {random_f32({1, 1, 2, 2, 3}, 6), random_f32({1, 2, 2, 2, 2}, 7)});
}

TEST(ConvTranspose, RejectsBadInput) {
  Tensor x = random_f32({1, 4, 3, 3}, 1);
  Node n = make_node("ConvTranspose", 3, 1);
  EXPECT_THROW(run_op(n, {x, random_f32({3, 2, 3, 3}, 2), Tensor()}), Error);  // W.shape[0] != C
  EXPECT_THROW(run_op(n, {x, random_f32({4, 2, 3, 3}, 2), random_f32({3}, 3)}), Error);  // B != [M]
  EXPECT_THROW(run_op(n, {x, random_f32({4, 2, 3}, 2), Tensor()}), Error);     // W rank
  EXPECT_THROW(run_op(n, {random_f32({4, 3}, 1), random_f32({4, 2}, 2), Tensor()}), Error);
  Node g = make_node("ConvTranspose", 2, 1);
  g.set_attr("group", int64_t{3});
  EXPECT_THROW(run_op(g, {x, random_f32({4, 2, 3, 3}, 2)}), Error);  // C % group
  Node p = make_node("ConvTranspose", 2, 1);
  p.set_attr("pads", std::vector<int64_t>{3, 3, 3, 3});
  EXPECT_THROW(run_op(p, {x, random_f32({4, 2, 3, 3}, 2)}), Error);  // output would be empty
  Node o = make_node("ConvTranspose", 2, 1);
  o.set_attr("output_shape", std::vector<int64_t>{5});
  EXPECT_THROW(run_op(o, {x, random_f32({4, 2, 3, 3}, 2)}), Error);
  Node op = make_node("ConvTranspose", 2, 1);
  op.set_attr("output_padding", std::vector<int64_t>{1});
  EXPECT_THROW(run_op(op, {x, random_f32({4, 2, 3, 3}, 2)}), Error);
}

TEST(ConvTranspose, Macs) {
  Node n = make_node("ConvTranspose", 2, 1);
  std::vector<Shape> in{{1, 4, 3, 3}, {4, 2, 3, 3}}, out{{1, 2, 5, 5}};
  EXPECT_EQ(node_macs(n, in, out), 36 * 2 * 9);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

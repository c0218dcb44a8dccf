#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

struct Conv2dCase {
  Shape x, w;
  int64_t group = 1;
  std::vector<int64_t> strides{1, 1}, dilations{1, 1}, pads{0, 0, 0, 0};
  bool bias = false;
};

Node conv_node(const Conv2dCase& c) {
  Node n = make_node("Conv", c.bias ? 3 : 2, 1);
  n.set_attr("group", c.group);
  n.set_attr("strides", c.strides);
  n.set_attr("dilations", c.dilations);
  n.set_attr("pads", c.pads);
  return n;
}

// Independent 2-D formulation: explicit 4-D indexing and bounds checks.
Tensor naive_conv2d(const Conv2dCase& c, const Tensor& x, const Tensor& w, const Tensor* b) {
  const int64_t N = c.x[0], C = c.x[1], H = c.x[2], W = c.x[3], M = c.w[0], KH = c.w[2], KW = c.w[3];
  const int64_t OH = (H + c.pads[0] + c.pads[2] - (KH - 1) * c.dilations[0] - 1) / c.strides[0] + 1;
  const int64_t OW = (W + c.pads[1] + c.pads[3] - (KW - 1) * c.dilations[1] - 1) / c.strides[1] + 1;
  const int64_t cg = C / c.group, mg = M / c.group;
  Tensor y = Tensor::zeros(DType::kF32, {N, M, OH, OW});
  for (int64_t n = 0; n < N; ++n)
    for (int64_t m = 0; m < M; ++m)
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = b ? b->data<float>()[m] : 0.0;
          for (int64_t ci = 0; ci < cg; ++ci)
            for (int64_t kh = 0; kh < KH; ++kh)
              for (int64_t kw = 0; kw < KW; ++kw) {
                const int64_t ih = oh * c.strides[0] - c.pads[0] + kh * c.dilations[0];
                const int64_t iw = ow * c.strides[1] - c.pads[1] + kw * c.dilations[1];
                if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                const int64_t cx = (m / mg) * cg + ci;
                acc += x.data<float>()[((n * C + cx) * H + ih) * W + iw] *
                       w.data<float>()[((m * cg + ci) * KH + kh) * KW + kw];
              }
          y.data<float>()[((n * M + m) * OH + oh) * OW + ow] = static_cast<float>(acc);
        }
  return y;
}

std::vector<Conv2dCase> conv2d_cases() {
  return {
      {{1, 1, 5, 5}, {1, 1, 3, 3}},
      {{2, 3, 7, 6}, {4, 3, 3, 3}, 1, {2, 2}, {1, 1}, {1, 1, 1, 1}, true},
      {{1, 4, 9, 7}, {6, 2, 3, 2}, 2, {1, 2}, {2, 1}, {2, 0, 1, 1}, true},  // groups, asymmetric pads
      {{1, 5, 8, 8}, {5, 1, 3, 3}, 5, {1, 1}, {1, 1}, {1, 1, 1, 1}, true},  // depthwise
      {{1, 3, 13, 11}, {7, 3, 1, 1}, 1, {3, 1}, {1, 1}, {0, 0, 0, 0}, false},
      {{1, 2, 10, 9}, {3, 2, 3, 3}, 1, {1, 1}, {3, 2}, {0, 1, 2, 0}, true},  // dilations
  };
}

TEST(Conv, ForwardMatchesNaive2d) {
  uint64_t seed = 1;
  for (const auto& c : conv2d_cases()) {
    Tensor x = random_f32(c.x, seed++), w = random_f32(c.w, seed++), b = random_f32({c.w[0]}, seed++);
    std::vector<Tensor> in{x, w};
    if (c.bias) in.push_back(b);
    auto y = run_op(conv_node(c), in);
    expect_close(naive_conv2d(c, x, w, c.bias ? &b : nullptr), y[0], 1e-5, 1e-5,
                 "conv x=" + c.x.str() + " w=" + c.w.str() + " g=" + std::to_string(c.group));
  }
}

std::vector<float> iota(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i);
  return v;
}

// ONNX backend cases test_conv_with_strides_padding / _and_asymmetric_padding / _autopad_same.
TEST(Conv, OnnxExamples) {
  Tensor x = Tensor::from_vector<float>({1, 1, 7, 5}, iota(35));
  Tensor w = Tensor::from_vector<float>({1, 1, 3, 3}, std::vector<float>(9, 1.f));
  Node n = make_node("Conv", 2, 1);
  n.set_attr("kernel_shape", std::vector<int64_t>{3, 3});
  n.set_attr("strides", std::vector<int64_t>{2, 2});
  n.set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  expect_close(Tensor::from_vector<float>({1, 1, 4, 3}, {12, 27, 24, 63, 108, 81, 123, 198, 141, 112, 177, 124}),
               run_op(n, {x, w})[0], 0, 0, "strides_padding");
  n.set_attr("pads", std::vector<int64_t>{1, 0, 1, 0});
  expect_close(Tensor::from_vector<float>({1, 1, 4, 2}, {21, 33, 99, 117, 189, 207, 171, 183}), run_op(n, {x, w})[0],
               0, 0, "asymmetric_padding");
  Node same = make_node("Conv", 2, 1);
  same.set_attr("auto_pad", std::string("SAME_LOWER"));
  same.set_attr("strides", std::vector<int64_t>{2, 2});
  expect_close(Tensor::from_vector<float>({1, 1, 3, 3}, {12, 27, 24, 63, 108, 81, 72, 117, 84}),
               run_op(same, {Tensor::from_vector<float>({1, 1, 5, 5}, iota(25)), w})[0], 0, 0, "autopad_same");
}

TEST(Conv, AutoPadShapes) {
  Tensor x = random_f32({1, 2, 7, 6}, 3);
  Tensor w = random_f32({3, 2, 3, 2}, 4);
  Node n = make_node("Conv", 2, 1);
  n.set_attr("strides", std::vector<int64_t>{2, 2});
  n.set_attr("auto_pad", std::string("SAME_UPPER"));
  EXPECT_EQ(run_op(n, {x, w})[0].shape(), Shape({1, 3, 4, 3}));
  n.set_attr("auto_pad", std::string("VALID"));
  EXPECT_EQ(run_op(n, {x, w})[0].shape(), Shape({1, 3, 3, 3}));
  // SAME_UPPER with an odd total pad puts the extra row at the end: equal to explicit pads.
  Node up = make_node("Conv", 2, 1);
  up.set_attr("auto_pad", std::string("SAME_UPPER"));
  Node ex = make_node("Conv", 2, 1);
  ex.set_attr("pads", std::vector<int64_t>{1, 0, 1, 1});
  expect_close(run_op(ex, {x, w})[0], run_op(up, {x, w})[0], 0, 0, "same_upper == explicit pads");
}

TEST(Conv, OneDimensional) {
  Node n = make_node("Conv", 3, 1);
  auto y = run_op(n, {Tensor::from_vector<float>({1, 1, 4}, {1, 2, 3, 4}),
                      Tensor::from_vector<float>({2, 1, 3}, {1, 0, -1, 1, 1, 1}),
                      Tensor::from_vector<float>({2}, {0.5f, 0})});
  expect_close(Tensor::from_vector<float>({1, 2, 2}, {-1.5f, -1.5f, 6, 9}), y[0], 0, 0, "conv1d");
}

TEST(Conv, ThreeDimensionalMatchesSumOf2d) {
  // A kernel of depth 1 over a depth-1 input is a 2-D conv.
  Tensor x = random_f32({1, 2, 1, 5, 4}, 5), w = random_f32({3, 2, 1, 3, 3}, 6);
  Node n = make_node("Conv", 2, 1);
  n.set_attr("pads", std::vector<int64_t>{0, 1, 1, 0, 1, 1});
  auto y3 = run_op(n, {x, w});
  Conv2dCase c{{1, 2, 5, 4}, {3, 2, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}};
  expect_close(naive_conv2d(c, x.reshaped({1, 2, 5, 4}), w.reshaped({3, 2, 3, 3}), nullptr),
               y3[0].reshaped({1, 3, 5, 4}), 1e-5, 1e-5, "conv3d");
}

TEST(Conv, GradientMatchesFiniteDifferences) {
  uint64_t seed = 11;
  for (const auto& c : conv2d_cases()) {
    if (c.x.numel() > 200) continue;
    std::vector<Tensor> in{random_f32(c.x, seed++), random_f32(c.w, seed++)};
    if (c.bias) in.push_back(random_f32({c.w[0]}, seed++));
    expect_gradients_match(conv_node(c), in);
  }
  Node n1 = make_node("Conv", 3, 1);
  n1.set_attr("strides", std::vector<int64_t>{2});
  n1.set_attr("pads", std::vector<int64_t>{1, 2});
  n1.set_attr("group", int64_t{2});
  expect_gradients_match(n1, {random_f32({2, 4, 7}, 1), random_f32({2, 2, 3}, 2), random_f32({2}, 3)});
  Node n3 = make_node("Conv", 2, 1);
  n3.set_attr("auto_pad", std::string("SAME_LOWER"));
  expect_gradients_match(n3, {random_f32({1, 2, 3, 4, 3}, 4), random_f32({2, 2, 2, 2, 2}, 5)});
}

TEST(Conv, RejectsBadInput) {
  Node n = make_node("Conv", 3, 1);
  Tensor x = random_f32({1, 4, 5, 5}, 1);
  n.set_attr("group", int64_t{2});
  EXPECT_THROW(run_op(n, {x, random_f32({4, 4, 3, 3}, 2), Tensor()}), Error);     // W.shape[1] != C/group
  EXPECT_THROW(run_op(n, {x, random_f32({3, 2, 3, 3}, 2), Tensor()}), Error);     // M not a multiple of group
  EXPECT_THROW(run_op(n, {x, random_f32({4, 2, 3, 3}, 2), random_f32({3}, 3)}), Error);  // bias shape
  n.set_attr("group", int64_t{3});
  EXPECT_THROW(run_op(n, {x, random_f32({3, 1, 3, 3}, 2), Tensor()}), Error);     // C not divisible
  Node k = make_node("Conv", 2, 1);
  k.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
  EXPECT_THROW(run_op(k, {x, random_f32({4, 4, 3, 3}, 2)}), Error);
  Node p = make_node("Conv", 2, 1);
  p.set_attr("pads", std::vector<int64_t>{1, 1});
  EXPECT_THROW(run_op(p, {x, random_f32({4, 4, 3, 3}, 2)}), Error);
  Node s = make_node("Conv", 2, 1);
  s.set_attr("strides", std::vector<int64_t>{0, 1});
  EXPECT_THROW(run_op(s, {x, random_f32({4, 4, 3, 3}, 2)}), Error);
  Node a = make_node("Conv", 2, 1);
  a.set_attr("auto_pad", std::string("SAME"));
  EXPECT_THROW(run_op(a, {x, random_f32({4, 4, 3, 3}, 2)}), Error);
  Node plain = make_node("Conv", 2, 1);
  EXPECT_THROW(run_op(plain, {x, random_f32({4, 4, 7, 3}, 2)}), Error);          // kernel larger than input
  EXPECT_THROW(run_op(plain, {random_f32({4, 5}, 1), random_f32({4, 4}, 2)}), Error);  // rank 2
  EXPECT_THROW(run_op(plain, {x, random_f32({4, 4, 3}, 2)}), Error);              // W rank
  EXPECT_THROW(run_op(plain, {random_f32({1, 1, 2, 2, 2, 2}, 1), random_f32({1, 1, 1, 1, 1, 1}, 2)}), Error);
  EXPECT_THROW(run_op(plain, {Tensor::zeros(DType::kI64, {1, 4, 5, 5}), random_f32({4, 4, 3, 3}, 2)}), Error);
}

TEST(Conv, Macs) {
  Node n = make_node("Conv", 2, 1);
  n.set_attr("group", int64_t{2});
  std::vector<Shape> in{{1, 4, 8, 8}, {6, 2, 3, 3}}, out{{1, 6, 6, 6}};
  EXPECT_EQ(node_macs(n, in, out), 6 * 6 * 6 * 2 * 9);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <numeric>
#include <random>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

std::vector<float> iota1(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i + 1);
  return v;
}

Node pool_node(std::vector<int64_t> kernel, std::vector<int64_t> strides = {}, std::vector<int64_t> pads = {},
               size_t n_out = 1) {
  Node n = make_node("MaxPool", 1, n_out);
  n.set_attr("kernel_shape", kernel);
  if (!strides.empty()) n.set_attr("strides", strides);
  if (!pads.empty()) n.set_attr("pads", pads);
  return n;
}

// Distinct values 0.1 apart in a shuffled order: argmaxes survive finite-difference steps.
Tensor spaced(Shape s, uint64_t seed) {
  Tensor t(DType::kF32, s);
  std::vector<int64_t> perm(static_cast<size_t>(t.numel()));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937_64(seed));
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = 0.1f * static_cast<float>(perm[i]) - 1.f;
  return t;
}

// Independent 2-D formulation over explicit coordinates.
Tensor naive_maxpool2d(const Tensor& x, int64_t kh, int64_t kw, int64_t sh, int64_t sw, int64_t dh, int64_t dw,
                       std::vector<int64_t> p) {
  const int64_t N = x.shape()[0], C = x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t OH = (H + p[0] + p[2] - (kh - 1) * dh - 1) / sh + 1, OW = (W + p[1] + p[3] - (kw - 1) * dw - 1) / sw + 1;
  Tensor y(DType::kF32, {N, C, OH, OW});
  for (int64_t nc = 0; nc < N * C; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t i = 0; i < kh; ++i)
          for (int64_t j = 0; j < kw; ++j) {
            const int64_t h = oh * sh - p[0] + i * dh, w = ow * sw - p[1] + j * dw;
            if (h >= 0 && h < H && w >= 0 && w < W) m = std::max(m, x.data<float>()[(nc * H + h) * W + w]);
          }
        y.data<float>()[(nc * OH + oh) * OW + ow] = m;
      }
  return y;
}

TEST(MaxPool, ForwardMatchesNaive2d) {
  Tensor x = random_f32({2, 3, 9, 8}, 1);
  for (auto [k, s, d, p] : std::vector<std::tuple<int64_t, int64_t, int64_t, std::vector<int64_t>>>{
           {2, 2, 1, {0, 0, 0, 0}}, {3, 1, 1, {1, 1, 1, 1}}, {3, 2, 2, {2, 0, 1, 2}}, {1, 3, 1, {0, 0, 0, 0}}}) {
    Node n = pool_node({k, k}, {s, s}, p);
    n.set_attr("dilations", std::vector<int64_t>{d, d});
    expect_close(naive_maxpool2d(x, k, k, s, s, d, d, p), run_op(n, {x})[0], 0, 0,
                 "maxpool k=" + std::to_string(k) + " s=" + std::to_string(s) + " d=" + std::to_string(d));
  }
}

TEST(MaxPool, OnnxExamples) {
  Tensor x = Tensor::from_vector<float>({1, 1, 5, 5}, iota1(25));
  auto y = run_op(pool_node({5, 5}, {}, {2, 2, 2, 2}, 2), {x});
  expect_close(Tensor::from_vector<float>({1, 1, 5, 5}, {13, 14, 15, 15, 15, 18, 19, 20, 20, 20, 23, 24, 25, 25, 25,
                                                         23, 24, 25, 25, 25, 23, 24, 25, 25, 25}),
               y[0], 0, 0, "precomputed_pads");
  ASSERT_EQ(y[1].dtype(), DType::kI64);
  expect_close(Tensor::from_vector<int64_t>({1, 1, 5, 5}, {12, 13, 14, 14, 14, 17, 18, 19, 19, 19, 22, 23, 24, 24, 24,
                                                           22, 23, 24, 24, 24, 22, 23, 24, 24, 24}),
               y[1], 0, 0, "precomputed_pads indices");
  Node col = pool_node({2, 2}, {2, 2}, {}, 2);
  col.set_attr("storage_order", int64_t{1});
  y = run_op(col, {x});
  expect_close(Tensor::from_vector<float>({1, 1, 2, 2}, {7, 9, 17, 19}), y[0], 0, 0, "strides");
  expect_close(Tensor::from_vector<int64_t>({1, 1, 2, 2}, {6, 16, 8, 18}), y[1], 0, 0, "column-major indices");
  Node same = pool_node({3, 3}, {2, 2});
  same.set_attr("auto_pad", std::string("SAME_UPPER"));
  expect_close(Tensor::from_vector<float>({1, 1, 3, 3}, {7, 9, 10, 17, 19, 20, 22, 24, 25}), run_op(same, {x})[0], 0,
               0, "same_upper");
  Tensor x4 = Tensor::from_vector<float>({1, 1, 4, 4}, iota1(16));
  Node ceil = pool_node({3, 3}, {2, 2});
  ceil.set_attr("ceil_mode", int64_t{1});
  expect_close(Tensor::from_vector<float>({1, 1, 2, 2}, {11, 12, 15, 16}), run_op(ceil, {x4})[0], 0, 0, "ceil");
  Node dil = pool_node({2, 2}, {1, 1});
  dil.set_attr("dilations", std::vector<int64_t>{2, 2});
  expect_close(Tensor::from_vector<float>({1, 1, 2, 2}, {11, 12, 15, 16}), run_op(dil, {x4})[0], 0, 0, "dilations");
}

TEST(MaxPool, IndicesAcrossBatchAndChannels) {
  Tensor x = random_f32({2, 3, 4, 5}, 3);
  auto y = run_op(pool_node({2, 3}, {1, 2}, {}, 2), {x});
  for (int64_t i = 0; i < y[0].numel(); ++i) {
    const int64_t idx = y[1].data<int64_t>()[i];
    ASSERT_GE(idx, 0);
    ASSERT_LT(idx, x.numel());
    EXPECT_EQ(x.data<float>()[idx], y[0].data<float>()[i]) << "at " << i;
    EXPECT_EQ(idx / 20, i / y[0].shape()[2] / y[0].shape()[3]) << "index leaves its (n, c) plane";
  }
}

TEST(MaxPool, Uint8And1dAnd3d) {
  std::vector<uint8_t> v(25);
  for (int i = 0; i < 25; ++i) v[i] = static_cast<uint8_t>(i + 1);
  Tensor y = run_op(pool_node({5, 5}, {}, {2, 2, 2, 2}), {Tensor::from_vector<uint8_t>({1, 1, 5, 5}, v)})[0];
  ASSERT_EQ(y.dtype(), DType::kU8);
  EXPECT_EQ(y.data<uint8_t>()[0], 13);
  EXPECT_EQ(y.data<uint8_t>()[24], 25);
  expect_close(Tensor::from_vector<float>({1, 1, 3}, {3, 3, 5}),
               run_op(pool_node({2}), {Tensor::from_vector<float>({1, 1, 4}, {1, 3, 2, 5})})[0], 0, 0, "1d");
  Tensor x3 = random_f32({1, 2, 4, 5, 3}, 4);
  Tensor y3 = run_op(pool_node({2, 2, 2}), {x3})[0];
  ASSERT_EQ(y3.shape(), Shape({1, 2, 3, 4, 2}));
  const float* p = x3.data<float>();
  float want = -1e9f;
  for (int d = 0; d < 2; ++d)
    for (int h = 0; h < 2; ++h)
      for (int w = 0; w < 2; ++w) want = std::max(want, p[(d * 5 + h) * 3 + w]);
  EXPECT_EQ(y3.data<float>()[0], want);
}

TEST(MaxPool, CeilModeDropsWindowStartingInPadding) {
  // in 5, k 3, s 3, pad end 2: ceil((5 + 2 - 3) / 3) + 1 = 3, but the third window would start at
  // 6, inside the end padding, so it is dropped (as PyTorch and ORT do).
  Node n = pool_node({3}, {3}, {0, 2});
  n.set_attr("ceil_mode", int64_t{1});
  EXPECT_EQ(run_op(n, {random_f32({1, 1, 5}, 1)})[0].shape(), Shape({1, 1, 2}));
  Node c = pool_node({2}, {2});
  c.set_attr("ceil_mode", int64_t{1});
  EXPECT_EQ(run_op(c, {random_f32({1, 1, 5}, 1)})[0].shape(), Shape({1, 1, 3}));
}

TEST(MaxPool, GradientMatchesFiniteDifferences) {
  expect_gradients_match(pool_node({2, 2}, {2, 2}), {spaced({1, 2, 4, 5}, 1)});
  expect_gradients_match(pool_node({3, 3}, {1, 2}, {1, 1, 1, 0}), {spaced({2, 1, 5, 4}, 2)});
  Node n = pool_node({2, 2, 2});
  n.set_attr("auto_pad", std::string("SAME_LOWER"));
  expect_gradients_match(n, {spaced({1, 1, 3, 3, 3}, 3)});
  // Overlapping windows send several gradients to the same input.
  Tensor x = Tensor::from_vector<float>({1, 1, 3}, {0, 5, 1});
  Node o = pool_node({2});
  std::vector<Tensor> out = run_op(o, {x});
  std::vector<Tensor> grad_in(1);
  std::vector<Tensor> dy{Tensor::from_vector<float>({1, 1, 2}, {1, 2})};
  BackwardCtx ctx{o, std::span<const Tensor>(&x, 1), out, {}, dy, grad_in};
  find_op("MaxPool")->backward(ctx);
  expect_close(Tensor::from_vector<float>({1, 1, 3}, {0, 3, 0}), grad_in[0], 0, 0, "overlap");
}

TEST(MaxPool, RejectsBadInput) {
  Tensor x = random_f32({1, 1, 4, 4}, 1);
  EXPECT_THROW(run_op(make_node("MaxPool", 1, 1), {x}), Error);  // no kernel_shape
  EXPECT_THROW(run_op(pool_node({2}), {x}), Error);              // kernel rank
  EXPECT_THROW(run_op(pool_node({5, 5}), {x}), Error);           // kernel larger than input
  EXPECT_THROW(run_op(pool_node({2, 2}, {1}), {x}), Error);      // strides length
  Node so = pool_node({2, 2});
  so.set_attr("storage_order", int64_t{2});
  EXPECT_THROW(run_op(so, {x}), Error);
  EXPECT_THROW(run_op(pool_node({2}), {random_f32({4, 4}, 1)}), Error);
  EXPECT_THROW(run_op(pool_node({2, 2}), {Tensor::zeros(DType::kI64, {1, 1, 4, 4})}), Error);
}

TEST(MaxPool, Macs) {
  std::vector<Shape> in{{1, 3, 8, 8}}, out{{1, 3, 4, 4}};
  EXPECT_EQ(node_macs(pool_node({3, 3}, {2, 2}, {1, 1, 1, 1}), in, out), 48 * 9);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

std::vector<float> iota1(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i + 1);
  return v;
}

Node avg_node(std::vector<int64_t> kernel, std::vector<int64_t> strides = {}, std::vector<int64_t> pads = {},
              int64_t include_pad = 0) {
  Node n = make_node("AveragePool", 1, 1);
  n.set_attr("kernel_shape", kernel);
  if (!strides.empty()) n.set_attr("strides", strides);
  if (!pads.empty()) n.set_attr("pads", pads);
  n.set_attr("count_include_pad", include_pad);
  return n;
}

// Independent 2-D formulation.
Tensor naive_avgpool2d(const Tensor& x, int64_t k, int64_t s, std::vector<int64_t> p, bool include_pad) {
  const int64_t NC = x.shape()[0] * x.shape()[1], H = x.shape()[2], W = x.shape()[3];
  const int64_t OH = (H + p[0] + p[2] - k) / s + 1, OW = (W + p[1] + p[3] - k) / s + 1;
  Tensor y(DType::kF32, {x.shape()[0], x.shape()[1], OH, OW});
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh)
      for (int64_t ow = 0; ow < OW; ++ow) {
        double sum = 0;
        int64_t cnt = 0, cnt_pad = 0;
        for (int64_t i = 0; i < k; ++i)
          for (int64_t j = 0; j < k; ++j) {
            const int64_t h = oh * s - p[0] + i, w = ow * s - p[1] + j;
            if (h >= -p[0] && h < H + p[2] && w >= -p[1] && w < W + p[3]) ++cnt_pad;
            if (h < 0 || h >= H || w < 0 || w >= W) continue;
            sum += x.data<float>()[(nc * H + h) * W + w];
            ++cnt;
          }
        y.data<float>()[(nc * OH + oh) * OW + ow] = static_cast<float>(sum / (include_pad ? cnt_pad : cnt));
      }
  return y;
}

TEST(AveragePool, ForwardMatchesNaive2d) {
  Tensor x = random_f32({2, 3, 9, 8}, 1);
  for (bool inc : {false, true})
    for (auto [k, s, p] : std::vector<std::tuple<int64_t, int64_t, std::vector<int64_t>>>{
             {2, 2, {0, 0, 0, 0}}, {3, 1, {1, 1, 1, 1}}, {3, 2, {2, 0, 1, 2}}, {4, 3, {1, 2, 0, 1}}})
      expect_close(naive_avgpool2d(x, k, s, p, inc), run_op(avg_node({k, k}, {s, s}, p, inc), {x})[0], 1e-6, 1e-5,
                   "avgpool k=" + std::to_string(k) + " s=" + std::to_string(s) + " include_pad=" + std::to_string(inc));
}

TEST(AveragePool, OnnxExamples) {
  Tensor x = Tensor::from_vector<float>({1, 1, 5, 5}, iota1(25));
  expect_close(Tensor::from_vector<float>({1, 1, 5, 5}, {7,    7.5f,  8,  8.5f,  9,  9.5f, 10, 10.5f, 11,
                                                         11.5f, 12,   12.5f, 13, 13.5f, 14, 14.5f, 15, 15.5f,
                                                         16,   16.5f, 17,   17.5f, 18, 18.5f, 19}),
               run_op(avg_node({5, 5}, {}, {2, 2, 2, 2}), {x})[0], 1e-5, 1e-6, "precomputed_pads");
  expect_close(Tensor::from_vector<float>({1, 1, 5, 5}, {2.52f, 3.6f, 4.8f,  4.08f, 3.24f, 4.56f, 6.4f, 8.4f, 7.04f,
                                                         5.52f, 7.2f, 10,    13,    10.8f, 8.4f,  6.96f, 9.6f, 12.4f,
                                                         10.24f, 7.92f, 6.12f, 8.4f, 10.8f, 8.88f, 6.84f}),
               run_op(avg_node({5, 5}, {}, {2, 2, 2, 2}, 1), {x})[0], 1e-5, 1e-6, "count_include_pad");
  Node same = avg_node({3, 3}, {2, 2});
  same.set_attr("auto_pad", std::string("SAME_UPPER"));
  expect_close(Tensor::from_vector<float>({1, 1, 3, 3}, {4, 5.5f, 7, 11.5f, 13, 14.5f, 19, 20.5f, 22}),
               run_op(same, {x})[0], 1e-6, 1e-6, "same_upper");
  Node ceil = avg_node({3, 3}, {2, 2});
  ceil.set_attr("ceil_mode", int64_t{1});
  expect_close(Tensor::from_vector<float>({1, 1, 2, 2}, {6, 7.5f, 12, 13.5f}),
               run_op(ceil, {Tensor::from_vector<float>({1, 1, 4, 4}, iota1(16))})[0], 1e-6, 1e-6, "ceil");
}

TEST(AveragePool, SameLowerAnd1dAnd3d) {
  Tensor x = Tensor::from_vector<float>({1, 1, 4}, {1, 2, 3, 4});
  Node lower = avg_node({2});
  lower.set_attr("auto_pad", std::string("SAME_LOWER"));
  expect_close(Tensor::from_vector<float>({1, 1, 4}, {1, 1.5f, 2.5f, 3.5f}), run_op(lower, {x})[0], 0, 0, "same_lower");
  Node upper = avg_node({2});
  upper.set_attr("auto_pad", std::string("SAME_UPPER"));
  expect_close(Tensor::from_vector<float>({1, 1, 4}, {1.5f, 2.5f, 3.5f, 4}), run_op(upper, {x})[0], 0, 0, "same_upper");
  Node dil = avg_node({2});
  dil.set_attr("dilations", std::vector<int64_t>{2});
  expect_close(Tensor::from_vector<float>({1, 1, 2}, {2, 3}), run_op(dil, {x})[0], 0, 0, "dilations");
  Tensor x3 = random_f32({1, 1, 2, 2, 2}, 1);
  double sum = 0;
  for (int i = 0; i < 8; ++i) sum += x3.data<float>()[i];
  Tensor y3 = run_op(avg_node({2, 2, 2}), {x3})[0];
  ASSERT_EQ(y3.shape(), Shape({1, 1, 1, 1, 1}));
  EXPECT_NEAR(y3.data<float>()[0], sum / 8, 1e-6);
}

TEST(AveragePool, GradientMatchesFiniteDifferences) {
  expect_gradients_match(avg_node({2, 2}, {2, 2}), {random_f32({1, 2, 4, 5}, 1)});
  expect_gradients_match(avg_node({3, 3}, {1, 2}, {1, 1, 1, 0}, 1), {random_f32({2, 1, 5, 4}, 2)});
  expect_gradients_match(avg_node({3, 2}, {2, 1}, {2, 0, 1, 1}, 0), {random_f32({1, 1, 5, 4}, 3)});
  Node ceil = avg_node({3}, {2});
  ceil.set_attr("ceil_mode", int64_t{1});
  expect_gradients_match(ceil, {random_f32({1, 2, 6}, 4)});
}

TEST(AveragePool, RejectsBadInput) {
  Tensor x = random_f32({1, 1, 4, 4}, 1);
  EXPECT_THROW(run_op(make_node("AveragePool", 1, 1), {x}), Error);
  EXPECT_THROW(run_op(avg_node({2, 2}, {}, {1, 1}), {x}), Error);
  EXPECT_THROW(run_op(avg_node({2, 2}, {}, {-1, 0, 0, 0}), {x}), Error);
  EXPECT_THROW(run_op(avg_node({2, 2}, {}, {}, 2), {x}), Error);
  EXPECT_THROW(run_op(avg_node({2, 2}), {Tensor::zeros(DType::kU8, {1, 1, 4, 4})}), Error);
  EXPECT_THROW(run_op(avg_node({2}), {random_f32({3}, 1)}), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

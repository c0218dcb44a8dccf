#include "compress/lowrank/factorize.h"

#include <gtest/gtest.h>

#include "compress/compress_test_util.h"
#include <Eigen/SVD>
#include <random>

#include "compress/decompose/cp.h"
#include "compress/decompose/tucker2.h"
#include "compress/lowrank/vbmf.h"
#include "compress/model_stats.h"
#include "train/zoo/zoo.h"

namespace edgeopt::compress {
namespace {

using testing::add_conv;
using testing::add_input;
using testing::add_output;
using testing::expect_same_outputs;
using testing::random_tensor;

// Gemm (transB 0 and 1), MatMul and a 1x1 Conv with stride 2, all factorizable by SVD.
Graph svd_graph() {
  Graph g;
  add_input(g, "x", {2, 40});
  g.initializers["w1"] = random_tensor({48, 40}, 1);
  g.initializers["b1"] = random_tensor({48}, 2);
  Node& a = g.add_node("Gemm", {"x", "w1", "b1"}, {"h1"}, "fc1");
  a.set_attr("transB", int64_t{1});
  a.set_attr("alpha", 0.5f);
  g.initializers["w2"] = random_tensor({48, 36}, 3);
  g.initializers["b2"] = random_tensor({1, 36}, 4);
  g.add_node("Gemm", {"h1", "w2", "b2"}, {"h2"}, "fc2");
  g.initializers["w3"] = random_tensor({36, 30}, 5);
  g.add_node("MatMul", {"h2", "w3"}, {"y"}, "mm");
  add_output(g, "y");
  add_input(g, "img", {1, 40, 6, 6});
  Node& c = add_conv(g, "img", "pw", 40, 32, 1, 6);
  c.set_attr("strides", std::vector<int64_t>{2, 2});
  add_output(g, "pw");
  return g;
}

TEST(FactorizeSvd, FullRankReproducesTheOutputs) {
  Graph g = svd_graph();
  Graph before = g;
  FactorizeReport r = factorize_svd(g, {.rank = 1000, .max_cost = 1e9, .min_weights = 1});
  ASSERT_EQ(r.layers.size(), 4u);
  for (const auto& l : r.layers) EXPECT_EQ(l.rank, l.full_rank) << l.node;
  expect_same_outputs(before, g, 1e-4, 1e-3);
}

TEST(FactorizeSvd, LowRankIsTheBestRankRApproximation) {
  // A weight of exact rank 3 is reproduced at rank 3 and the energy rule finds rank 3.
  Graph g;
  add_input(g, "x", {4, 64});
  Tensor u = random_tensor({64, 3}, 1), v = random_tensor({3, 50}, 2);
  Tensor w(DType::kF32, {64, 50});
  for (int64_t i = 0; i < 64; ++i)
    for (int64_t j = 0; j < 50; ++j) {
      float s = 0;
      for (int64_t k = 0; k < 3; ++k) s += u.data<float>()[i * 3 + k] * v.data<float>()[k * 50 + j];
      w.data<float>()[i * 50 + j] = s;
    }
  g.initializers["w"] = w;
  g.add_node("MatMul", {"x", "w"}, {"y"}, "mm");
  add_output(g, "y");
  Graph before = g;
  FactorizeReport r = factorize_svd(g, {.energy = 0.999999, .min_weights = 1});
  ASSERT_EQ(r.layers.size(), 1u);
  EXPECT_EQ(r.layers[0].rank[0], 3);
  expect_same_outputs(before, g, 1e-3, 1e-3);
  EXPECT_LT(graph_flops(g), graph_flops(before) / 5);
}

TEST(FactorizeSvd, RankForEnergy) {
  EXPECT_EQ(rank_for_energy({3, 2, 1}, 9.0 / 14), 1);
  EXPECT_EQ(rank_for_energy({3, 2, 1}, 0.9), 2);
  EXPECT_EQ(rank_for_energy({3, 2, 1}, 1.0), 3);
}

TEST(Vbmf, FindsTheRankUnderNoise) {
  // Y = U V^T (rank 4, singular values ~ 5-10) + N(0, 0.05^2) noise: EVBMF keeps exactly the signal.
  std::mt19937 rng(3);
  std::normal_distribution<double> n(0, 1);
  const int rows = 40, cols = 70, rank = 4;
  Eigen::MatrixXd u(rows, rank), v(cols, rank);
  for (int i = 0; i < rows; ++i)
    for (int k = 0; k < rank; ++k) u(i, k) = n(rng) / std::sqrt(rows) * (10.0 - k);
  for (int j = 0; j < cols; ++j)
    for (int k = 0; k < rank; ++k) v(j, k) = n(rng) / std::sqrt(cols) * std::sqrt(double(cols));
  Eigen::MatrixXd y = u * v.transpose();
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) y(i, j) += 0.05 * n(rng);
  Eigen::JacobiSVD<Eigen::MatrixXd> svd(y);
  std::vector<double> s(svd.singularValues().data(), svd.singularValues().data() + svd.singularValues().size());
  EXPECT_EQ(rank_evbmf(s, rows, cols), rank);
  // Pure noise: nothing but the minimum rank.
  Eigen::MatrixXd z(rows, cols);
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j) z(i, j) = n(rng);
  Eigen::JacobiSVD<Eigen::MatrixXd> svd2(z);
  std::vector<double> s2(svd2.singularValues().data(), svd2.singularValues().data() + svd2.singularValues().size());
  EXPECT_EQ(rank_evbmf(s2, rows, cols), 1);
}

TEST(Tucker2, VbmfRanksAreUsedAndTheGraphRuns) {
  Graph g;
  add_input(g, "x", {1, 16, 6, 6});
  add_conv(g, "x", "conv", 16, 24, 3, 1);
  add_output(g, "conv");
  FactorizeReport r = tucker2_decompose(g, {.rank_method = "vbmf", .max_cost = 1e9, .min_weights = 1});
  ASSERT_EQ(r.layers.size(), 1u);
  EXPECT_LE(r.layers[0].rank[0], 16);
  EXPECT_LE(r.layers[0].rank[1], 24);
  auto out = testing::run_graph(g, testing::random_feeds(g, 2));
  EXPECT_EQ(out.at("conv").shape(), (Shape{1, 24, 6, 6}));
  EXPECT_THROW(tucker2_decompose(g, {.rank_method = "cp"}), Error);
}

TEST(Tucker2, FullRanksReproduceTheConvOutput) {
  Graph g;
  add_input(g, "x", {2, 6, 7, 5});
  Node& c = add_conv(g, "x", "conv", 6, 10, 3, 1);
  c.set_attr("strides", std::vector<int64_t>{2, 1});
  add_output(g, "conv");
  Graph before = g;
  FactorizeReport r = tucker2_decompose(g, {.rank_in = 100, .rank_out = 100, .max_cost = 1e9, .min_weights = 1});
  ASSERT_EQ(r.layers.size(), 1u);
  EXPECT_EQ(r.layers[0].rank, (std::vector<int64_t>{6, 10}));
  EXPECT_EQ(g.nodes.size(), 3u);
  expect_same_outputs(before, g, 1e-4, 1e-3);
}

// A kernel that is exactly rank 3 in CP form: ALS at rank 3 recovers it, and the four-layer graph
// (with strides, asymmetric pads and dilations split per axis) reproduces the conv output.
TEST(Cp, RecoversAnExactLowRankKernelAndTheGraphMatches) {
  const int64_t m = 12, c = 10, kh = 3, kw = 5, rank = 3;
  Graph g;
  add_input(g, "x", {2, c, 11, 13});
  Node& conv = add_conv(g, "x", "conv", c, m, 3, 1);
  conv.set_attr("kernel_shape", std::vector<int64_t>{kh, kw});
  conv.set_attr("strides", std::vector<int64_t>{2, 1});
  conv.set_attr("pads", std::vector<int64_t>{1, 2, 0, 1});
  conv.set_attr("dilations", std::vector<int64_t>{1, 2});
  Tensor w(DType::kF32, {m, c, kh, kw});
  Tensor fa = testing::random_tensor({m, rank}, 1), fb = testing::random_tensor({c, rank}, 2),
         fy = testing::random_tensor({kh, rank}, 3), fx = testing::random_tensor({kw, rank}, 4);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < c; ++j)
      for (int64_t h = 0; h < kh; ++h)
        for (int64_t v = 0; v < kw; ++v) {
          float s = 0;
          for (int64_t r = 0; r < rank; ++r)
            s += fa.data<float>()[i * rank + r] * fb.data<float>()[j * rank + r] * fy.data<float>()[h * rank + r] *
                 fx.data<float>()[v * rank + r];
          w.data<float>()[((i * c + j) * kh + h) * kw + v] = s;
        }
  g.initializers["conv.w"] = w;
  add_output(g, "conv");
  CpFactors f = cp_als_4d(w, rank, 200);
  EXPECT_GT(f.fit, 0.9999) << "ALS should recover an exact rank-3 tensor";
  EXPECT_LT(cp_als_4d(w, 1, 200).fit, 0.999) << "rank 1 cannot";
  Graph before = g;
  FactorizeReport r = cp_decompose(g, {.energy = 0.9999, .iterations = 200, .max_cost = 1e9, .min_weights = 1});
  ASSERT_EQ(r.layers.size(), 1u);
  EXPECT_EQ(r.layers[0].method, "cp");
  EXPECT_EQ(r.layers[0].rank, (std::vector<int64_t>{rank})) << "the smallest rank reaching the fit";
  ASSERT_EQ(g.nodes.size(), 4u);
  EXPECT_EQ(g.nodes[1].attr_int("group", 1), rank);
  expect_same_outputs(before, g, 2e-3, 2e-3);
}

TEST(Cp, SkipsWhatDoesNotPayAndBadOptions) {
  Graph g;
  add_input(g, "x", {1, 8, 6, 6});
  add_conv(g, "x", "conv", 8, 8, 3, 1);
  add_output(g, "conv");
  // A random 8x8x3x3 kernel needs a high rank for a 0.999 fit; at max_cost 0.3 none is affordable.
  EXPECT_TRUE(cp_decompose(g, {.energy = 0.999, .max_cost = 0.3, .min_weights = 1}).layers.empty());
  EXPECT_EQ(g.nodes.size(), 1u);
  EXPECT_THROW(cp_decompose(g, {.energy = 1.5}), Error);
  EXPECT_THROW(factorize(g, {.conv_method = "parafac"}), Error);
}

TEST(Factorize, BudgetOnVisionCnnHalvesTheFlops) {
  Graph g = train::build_zoo_model("vision_cnn", {.input_shape = {1, 16, 16}, .num_outputs = 10, .width = 16, .seed = 1});
  FactorizeReport r = factorize(g, {.flops_ratio = 0.5});
  EXPECT_LE(r.flops_after * 2, r.flops_before);
  EXPECT_FALSE(r.layers.empty());
  auto out = testing::run_graph(g, testing::random_feeds(g, 1));
  EXPECT_EQ(out.at("output").shape(), (Shape{3, 10}));
  Graph tiny;
  add_input(tiny, "x", {1, 4});
  tiny.add_node("Relu", {"x"}, {"y"}, "r");
  add_output(tiny, "y");
  EXPECT_THROW(factorize(tiny, {}), Error);
}

}  // namespace
}  // namespace edgeopt::compress

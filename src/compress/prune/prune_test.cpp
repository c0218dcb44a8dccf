#include <gtest/gtest.h>

#include <cstdio>

#include "compress/compress_test_util.h"
#include "compress/model_stats.h"
#include "compress/prune/magnitude.h"
#include "compress/prune/structured.h"
#include "train/zoo/zoo.h"

namespace edgeopt::compress {
namespace {

using testing::add_conv;
using testing::add_input;
using testing::add_output;
using testing::expect_same_outputs;
using testing::random_tensor;

int64_t zeros(const Tensor& t) {
  int64_t z = 0;
  for (int64_t i = 0; i < t.numel(); ++i) z += t.data<float>()[i] == 0.f;
  return z;
}

Graph small_cnn() {
  return train::build_zoo_model("vision_cnn", {.input_shape = {1, 12, 12}, .num_outputs = 4, .width = 8, .seed = 3});
}

TEST(Magnitude, LayerWiseHitsTheSparsityInEveryLayerAndMasksMatch) {
  Graph g = small_cnn();
  std::unordered_map<std::string, Tensor> masks;
  MagnitudeReport r = prune_magnitude(g, {.sparsity = 0.75, .global = false, .min_weights = 100}, &masks);
  ASSERT_FALSE(r.weights.empty());
  for (const auto& w : r.weights) {
    const Tensor& t = g.initializers.at(w.name);
    EXPECT_EQ(zeros(t), std::llround(0.75 * t.numel())) << w.name;
    const Tensor& m = masks.at(w.name);
    for (int64_t i = 0; i < t.numel(); ++i) EXPECT_EQ(m.data<float>()[i] == 0.f, t.data<float>()[i] == 0.f);
  }
  // The kept weights are the largest: every kept |w| >= every pruned |w| of the original.
  Graph orig = small_cnn();
  const auto& name = r.weights[0].name;
  const Tensor& before = orig.initializers.at(name);
  const Tensor& after = g.initializers.at(name);
  float max_cut = 0, min_kept = 1e9f;
  for (int64_t i = 0; i < before.numel(); ++i) {
    const float a = std::fabs(before.data<float>()[i]);
    if (after.data<float>()[i] == 0.f) max_cut = std::max(max_cut, a);
    else min_kept = std::min(min_kept, a);
  }
  EXPECT_LE(max_cut, min_kept);
}

TEST(Magnitude, GlobalUsesOneThresholdAndSmallLayersStayDense) {
  Graph g = small_cnn();
  MagnitudeReport r = prune_magnitude(g, {.sparsity = 0.6, .global = true, .min_weights = 100});
  EXPECT_NEAR(r.sparsity(), 0.6, 1e-3);
  float max_cut = 0, min_kept = 1e9f;
  Graph orig = small_cnn();
  for (const auto& w : r.weights)
    for (int64_t i = 0; i < orig.initializers.at(w.name).numel(); ++i) {
      const float a = std::fabs(orig.initializers.at(w.name).data<float>()[i]);
      if (g.initializers.at(w.name).data<float>()[i] == 0.f) max_cut = std::max(max_cut, a);
      else min_kept = std::min(min_kept, a);
    }
  EXPECT_LE(max_cut, min_kept);
  // block0.conv has 8*1*9 = 72 weights < min_weights: untouched.
  EXPECT_EQ(zeros(g.initializers.at("block0.conv.weight")), 0);
  EXPECT_THROW(prune_magnitude(g, {.sparsity = 1.0}), Error);
  EXPECT_THROW(prune_magnitude(g, {.sparsity = 0.5, .min_weights = 1 << 30}), Error);
}

TEST(Magnitude, PolynomialScheduleEndsAtTheTarget) {
  EXPECT_DOUBLE_EQ(polynomial_sparsity(0, 0.9, 0), 0);
  EXPECT_DOUBLE_EQ(polynomial_sparsity(0, 0.9, 1), 0.9);
  EXPECT_NEAR(polynomial_sparsity(0, 0.9, 0.5), 0.9 * (1 - 0.125), 1e-12);
  EXPECT_LT(polynomial_sparsity(0.1, 0.9, 0.25), polynomial_sparsity(0.1, 0.9, 0.5));
}

// conv1(4->8, bias) -> Relu -> conv2(8->6) -> output. Zeroed filters of conv1 (weights and bias)
// give zero channels, so removing them changes nothing.
TEST(Structured, RemovingZeroFiltersKeepsOutputsAndShrinksWeights) {
  Graph g;
  add_input(g, "x", {2, 4, 6, 6});
  add_conv(g, "x", "conv1", 4, 8, 3, 1);
  g.add_node("Relu", {"conv1"}, {"relu1"}, "relu1");
  add_conv(g, "relu1", "conv2", 8, 6, 3, 2);
  add_output(g, "conv2");
  for (int64_t f : {1, 4, 5, 7}) {
    float* w = g.initializers.at("conv1.w").data<float>();
    std::fill(w + f * 36, w + (f + 1) * 36, 0.f);
    g.initializers.at("conv1.b").data<float>()[f] = 0.f;
  }
  Graph before = g;
  StructuredReport r = prune_structured(g, {.flops_ratio = 0, .keep_ratio = 0.5, .criterion = "l1"});
  EXPECT_EQ(g.initializers.at("conv1.w").shape(), (Shape{4, 4, 3, 3}));
  EXPECT_EQ(g.initializers.at("conv1.b").shape(), (Shape{4}));
  EXPECT_EQ(g.initializers.at("conv2.w").shape(), (Shape{6, 4, 3, 3}));  // conv2's output is locked (graph output)
  EXPECT_LT(r.flops_after, r.flops_before);
  EXPECT_EQ(r.locked_channels, 6);
  expect_same_outputs(before, g);
}

// x -> a(8) -> relu -> b(8) -> Add(relu_a, b) -> c(8) -> GAP -> Flatten -> Gemm -> out, plus a
// Concat branch: the residual Add must prune a and b identically.
TEST(Structured, ResidualAddAndConcatPruneConsistently) {
  Graph g;
  add_input(g, "x", {1, 3, 8, 8});
  add_conv(g, "x", "a", 3, 8, 3, 1);
  g.add_node("Relu", {"a"}, {"ra"}, "ra");
  add_conv(g, "ra", "b", 8, 8, 3, 2);
  g.add_node("Add", {"ra", "b"}, {"sum"}, "sum");
  add_conv(g, "x", "side", 3, 4, 1, 3);
  Node& cat = g.add_node("Concat", {"sum", "side"}, {"cat"}, "cat");
  cat.set_attr("axis", int64_t{1});
  add_conv(g, "cat", "c", 12, 8, 3, 4);
  g.add_node("GlobalAveragePool", {"c"}, {"gap"}, "gap");
  g.add_node("Flatten", {"gap"}, {"flat"}, "flat");
  g.initializers["fc.w"] = random_tensor({5, 8}, 5);
  g.initializers["fc.b"] = random_tensor({5}, 6);
  g.add_node("Gemm", {"flat", "fc.w", "fc.b"}, {"out"}, "fc").set_attr("transB", int64_t{1});
  add_output(g, "out");
  StructuredReport r = prune_structured(g, {.flops_ratio = 0, .keep_ratio = 0.5});
  const Shape& wa = g.initializers.at("a.w").shape();
  const Shape& wb = g.initializers.at("b.w").shape();
  EXPECT_EQ(wa[0], 4);
  EXPECT_EQ(wb[0], wa[0]) << "the residual Add ties a's and b's channels";
  EXPECT_EQ(wb[1], wa[0]);
  EXPECT_EQ(g.initializers.at("side.w").shape()[0], 2);
  EXPECT_EQ(g.initializers.at("c.w").shape()[1], 6) << "Concat: 4 kept of sum + 2 kept of side";
  EXPECT_EQ(g.initializers.at("c.w").shape()[0], 4);
  EXPECT_EQ(g.initializers.at("fc.w").shape(), (Shape{5, 4}));
  auto out = testing::run_graph(g, testing::random_feeds(g, 1));
  EXPECT_EQ(out.at("out").shape(), (Shape{1, 5}));
  EXPECT_GT(r.params_before, r.params_after);
}

TEST(Structured, VisionCnnMeetsTheFlopBudgetAndStillRuns) {
  Graph g = small_cnn();
  StructuredReport r = prune_structured(g, {.flops_ratio = 0.5, .criterion = "bn_scale"});
  EXPECT_LE(r.flops_after, r.flops_before / 2);
  EXPECT_GT(r.flops_after, r.flops_before / 4) << "bisection should land near the budget";
  EXPECT_EQ(graph_flops(g), r.flops_after);
  auto out = testing::run_graph(g, testing::random_feeds(g, 2));
  EXPECT_EQ(out.at("output").shape(), (Shape{3, 4}));
}

// channel_multiple rounds every layer's kept count up to a multiple (the full vision_cnn at 50% of
// the FLOPs: 24/40/80 instead of 22/44/88), still within the budget, and the graph still runs.
TEST(Structured, ChannelMultipleRoundsKeptCountsWithinTheBudget) {
  Graph g = train::build_zoo_model("vision_cnn", {.input_shape = {1, 28, 28}, .num_outputs = 10, .seed = 3});
  Graph plain = g;
  const StructuredReport p = prune_structured(plain, {.flops_ratio = 0.5});
  StructuredReport r = prune_structured(g, {.flops_ratio = 0.5, .channel_multiple = 8});
  EXPECT_LE(r.flops_after, r.flops_before / 2);
  ASSERT_EQ(r.layers.size(), p.layers.size());
  bool differs = false;
  for (const PrunedLayer& l : r.layers) {
    EXPECT_EQ(l.after % 8, 0) << l.node << " keeps " << l.after;
    std::printf("%s: %lld -> %lld\n", l.node.c_str(), static_cast<long long>(l.before),
                static_cast<long long>(l.after));
    EXPECT_LE(l.after, l.before);
  }
  for (size_t i = 0; i < r.layers.size(); ++i) differs = differs || r.layers[i].after != p.layers[i].after;
  EXPECT_TRUE(differs) << "the unrounded plan already had multiples of 8: the test shows nothing";
  auto out = testing::run_graph(g, testing::random_feeds(g, 2));
  EXPECT_EQ(out.at("output").shape()[1], 10);
  Graph bad = small_cnn();
  EXPECT_THROW(prune_structured(bad, {.flops_ratio = 0.5, .channel_multiple = 0}), Error);
}

TEST(Structured, LstmHiddenUnitsShrinkThroughSqueezeAndFlatten) {
  Graph g = train::build_zoo_model("env_lstm", {.input_shape = {6, 3}, .num_outputs = 1, .width = 8, .depth = 2, .seed = 2});
  StructuredReport r = prune_structured(g, {.flops_ratio = 0, .keep_ratio = 0.5, .criterion = "l2"});
  for (const auto& n : g.nodes)
    if (n.op_type == "LSTM") {
      EXPECT_EQ(n.attr_int("hidden_size", 0), 4) << n.name;
    }
  EXPECT_EQ(g.initializers.at("rnn1.W").shape(), (Shape{1, 16, 4}));
  EXPECT_EQ(g.initializers.at("rnn1.R").shape(), (Shape{1, 16, 4}));
  EXPECT_EQ(g.initializers.at("rnn1.B").shape(), (Shape{1, 32}));
  EXPECT_EQ(g.initializers.at("head.fc.weight").shape(), (Shape{1, 4}));
  auto out = testing::run_graph(g, testing::random_feeds(g, 3));
  EXPECT_EQ(out.at("output").shape(), (Shape{3, 1}));
  EXPECT_LT(r.params_after, r.params_before);
}

TEST(Structured, GruHiddenUnitsShrinkWithTheirThreeGates) {
  Graph g = train::build_zoo_model("env_gru", {.input_shape = {5, 2}, .num_outputs = 2, .width = 6, .depth = 2, .seed = 5});
  prune_structured(g, {.flops_ratio = 0, .keep_ratio = 0.5});
  EXPECT_EQ(g.initializers.at("rnn0.W").shape(), (Shape{1, 9, 2}));
  EXPECT_EQ(g.initializers.at("rnn1.W").shape(), (Shape{1, 9, 3}));
  EXPECT_EQ(g.initializers.at("rnn1.B").shape(), (Shape{1, 18}));
  auto out = testing::run_graph(g, testing::random_feeds(g, 6));
  EXPECT_EQ(out.at("output").shape(), (Shape{3, 2}));
}

// MobileNetV2: residual Adds between projections, depthwise convs that follow their expansions.
TEST(Structured, MobileNetResidualsAndDepthwiseStayConsistent) {
  Graph g = train::build_zoo_model("mobilenet_v2", {.input_shape = {3, 16, 16}, .num_outputs = 5, .depth = 3, .width_mult = 0.35f,
                                                    .seed = 4});
  StructuredReport r = prune_structured(g, {.flops_ratio = 0.5, .criterion = "bn_scale"});
  EXPECT_LE(r.flops_after * 2, r.flops_before);
  for (const auto& n : g.nodes)
    if (n.op_type == "Conv" && n.attr_int("group", 1) > 1) {
      EXPECT_EQ(n.attr_int("group", 1), g.initializers.at(n.inputs[1]).shape()[0]) << n.name;
    }
  auto out = testing::run_graph(g, testing::random_feeds(g, 5));
  EXPECT_EQ(out.at("output").shape(), (Shape{3, 5}));
}

TEST(Structured, ErrorsNameTheProblem) {
  Graph g = small_cnn();
  EXPECT_THROW(prune_structured(g, {.criterion = "taylor"}), Error);
  Graph one;
  add_input(one, "x", {1, 4});
  one.initializers["w"] = random_tensor({4, 2}, 1);
  one.add_node("MatMul", {"x", "w"}, {"y"}, "mm");
  add_output(one, "y");
  try {
    prune_structured(one, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no prunable channels"), std::string::npos) << e.what();
  }
}

TEST(ModelStats, FlopsAndSparseBytes) {
  Graph g;
  add_input(g, "x", {-1, 64});
  g.initializers["w"] = random_tensor({64, 32}, 1);
  g.add_node("MatMul", {"x", "w"}, {"y"}, "mm");
  add_output(g, "y");
  EXPECT_EQ(graph_flops(g), 2 * 64 * 32);
  prune_magnitude(g, {.sparsity = 0.75, .min_weights = 1});
  ModelStats s = model_stats(g, 3);
  EXPECT_EQ(s.parameters, 64 * 32);
  EXPECT_EQ(s.nonzero_parameters, 64 * 32 / 4);
  EXPECT_EQ(s.sparse_bytes, 8 * 64 * 32 / 4);
  EXPECT_GT(s.latency_ms, 0);
}

}  // namespace
}  // namespace edgeopt::compress

#include <gtest/gtest.h>

#include "core/thread_pool.h"
#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::count_ops;
using testing::random_feeds;
using testing::random_tensor;

// The small-CNN block twice: x [1, c, h, w] -> Conv 3x3 pad 1 -> Relu -> MaxPool 2x2/2 -> Conv 3x3
// (c -> m2) -> Relu -> MaxPool -> y. `conv_attr` is set on both convs (e.g. strides).
Graph cnn_graph(int64_t c, int64_t m1, int64_t m2, int64_t h, int64_t w) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {1, c, h, w}});
  g.initializers["w1"] = random_tensor({m1, c, 3, 3}, 1);
  g.initializers["b1"] = random_tensor({m1}, 2);
  g.initializers["w2"] = random_tensor({m2, m1, 3, 3}, 3, -0.2f, 0.2f);
  g.initializers["b2"] = random_tensor({m2}, 4);
  g.add_node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1").set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  g.add_node("Relu", {"c1"}, {"r1"}, "relu1");
  Node& p1 = g.add_node("MaxPool", {"r1"}, {"p1"}, "pool1");
  p1.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
  p1.set_attr("strides", std::vector<int64_t>{2, 2});
  g.add_node("Conv", {"p1", "w2", "b2"}, {"c2"}, "conv2").set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  g.add_node("Relu", {"c2"}, {"r2"}, "relu2");
  Node& p2 = g.add_node("MaxPool", {"r2"}, {"y"}, "pool2");
  p2.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
  p2.set_attr("strides", std::vector<int64_t>{2, 2});
  g.outputs.push_back({"y", DType::kF32, {1, m2, h / 4, w / 4}});
  return g;
}

// The optimized session (with ConvMaxPool) against the unoptimized one, fast and reference kernels.
void expect_session_matches_unoptimized(const Graph& g, double tol) {
  auto feeds = random_feeds(g, 7);
  for (bool reference_only : {false, true})
    for (int threads : {1, 2}) {
      set_num_threads(threads);
      auto want = Session(g, {.reference_only = true, .optimize = false}).run(feeds).at("y");
      Session fused(g, {.reference_only = reference_only});
      EXPECT_EQ(count_ops(fused.graph(), "ConvMaxPool"), 2);
      EXPECT_EQ(count_ops(fused.graph(), "MaxPool"), 0);
      auto got = fused.run(feeds).at("y");
      set_num_threads(0);
      ASSERT_EQ(want.shape(), got.shape());
      for (int64_t i = 0; i < want.numel(); ++i)
        ASSERT_NEAR(want.at(i), got.at(i), tol * std::max(1.0, std::abs(want.at(i))))
            << "y[" << i << "] reference_only=" << reference_only << " threads=" << threads;
    }
}

TEST(FuseConvMaxPool, FusesBothBlocksOfASmallCnn) {
  // vision_cnn's shapes (direct then Winograd), and odd sizes with channels off the 16-lane blocks.
  expect_session_matches_unoptimized(cnn_graph(1, 32, 64, 28, 28), 1e-4);
  expect_session_matches_unoptimized(cnn_graph(3, 17, 9, 23, 18), 1e-4);
  Graph g = cnn_graph(1, 32, 64, 28, 28);
  ASSERT_TRUE(fuse_conv_gemm_activation(g).nodes_changed == 2);
  const PassReport r = fuse_conv_maxpool(g);
  EXPECT_EQ(r.name, "fuse_conv_maxpool");
  EXPECT_EQ(r.nodes_changed, 2);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].attr_string("activation", ""), "Relu");
  EXPECT_EQ(g.nodes[1].outputs[0], "y");
}

// split_conv_maxpool (for the CUDA session) undoes the fusion: Conv + MaxPool again, same outputs.
TEST(FuseConvMaxPool, SplitRestoresConvAndMaxPool) {
  const Graph original = cnn_graph(3, 17, 9, 23, 18);
  Graph g = original;
  fuse_conv_gemm_activation(g);
  ASSERT_EQ(fuse_conv_maxpool(g).nodes_changed, 2);
  const Graph fused = g;
  const PassReport r = split_conv_maxpool(g);
  EXPECT_EQ(r.name, "split_conv_maxpool");
  EXPECT_EQ(r.nodes_changed, 2);
  EXPECT_EQ(count_ops(g, "ConvMaxPool"), 0);
  EXPECT_EQ(count_ops(g, "Conv"), 2);
  EXPECT_EQ(count_ops(g, "MaxPool"), 2);
  EXPECT_EQ(g.nodes.back().outputs[0], "y");
  testing::expect_same_outputs(fused, g, 3, /*reference_only=*/true);
  testing::expect_same_outputs(original, g, 4, /*reference_only=*/true);
}

TEST(FuseConvMaxPool, LeavesOtherPatternsAlone) {
  {  // the conv output read twice (also a graph output)
    Graph g = cnn_graph(1, 8, 8, 12, 12);
    g.outputs.push_back({"r1", DType::kF32, {1, 8, 12, 12}});
    fuse_conv_gemm_activation(g);
    EXPECT_EQ(fuse_conv_maxpool(g).nodes_changed, 1);  // only the second block
    EXPECT_EQ(count_ops(g, "MaxPool"), 1);
  }
  {  // stride 2, a 3x3 pool, ceil mode, group 2, weights fed at run time
    for (int variant = 0; variant < 5; ++variant) {
      Graph g = cnn_graph(2, 8, 8, 16, 16);
      g.nodes.erase(g.nodes.begin() + 3, g.nodes.end());  // conv1 -> relu1 -> pool1 = "p1" only
      g.outputs = {{"p1", DType::kF32, {}}};
      Node& conv = g.nodes[0];
      Node& pool = g.nodes[2];
      if (variant == 0) conv.set_attr("strides", std::vector<int64_t>{2, 2});
      if (variant == 1) pool.set_attr("kernel_shape", std::vector<int64_t>{3, 3});
      if (variant == 2) pool.set_attr("ceil_mode", int64_t{1});
      if (variant == 3) {
        conv.set_attr("group", int64_t{2});
        g.initializers["w1"] = random_tensor({8, 1, 3, 3}, 1);
      }
      if (variant == 4) g.inputs.push_back({"w1", DType::kF32, {8, 2, 3, 3}});
      EXPECT_EQ(fuse_conv_maxpool(g).nodes_changed, 0) << "variant " << variant;
    }
  }
}

}  // namespace
}  // namespace edgeopt::runtime::passes

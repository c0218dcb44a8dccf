#include <gtest/gtest.h>

#include <limits>

#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;
using testing::random_tensor;

// x [1, c, 9, 8] -> Conv (3x3, pad 1, given group) -> activation -> y
Graph conv_act_graph(int64_t c, int64_t group, const std::string& act, int64_t opset) {
  Graph g;
  g.opset = opset;
  g.inputs.push_back({"x", DType::kF32, {1, c, 9, 8}});
  g.initializers["w"] = random_tensor({c, c / group, 3, 3}, 5);
  g.initializers["b"] = random_tensor({c}, 6);
  Node& conv = g.add_node("Conv", {"x", "w", "b"}, {"h"}, "conv");
  conv.set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  conv.set_attr("group", group);
  if (act == "Relu") {
    g.add_node("Relu", {"h"}, {"y"}, "act");
  } else if (opset < 11) {
    Node& clip = g.add_node("Clip", {"h"}, {"y"}, "act");
    clip.set_attr("min", 0.f);
    clip.set_attr("max", 0.5f);
  } else {
    g.initializers["lo"] = Tensor::scalar_f32(0.f);
    g.initializers["hi"] = Tensor::scalar_f32(0.5f);  // ReLU6 scaled to the random range
    g.add_node("Clip", {"h", "lo", "hi"}, {"y"}, "act");
  }
  g.outputs.push_back({"y", DType::kF32, {1, c, 9, 8}});
  return g;
}

TEST(FuseConvGemmActivation, FusesReluAndClipIntoConv) {
  for (const char* act : {"Relu", "Clip"})
    for (int64_t opset : {10, 13})
      for (int64_t group : {1, 8}) {  // group 8 = depthwise: the direct kernel's clamp
        SCOPED_TRACE(std::string(act) + " opset " + std::to_string(opset) + " group " + std::to_string(group));
        Graph g = conv_act_graph(8, group, act, opset);
        Graph before = g;
        PassReport r = fuse_conv_gemm_activation(g);
        EXPECT_EQ(r.name, "fuse_conv_gemm_activation");
        EXPECT_EQ(r.nodes_changed, 1);
        ASSERT_EQ(g.nodes.size(), 1u);
        EXPECT_EQ(g.nodes[0].attr_string("activation", ""), act);
        EXPECT_EQ(g.nodes[0].outputs[0], "y");
        EXPECT_FALSE(before.nodes[0].has_attr("activation"));
        expect_same_outputs(before, g);
        expect_same_outputs(before, g, 2, /*reference_only=*/true);
      }
}

TEST(FuseConvGemmActivation, FusesIntoGemmWithEveryCForm) {
  for (int c_kind : {0, 1, 2}) {  // none, [N] bias, full [M, N] C (accumulated with beta)
    SCOPED_TRACE("C kind " + std::to_string(c_kind));
    Graph g;
    g.inputs.push_back({"x", DType::kF32, {5, 7}});
    g.initializers["w"] = random_tensor({6, 7}, 1);
    std::vector<std::string> in{"x", "w"};
    if (c_kind == 1) g.initializers["c"] = random_tensor({6}, 2);
    if (c_kind == 2) g.initializers["c"] = random_tensor({5, 6}, 2);
    if (c_kind) in.push_back("c");
    Node& gemm = g.add_node("Gemm", in, {"h"}, "fc");
    gemm.set_attr("transB", int64_t{1});
    gemm.set_attr("beta", 0.5f);
    g.add_node("Relu", {"h"}, {"y"}, "relu");
    g.outputs.push_back({"y", DType::kF32, {5, 6}});
    Graph before = g;
    EXPECT_EQ(fuse_conv_gemm_activation(g).nodes_changed, 1);
    EXPECT_EQ(count_ops(g, "Relu"), 0);
    expect_same_outputs(before, g);
    expect_same_outputs(before, g, 2, /*reference_only=*/true);
  }
}

TEST(FuseConvGemmActivation, SkipsSharedOutputsAndRuntimeBounds) {
  {
    Graph g = conv_act_graph(4, 1, "Relu", 13);
    g.outputs.push_back({"h", DType::kF32, {1, 4, 9, 8}});  // the pre-activation is an output too
    EXPECT_EQ(fuse_conv_gemm_activation(g).nodes_changed, 0);
  }
  {
    Graph g = conv_act_graph(4, 1, "Clip", 13);
    g.inputs.push_back({"hi", DType::kF32, {}});  // the bound is fed at run time
    EXPECT_EQ(fuse_conv_gemm_activation(g).nodes_changed, 0);
  }
}

TEST(OptimizeGraph, ConvBnReluBecomesOneNode) {
  Graph g = conv_act_graph(6, 1, "Relu", 13);
  // Conv -> BN -> Identity -> Relu
  g.nodes[1].inputs[0] = "i";
  g.add_node("Identity", {"bn"}, {"i"}, "id");
  g.initializers["s"] = random_tensor({6}, 40, 0.5f, 2.f);
  g.initializers["t"] = random_tensor({6}, 41);
  g.initializers["m"] = random_tensor({6}, 42);
  g.initializers["v"] = random_tensor({6}, 43, 0.1f, 1.f);
  g.add_node("BatchNormalization", {"h", "s", "t", "m", "v"}, {"bn"}, "bn");
  Graph before = g;
  auto reports = optimize_graph(g);
  ASSERT_EQ(reports.size(), 6u);  // fuse_qdq finds nothing here, so no extra remove_dead_nodes
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Conv");
  EXPECT_EQ(g.nodes[0].attr_string("activation", ""), "Relu");
  EXPECT_FALSE(g.is_initializer("w")) << "the unfolded weights are dropped";
  expect_same_outputs(before, g);
}

}  // namespace
}  // namespace edgeopt::runtime::passes

#include <gtest/gtest.h>

#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;
using testing::random_tensor;

// x [n, c, h, w] -> Conv (k x k, pad k/2, stride 1, group) -> Add(skip) [-> Relu] -> y, skip = x or
// a second input; value_info carries the shapes an ONNX import would infer.
Graph residual_graph(int64_t c, int64_t hw, int64_t k, int64_t group, bool relu, bool skip_is_input,
                     bool conv_on_right = false) {
  Graph g;
  const Shape s{2, c, hw, hw + 1};
  g.inputs.push_back({"x", DType::kF32, s});
  if (skip_is_input) g.inputs.push_back({"r", DType::kF32, s});
  g.initializers["w"] = random_tensor({c, c / group, k, k}, 5);
  g.initializers["b"] = random_tensor({c}, 6);
  Node& conv = g.add_node("Conv", {"x", "w", "b"}, {"h"}, "conv");
  conv.set_attr("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  conv.set_attr("group", group);
  const std::string skip = skip_is_input ? "r" : "x";
  g.add_node("Add", conv_on_right ? std::vector<std::string>{skip, "h"} : std::vector<std::string>{"h", skip},
             {relu ? "a" : "y"}, "add");
  if (relu) g.add_node("Relu", {"a"}, {"y"}, "relu");
  g.value_info["h"] = {"h", DType::kF32, s};
  g.value_info["a"] = {"a", DType::kF32, s};
  g.outputs.push_back({"y", DType::kF32, s});
  return g;
}

TEST(FuseConvResidualAdd, FusesEveryConvAlgorithmAndKeepsOutputs) {
  struct Case {
    int64_t c, hw, k, group;
  };
  // Winograd (3x3, >= 16 channels), im2col GEMM (5x5), pointwise (1x1), depthwise (group = c).
  const Case cases[] = {{16, 9, 3, 1}, {6, 7, 5, 1}, {12, 8, 1, 1}, {8, 9, 3, 8}};
  for (const auto& cs : cases)
    for (bool relu : {false, true})
      for (bool skip_is_input : {false, true})
        for (bool right : {false, true}) {
          SCOPED_TRACE("c=" + std::to_string(cs.c) + " k=" + std::to_string(cs.k) + " group=" +
                       std::to_string(cs.group) + (relu ? " relu" : "") + (skip_is_input ? " skip input" : " skip x") +
                       (right ? " conv on the right" : ""));
          Graph g = residual_graph(cs.c, cs.hw, cs.k, cs.group, relu, skip_is_input, right);
          Graph before = g;
          EXPECT_EQ(fuse_conv_residual_add(g).nodes_changed, 1);
          EXPECT_EQ(count_ops(g, "Add"), 0);
          if (relu) EXPECT_EQ(fuse_conv_gemm_activation(g).nodes_changed, 1);
          ASSERT_EQ(g.nodes.size(), 1u);
          EXPECT_EQ(g.nodes[0].inputs.size(), 4u);
          expect_same_outputs(before, g, 3, /*reference_only=*/true);
          expect_same_outputs(before, g, 3, /*reference_only=*/false);
          // And with the prepared state a Session builds (packed / Winograd weights).
          auto feeds = testing::random_feeds(before, 9);
          auto want = Session(before, {.reference_only = true, .optimize = false}).run(feeds).at("y");
          auto got = Session(before).run(feeds).at("y");
          for (int64_t i = 0; i < want.numel(); ++i)
            ASSERT_NEAR(want.at(i), got.at(i), 1e-4 * std::max(1.0, std::abs(double(want.at(i))))) << i;
        }
}

TEST(FuseConvResidualAdd, LeavesBroadcastsSharedOutputsAndUnknownShapesAlone) {
  {  // broadcast: the other operand is a [c, 1, 1] constant
    Graph g = residual_graph(8, 5, 3, 1, false, false);
    g.initializers["bias3"] = random_tensor({8, 1, 1}, 2);
    g.nodes[1].inputs[1] = "bias3";
    EXPECT_EQ(fuse_conv_residual_add(g).nodes_changed, 0);
  }
  {  // the Conv output is read twice
    Graph g = residual_graph(8, 5, 3, 1, false, false);
    g.outputs.push_back({"h", DType::kF32, {2, 8, 5, 6}});
    EXPECT_EQ(fuse_conv_residual_add(g).nodes_changed, 0);
  }
  {  // no inferred shape for the Conv output
    Graph g = residual_graph(8, 5, 3, 1, false, false);
    g.value_info.erase("h");
    EXPECT_EQ(fuse_conv_residual_add(g).nodes_changed, 0);
  }
}

TEST(FuseConvResidualAdd, KernelRejectsAMisShapedResidual) {
  Graph g = residual_graph(8, 5, 3, 1, false, true);
  ASSERT_EQ(fuse_conv_residual_add(g).nodes_changed, 1);
  g.inputs[1].shape = Shape({2, 8, 5, 5});  // what a wrong fusion would hand the kernel
  auto feeds = testing::random_feeds(g, 1);
  for (bool ref : {true, false}) {
    Session s(g, {.reference_only = ref, .optimize = false});
    try {
      s.run(feeds);
      FAIL() << "expected an error";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("fused residual"), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace edgeopt::runtime::passes

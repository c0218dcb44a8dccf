#include <gtest/gtest.h>

#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;
using testing::random_tensor;

void add_bn_params(Graph& g, const std::string& p, int64_t c, uint32_t seed) {
  g.initializers[p + "_scale"] = random_tensor({c}, seed, 0.5f, 2.f);
  g.initializers[p + "_b"] = random_tensor({c}, seed + 1);
  g.initializers[p + "_mean"] = random_tensor({c}, seed + 2);
  g.initializers[p + "_var"] = random_tensor({c}, seed + 3, 0.1f, 2.f);
}

Node& add_bn(Graph& g, const std::string& x, const std::string& y, const std::string& p) {
  Node& bn = g.add_node("BatchNormalization", {x, p + "_scale", p + "_b", p + "_mean", p + "_var"}, {y}, p);
  bn.set_attr("epsilon", 1e-3f);
  return bn;
}

Graph conv_bn_graph(bool bias, int64_t group) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {2, 4, 7, 6}});
  g.initializers["w"] = random_tensor({6, 4 / group, 3, 3}, 11);
  if (bias) g.initializers["b"] = random_tensor({6}, 12);
  Node& conv = g.add_node("Conv", {"x", "w", bias ? "b" : ""}, {"c"}, "conv");
  conv.set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  conv.set_attr("group", group);
  add_bn_params(g, "bn", 6, 20);
  add_bn(g, "c", "y", "bn");
  g.outputs.push_back({"y", DType::kF32, {2, 6, 7, 6}});
  return g;
}

TEST(FoldBatchnorm, FoldsIntoConvWithAndWithoutBias) {
  for (bool bias : {true, false})
    for (int64_t group : {1, 2}) {
      SCOPED_TRACE("bias=" + std::to_string(bias) + " group=" + std::to_string(group));
      Graph g = conv_bn_graph(bias, group);
      Graph before = g;
      const std::vector<float> w_before = g.initializers.at("w").to_f32_vector();
      PassReport r = fold_batchnorm(g);
      EXPECT_EQ(r.name, "fold_batchnorm");
      EXPECT_EQ(r.nodes_changed, 1);
      ASSERT_EQ(g.nodes.size(), 1u);
      EXPECT_EQ(g.nodes[0].outputs[0], "y");
      EXPECT_EQ(before.initializers.at("w").to_f32_vector(), w_before) << "the caller's weights are not touched";
      expect_same_outputs(before, g);
      expect_same_outputs(before, g, 2, /*reference_only=*/true);
    }
}

TEST(FoldBatchnorm, FoldsIntoGemmForEveryTransBAndBias) {
  for (int trans_b : {0, 1})
    for (int c_kind : {0, 1, 2, 3}) {  // none, [N], [1, N], scalar
      SCOPED_TRACE("transB=" + std::to_string(trans_b) + " C kind " + std::to_string(c_kind));
      Graph g;
      g.inputs.push_back({"x", DType::kF32, {3, 5}});
      g.initializers["w"] = trans_b ? random_tensor({4, 5}, 1) : random_tensor({5, 4}, 1);
      std::vector<std::string> in{"x", "w"};
      if (c_kind == 1) g.initializers["c"] = random_tensor({4}, 2);
      if (c_kind == 2) g.initializers["c"] = random_tensor({1, 4}, 2);
      if (c_kind == 3) g.initializers["c"] = random_tensor({}, 2);
      if (c_kind) in.push_back("c");
      Node& gemm = g.add_node("Gemm", in, {"h"}, "fc");
      gemm.set_attr("transB", int64_t{trans_b});
      gemm.set_attr("alpha", 0.7f);
      gemm.set_attr("beta", 1.3f);
      add_bn_params(g, "bn", 4, 30);
      add_bn(g, "h", "y", "bn");
      g.outputs.push_back({"y", DType::kF32, {3, 4}});
      Graph before = g;
      EXPECT_EQ(fold_batchnorm(g).nodes_changed, 1);
      EXPECT_EQ(count_ops(g, "BatchNormalization"), 0);
      expect_same_outputs(before, g);
      expect_same_outputs(before, g, 3, /*reference_only=*/true);
    }
}

TEST(FoldBatchnorm, SkipsSharedOutputsPerRowBiasAndTraining) {
  {  // the conv output has a second reader
    Graph g = conv_bn_graph(true, 1);
    g.outputs.push_back({"c", DType::kF32, {2, 6, 7, 6}});
    EXPECT_EQ(fold_batchnorm(g).nodes_changed, 0);
  }
  {  // training mode
    Graph g = conv_bn_graph(true, 1);
    g.nodes[1].set_attr("training_mode", int64_t{1});
    EXPECT_EQ(fold_batchnorm(g).nodes_changed, 0);
  }
  {  // weights fed at run time
    Graph g = conv_bn_graph(true, 1);
    g.inputs.push_back({"w", DType::kF32, {6, 4, 3, 3}});
    EXPECT_EQ(fold_batchnorm(g).nodes_changed, 0);
  }
  {  // Gemm with a per-row C [M, 1]
    Graph g;
    g.inputs.push_back({"x", DType::kF32, {3, 5}});
    g.initializers["w"] = random_tensor({5, 4}, 1);
    g.initializers["c"] = random_tensor({3, 1}, 2);
    g.add_node("Gemm", {"x", "w", "c"}, {"h"}, "fc");
    add_bn_params(g, "bn", 4, 30);
    add_bn(g, "h", "y", "bn");
    g.outputs.push_back({"y", DType::kF32, {3, 4}});
    EXPECT_EQ(fold_batchnorm(g).nodes_changed, 0);
  }
}

}  // namespace
}  // namespace edgeopt::runtime::passes

#include <gtest/gtest.h>

#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::expect_same_outputs;
using testing::random_tensor;

void zero_most(Tensor& t, int keep_every) {
  for (int64_t i = 0; i < t.numel(); ++i)
    if (i % keep_every) t.data<float>()[i] = 0.f;
}

// Conv(group 1) -> Relu -> Flatten -> Gemm(transB, bias [N]) -> Gemm(transB 0, bias [1, N], beta 2).
Graph sparse_model(int keep_every) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape{2, 16, 6, 6}});
  Tensor w = random_tensor({32, 16, 3, 3}, 1);
  zero_most(w, keep_every);
  g.initializers["w"] = w;
  Node& c = g.add_node("Conv", {"x", "w"}, {"c"}, "conv");
  c.set_attr("kernel_shape", std::vector<int64_t>{3, 3});
  c.set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  g.add_node("Relu", {"c"}, {"r"}, "relu");
  g.add_node("Flatten", {"r"}, {"f"}, "flat");
  Tensor b1 = random_tensor({64, 32 * 36}, 2);
  zero_most(b1, keep_every);
  g.initializers["b1"] = b1;
  g.initializers["c1"] = random_tensor({64}, 3);
  g.add_node("Gemm", {"f", "b1", "c1"}, {"h"}, "fc1").set_attr("transB", int64_t{1});
  Tensor b2 = random_tensor({64, 80}, 4);
  zero_most(b2, keep_every);
  g.initializers["b2"] = b2;
  g.initializers["c2"] = random_tensor({1, 80}, 5);
  g.add_node("Gemm", {"h", "b2", "c2"}, {"y"}, "fc2").set_attr("beta", 2.f);
  g.outputs.push_back({"y", DType::kF32, Shape{2, 80}});
  return g;
}

TEST(UseSparseWeights, SparseLayersMoveToCsrKernelsWithTheSameOutputs) {
  Graph g = sparse_model(10);  // 90% zeros
  Graph before = g;
  PassReport r = use_sparse_weights(g);
  EXPECT_EQ(r.nodes_changed, 3);
  int sparse_nodes = 0;
  for (const auto& n : g.nodes) sparse_nodes += n.op_type == "SparseConv" || n.op_type == "SparseGemm";
  EXPECT_EQ(sparse_nodes, 3);
  EXPECT_FALSE(g.is_initializer("b1")) << "the dense weight is dropped";
  expect_same_outputs(before, g, 1, /*reference_only=*/true);
}

// A sparse Conv whose residual Add was fused (a 4th input) keeps the dense kernel, which has it.
TEST(UseSparseWeights, ConvWithFusedResidualStaysDense) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape{2, 16, 6, 6}});
  Tensor w = random_tensor({16, 16, 3, 3}, 1);
  zero_most(w, 20);
  g.initializers["w"] = w;
  Node& c = g.add_node("Conv", {"x", "w"}, {"c"}, "conv");
  c.set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  g.add_node("Add", {"c", "x"}, {"y"}, "add");
  g.value_info["c"] = {"c", DType::kF32, Shape{2, 16, 6, 6}};
  g.outputs.push_back({"y", DType::kF32, Shape{2, 16, 6, 6}});
  Graph before = g;
  optimize_graph(g);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "Conv");
  expect_same_outputs(before, g);
}

TEST(UseSparseWeights, DenseLayersStayDense) {
  Graph g = sparse_model(2);  // 50% zeros: below the crossover
  PassReport r = use_sparse_weights(g);
  EXPECT_EQ(r.nodes_changed, 0);
  for (const auto& n : g.nodes) EXPECT_TRUE(n.op_type != "SparseConv" && n.op_type != "SparseGemm") << n.name;
}

TEST(UseSparseWeights, SessionUsesItAndMatchesTheReference) {
  Graph g = sparse_model(10);
  auto feeds = testing::random_feeds(g, 3);
  auto want = Session(g, {.reference_only = true, .optimize = false}).run(feeds).at("y");
  Session s(g);
  bool used = false;
  for (const auto& n : s.graph().nodes) used = used || n.op_type == "SparseGemm";
  std::string ops;
  for (const auto& n : s.graph().nodes) ops += n.op_type + " ";
  for (const auto& r : s.pass_reports()) ops += r.name + "=" + std::to_string(r.nodes_changed) + " ";
  EXPECT_TRUE(used) << ops;
  auto got = s.run(feeds).at("y");
  for (int64_t i = 0; i < want.numel(); ++i)
    ASSERT_NEAR(got.data<float>()[i], want.data<float>()[i], 1e-4 + 1e-4 * std::fabs(want.data<float>()[i])) << i;
}

}  // namespace
}  // namespace edgeopt::runtime::passes

#include <gtest/gtest.h>

#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;
using testing::random_tensor;

TEST(FoldConstants, FoldsChainsOfConstantNodes) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {2, 6}});
  g.initializers["w"] = random_tensor({3, 4}, 7);
  g.initializers["shape"] = Tensor::from_vector<int64_t>({2}, {6, 2});
  Node& c = g.add_node("Constant", {}, {"k"}, "const");
  c.set_attr("value", random_tensor({6, 2}, 8));
  g.add_node("Reshape", {"w", "shape"}, {"w2"}, "reshape");  // constant
  g.add_node("Add", {"w2", "k"}, {"w3"}, "add");              // constant once k is
  g.add_node("MatMul", {"x", "w3"}, {"y"}, "mm");             // depends on x: stays
  g.outputs.push_back({"y", DType::kF32, {2, 2}});
  Graph before = g;
  PassReport r = fold_constants(g);
  EXPECT_EQ(r.name, "fold_constants");
  EXPECT_EQ(r.nodes_changed, 3);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "MatMul");
  EXPECT_TRUE(g.is_initializer("w3"));
  expect_same_outputs(before, g);
  remove_dead_nodes(g);
  EXPECT_FALSE(g.is_initializer("w")) << "unused weights are dropped";
}

TEST(FoldConstants, FoldsIntoAGraphOutput) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {3}});
  g.initializers["a"] = random_tensor({3}, 3);
  g.add_node("Relu", {"a"}, {"c"}, "r");
  g.add_node("Sigmoid", {"x"}, {"y"}, "sig");
  g.outputs.push_back({"c", DType::kF32, {3}});
  g.outputs.push_back({"y", DType::kF32, {3}});
  Graph before = g;
  EXPECT_EQ(fold_constants(g).nodes_changed, 1);
  expect_same_outputs(before, g);
}

TEST(FoldConstants, LeavesOverridableInitializersAndBadNodesAlone) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {3}});
  g.inputs.push_back({"bias", DType::kF32, {3}});  // an input with a default: can be fed
  g.initializers["bias"] = random_tensor({3}, 4);
  g.initializers["bad"] = random_tensor({2, 2}, 5);
  g.initializers["shape"] = Tensor::from_vector<int64_t>({1}, {3});
  g.add_node("Relu", {"bias"}, {"b2"}, "r");
  g.add_node("Reshape", {"bad", "shape"}, {"never"}, "bad_reshape");  // 4 elements into [3]
  g.add_node("Add", {"x", "b2"}, {"y"}, "add");
  g.outputs.push_back({"y", DType::kF32, {3}});
  EXPECT_EQ(fold_constants(g).nodes_changed, 0);
  EXPECT_EQ(g.nodes.size(), 3u);
}

TEST(FoldConstants, RespectsTheSizeCap) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {64}});
  g.initializers["a"] = random_tensor({64}, 3);
  g.add_node("Relu", {"a"}, {"b"}, "r");
  g.add_node("Add", {"x", "b"}, {"y"}, "add");
  g.outputs.push_back({"y", DType::kF32, {64}});
  EXPECT_EQ(fold_constants(g, 100).nodes_changed, 0);
  EXPECT_EQ(count_ops(g, "Relu"), 1);
}

}  // namespace
}  // namespace edgeopt::runtime::passes

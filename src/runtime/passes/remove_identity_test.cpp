#include <gtest/gtest.h>

#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;

TEST(RemoveIdentityOps, RemovesIdentityAndInferenceDropout) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {2, 3}});
  g.add_node("Relu", {"x"}, {"a"}, "r1");
  g.add_node("Identity", {"a"}, {"b"}, "id");
  g.add_node("Dropout", {"b"}, {"c"}, "drop");
  g.add_node("Sigmoid", {"c"}, {"y"}, "sig");
  g.outputs.push_back({"y", DType::kF32, {2, 3}});
  Graph before = g;
  PassReport r = remove_identity_ops(g);
  EXPECT_EQ(r.name, "remove_identity_ops");
  EXPECT_EQ(r.nodes_changed, 2);
  EXPECT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[1].inputs[0], "a");
  expect_same_outputs(before, g);
}

TEST(RemoveIdentityOps, KeepsGraphOutputNames) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {4}});
  g.add_node("Relu", {"x"}, {"a"}, "r");
  g.add_node("Identity", {"a"}, {"y"}, "id");    // removable: r now produces y
  g.add_node("Identity", {"x"}, {"z"}, "pass");  // input -> output: must stay
  g.outputs.push_back({"y", DType::kF32, {4}});
  g.outputs.push_back({"z", DType::kF32, {4}});
  Graph before = g;
  EXPECT_EQ(remove_identity_ops(g).nodes_changed, 1);
  ASSERT_EQ(g.nodes.size(), 2u);
  EXPECT_EQ(g.nodes[0].outputs[0], "y");
  expect_same_outputs(before, g);
}

TEST(RemoveIdentityOps, KeepsTrainingDropoutAndReadMasks) {
  Graph g;
  g.opset = 13;
  g.inputs.push_back({"x", DType::kF32, {8}});
  g.initializers["train"] = Tensor::from_vector<uint8_t>({}, {1});
  g.initializers["train"] = g.initializers["train"].cast(DType::kBool);
  g.add_node("Dropout", {"x", "", "train"}, {"a"}, "d_train");
  g.add_node("Dropout", {"a"}, {"b", "mask"}, "d_mask");
  g.add_node("Not", {"mask"}, {"m2"}, "use_mask");
  g.outputs.push_back({"b", DType::kF32, {8}});
  EXPECT_EQ(remove_identity_ops(g).nodes_changed, 0);
  EXPECT_EQ(count_ops(g, "Dropout"), 2);
}

}  // namespace
}  // namespace edgeopt::runtime::passes

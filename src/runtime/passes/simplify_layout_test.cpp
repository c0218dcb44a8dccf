#include <gtest/gtest.h>

#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::count_ops;
using testing::expect_same_outputs;

Tensor shape_tensor(std::vector<int64_t> s) {
  const int64_t n = static_cast<int64_t>(s.size());
  return Tensor::from_vector<int64_t>({n}, s);
}

TEST(SimplifyReshapesTransposes, CollapsesTransposeChainsAndDropsIdentities) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {2, 3, 4, 5}});
  g.add_node("Transpose", {"x"}, {"t1"}, "t1").set_attr("perm", std::vector<int64_t>{0, 2, 3, 1});
  g.add_node("Transpose", {"t1"}, {"t2"}, "t2").set_attr("perm", std::vector<int64_t>{1, 0, 3, 2});
  g.add_node("Relu", {"t2"}, {"a"}, "relu");
  // A pair that cancels out (NCHW -> NHWC -> NCHW), then Relu.
  g.add_node("Transpose", {"a"}, {"u1"}, "u1").set_attr("perm", std::vector<int64_t>{0, 2, 3, 1});
  g.add_node("Transpose", {"u1"}, {"u2"}, "u2").set_attr("perm", std::vector<int64_t>{0, 3, 1, 2});
  g.add_node("Relu", {"u2"}, {"y"}, "relu2");
  g.outputs.push_back({"y", DType::kF32, {}});
  Graph before = g;
  PassReport r = simplify_reshapes_transposes(g);
  EXPECT_EQ(r.nodes_changed, 3);
  EXPECT_EQ(count_ops(g, "Transpose"), 1);
  expect_same_outputs(before, g);
  expect_same_outputs(before, g, 2, /*reference_only=*/true);
}

TEST(SimplifyReshapesTransposes, CollapsesReshapeChainsAndNoOpReshapes) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {2, 3, 4}});
  g.initializers["s1"] = shape_tensor({6, 4});
  g.initializers["s2"] = shape_tensor({2, -1});
  g.initializers["s3"] = shape_tensor({2, 12});
  g.add_node("Reshape", {"x", "s1"}, {"r1"}, "r1");
  g.add_node("Reshape", {"r1", "s2"}, {"r2"}, "r2");
  g.value_info["r2"] = {"r2", DType::kF32, {2, 12}};
  g.add_node("Reshape", {"r2", "s3"}, {"r3"}, "r3");  // already [2, 12]
  g.add_node("Relu", {"r3"}, {"y"}, "relu");
  g.outputs.push_back({"y", DType::kF32, {}});
  Graph before = g;
  PassReport r = simplify_reshapes_transposes(g);
  EXPECT_EQ(r.nodes_changed, 2);
  EXPECT_EQ(count_ops(g, "Reshape"), 1);
  expect_same_outputs(before, g);
}

TEST(SimplifyReshapesTransposes, KeepsWhatOthersReadAndZeroCopyTargets) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {2, 3, 4}});
  g.initializers["s1"] = shape_tensor({6, 4});
  g.initializers["s0"] = shape_tensor({0, -1});  // 0 copies a dim of the *inner* result
  g.add_node("Reshape", {"x", "s1"}, {"r1"}, "r1");
  g.add_node("Reshape", {"r1", "s0"}, {"r2"}, "r2");
  g.add_node("Transpose", {"x"}, {"t1"}, "t1").set_attr("perm", std::vector<int64_t>{2, 1, 0});
  g.add_node("Transpose", {"t1"}, {"t2"}, "t2").set_attr("perm", std::vector<int64_t>{2, 1, 0});
  g.outputs.push_back({"r2", DType::kF32, {}});
  g.outputs.push_back({"t1", DType::kF32, {}});  // the inner Transpose's output is read outside
  g.outputs.push_back({"t2", DType::kF32, {}});
  Graph before = g;
  EXPECT_EQ(simplify_reshapes_transposes(g).nodes_changed, 0);
  expect_same_outputs(before, g);
}

}  // namespace
}  // namespace edgeopt::runtime::passes

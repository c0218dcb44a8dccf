#include <gtest/gtest.h>

#include "core/dtype.h"
#include "kernels/microkernels/gemm_bf16/gemm_bf16.h"
#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::count_ops;
using testing::random_feeds;
using testing::random_tensor;

Tensor bf16_tensor(Shape shape, uint32_t seed, bool exact = true) {
  Tensor t = random_tensor(std::move(shape), seed, -0.5f, 0.5f);
  if (exact)
    for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = bf16_to_f32(f32_to_bf16(t.data<float>()[i]));
  return t;
}

// Conv 3x3 -> Relu -> Conv 3x3 + x (residual) -> Relu -> depthwise Conv -> Flatten
//   -> Gemm (transB, C [N], beta 0.5) -> MatMul [N, 10]: every fusion the bf16 ops must keep.
Graph model(bool exact_weights) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape{2, 8, 6, 6}});
  g.initializers["w1"] = bf16_tensor({8, 8, 3, 3}, 1, exact_weights);
  g.initializers["b1"] = random_tensor({8}, 2);
  Node& c1 = g.add_node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1");
  c1.set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  g.add_node("Relu", {"c1"}, {"r1"}, "relu1");
  g.initializers["w2"] = bf16_tensor({8, 8, 3, 3}, 3, exact_weights);
  g.add_node("Conv", {"r1", "w2"}, {"c2"}, "conv2").set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  g.add_node("Add", {"c2", "x"}, {"s"}, "add");
  g.add_node("Relu", {"s"}, {"r2"}, "relu2");
  g.initializers["wd"] = bf16_tensor({8, 1, 3, 3}, 4, exact_weights);
  Node& dw = g.add_node("Conv", {"r2", "wd"}, {"d"}, "depthwise");
  dw.set_attr("group", int64_t{8});
  g.add_node("Flatten", {"d"}, {"f"}, "flat");
  g.initializers["w3"] = bf16_tensor({20, 8 * 16}, 5, exact_weights);
  g.initializers["c3"] = random_tensor({20}, 6);
  Node& fc = g.add_node("Gemm", {"f", "w3", "c3"}, {"h"}, "fc1");
  fc.set_attr("transB", int64_t{1});
  fc.set_attr("beta", 0.5f);
  g.initializers["w4"] = bf16_tensor({20, 10}, 7, exact_weights);
  g.add_node("MatMul", {"h", "w4"}, {"y"}, "fc2");
  g.value_info["c2"] = {"c2", DType::kF32, Shape{2, 8, 6, 6}};
  g.outputs.push_back({"y", DType::kF32, Shape{2, 10}});
  return g;
}

// |got - want| <= tol * max(1, max |want|) element-wise: a layer's rounding error scales with its
// terms, not with a result that cancels.
void expect_close(const Tensor& want, const Tensor& got, double tol, const std::string& what) {
  ASSERT_EQ(want.shape(), got.shape()) << what;
  double scale = 1.0;
  for (int64_t i = 0; i < want.numel(); ++i) scale = std::max(scale, std::abs(want.at(i)));
  for (int64_t i = 0; i < want.numel(); ++i)
    ASSERT_NEAR(want.at(i), got.at(i), tol * scale) << what << " [" << i << "], max |want| " << scale;
}

TEST(UseBf16Compute, ForcedRewritesDenseLayersAndMatchesTheBf16Reference) {
  const Graph g = model(true);
  SessionOptions on{.bf16_compute = Bf16Compute::kOn};
  Session fast(g, on);
  EXPECT_EQ(count_ops(fast.graph(), "ConvBf16"), 2);
  EXPECT_EQ(count_ops(fast.graph(), "GemmBf16"), 2);
  EXPECT_EQ(count_ops(fast.graph(), "Conv"), 1) << "the depthwise conv stays fp32";
  for (const Node& n : fast.graph().nodes)
    if (n.op_type == "ConvBf16") EXPECT_TRUE(n.has_attr("activation")) << n.name << " keeps its fused Relu";
  const auto feeds = random_feeds(g, 9);
  SessionOptions ref_on = on;
  ref_on.reference_only = true;
  const Tensor y_fast = fast.run(feeds).at("y");
  // The bf16 reference kernels on the same rewritten graph: the sums' order differs only.
  expect_close(Session(g, ref_on).run(feeds).at("y"), y_fast, 1e-4, "fast vs bf16 reference");
  // Against fp32 compute: only the activations' bf16 rounding (2^-9 relative) differs.
  expect_close(Session(g, SessionOptions{.bf16_compute = Bf16Compute::kOff}).run(feeds).at("y"), y_fast, 2e-2,
               "bf16 vs fp32 compute");
}

TEST(UseBf16Compute, FollowsTheModelMetadataAndTheCpu) {
  Graph g = model(true);
  EXPECT_EQ(count_ops(Session(g).graph(), "ConvBf16"), 0) << "no edgeopt.compute metadata: fp32";
  g.metadata["edgeopt.compute"] = "bf16";
  const int want = kernels::gemm_bf16::bf16_compute_supported() ? 2 : 0;
  EXPECT_EQ(count_ops(Session(g).graph(), "ConvBf16"), want);
  EXPECT_EQ(count_ops(Session(g, SessionOptions{.bf16_compute = Bf16Compute::kOff}).graph(), "ConvBf16"), 0);
}

TEST(UseBf16Compute, WeightsThatAreNotBf16StayFp32) {
  Graph g = model(false);
  EXPECT_EQ(use_bf16_compute(g).nodes_changed, 0);
  for (const Node& n : g.nodes) EXPECT_TRUE(n.op_type != "ConvBf16" && n.op_type != "GemmBf16") << n.name;
}

// A conv with a short reduction (here K = 3 * 3 * 3) keeps the fp32 direct kernel.
TEST(UseBf16Compute, SmallReductionConvStaysFp32) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape{1, 3, 8, 8}});
  g.initializers["w"] = bf16_tensor({16, 3, 3, 3}, 1);
  g.add_node("Conv", {"x", "w"}, {"y"}, "conv");
  g.outputs.push_back({"y", DType::kF32, Shape{1, 16, 6, 6}});
  EXPECT_EQ(use_bf16_compute(g).nodes_changed, 0);
}

// A stem with few input channels keeps the fp32 direct kernel even with a long reduction (ResNet's
// 7x7 on 3 channels, K = 147); the same kernel over 8 channels goes to bf16.
TEST(UseBf16Compute, FewChannelStemStaysFp32) {
  for (const int64_t c : {3, 8}) {
    Graph g;
    g.inputs.push_back({"x", DType::kF32, Shape{1, c, 16, 16}});
    g.initializers["w"] = bf16_tensor({16, c, 7, 7}, 1);
    g.add_node("Conv", {"x", "w"}, {"y"}, "conv");
    g.outputs.push_back({"y", DType::kF32, Shape{1, 16, 10, 10}});
    EXPECT_EQ(use_bf16_compute(g).nodes_changed, c == 3 ? 0 : 1) << c << " channels";
  }
}

// The pass alone: a Gemm's C times beta becomes the bias; the rewritten graph (bf16 reference
// kernels) equals the original computed on bf16-rounded activations, within f32 rounding.
TEST(UseBf16Compute, GemmBiasCarriesBeta) {
  Graph g;
  g.inputs.push_back({"a", DType::kF32, Shape{3, 16}});
  g.initializers["w"] = bf16_tensor({16, 5}, 1);
  g.initializers["c"] = random_tensor({1, 5}, 2);
  g.add_node("Gemm", {"a", "w", "c"}, {"y"}, "fc").set_attr("beta", 2.f);
  g.outputs.push_back({"y", DType::kF32, Shape{3, 5}});
  Graph before = g;
  EXPECT_EQ(use_bf16_compute(g).nodes_changed, 1);
  ASSERT_EQ(g.nodes.size(), 1u);
  EXPECT_EQ(g.nodes[0].op_type, "GemmBf16");
  EXPECT_FALSE(g.is_initializer("c")) << "C is replaced by beta * C";
  auto feeds = random_feeds(before, 4);
  Tensor& a = feeds.at("a");
  for (int64_t i = 0; i < a.numel(); ++i) a.data<float>()[i] = bf16_to_f32(f32_to_bf16(a.data<float>()[i]));
  SessionOptions so{.reference_only = true, .optimize = false};
  expect_close(Session(before, so).run(feeds).at("y"), Session(g, so).run(feeds).at("y"), 1e-5, "GemmBf16 vs Gemm");
}

}  // namespace
}  // namespace edgeopt::runtime::passes

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "kernels/quant/requantize.h"
#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::count_ops;
using testing::QdqBuilder;
using testing::random_tensor;

// Optimizes a copy of b.g, checks the op counts, and compares both graphs (each unoptimized
// otherwise) on random inputs: every output within `steps` quantization steps of `out_scale`.
void expect_fused(const Graph& g, const std::map<std::string, int>& want_ops, float out_scale, double steps = 1.0,
                  float in_lo = -1.f, float in_hi = 1.f) {
  Graph opt = g;
  optimize_graph(opt);
  for (const auto& [op, n] : want_ops) EXPECT_EQ(count_ops(opt, op), n) << op;
  std::map<std::string, Tensor> feeds;
  uint32_t seed = 3;
  for (const auto& vi : g.inputs) feeds[vi.name] = random_tensor(vi.shape, seed++, in_lo, in_hi);
  const SessionOptions so{.optimize = false};
  for (bool ref_only : {true, false}) {
    const SessionOptions so2{.reference_only = ref_only, .optimize = false};
    auto want = Session(g, so).run(feeds);
    auto got = Session(opt, so2).run(feeds);
    for (const auto& [name, w] : want) {
      const Tensor& o = got.at(name);
      ASSERT_EQ(w.shape(), o.shape()) << name;
      int64_t differ = 0;
      for (int64_t i = 0; i < w.numel(); ++i) {
        const double d = std::abs(w.at(i) - o.at(i));
        ASSERT_LE(d, steps * out_scale * 1.0001)
            << name << "[" << i << "]: QDQ " << w.at(i) << " int8 " << o.at(i) << " (ref_only=" << ref_only << ")";
        differ += d > 0;
      }
      // The integer path must not be trivially different: most values agree exactly.
      EXPECT_LE(differ, w.numel() / 4) << name;
    }
  }
}

TEST(FuseQdq, ConvReluWithI32BiasBecomesQLinearConv) {
  for (int64_t group : {1, 2, 6}) {
    SCOPED_TRACE("group " + std::to_string(group));
    QdqBuilder b;
    b.g.inputs.push_back({"x", DType::kF32, {2, 6, 9, 7}});
    const float sx = 0.008f;
    const std::string x = b.qdq("x", sx, 128, DType::kU8);
    std::vector<float> sw;
    const std::string w = b.weights({6, 6 / group, 3, 3}, 0, true, 7, &sw);
    const std::string bias = b.bias_i32(6, sx, sw, 8);
    Node& conv = b.g.add_node("Conv", {x, w, bias}, {"c"}, "conv");
    conv.set_attr("pads", std::vector<int64_t>{1, 0, 1, 1});
    conv.set_attr("strides", std::vector<int64_t>{1, 2});
    conv.set_attr("group", group);
    b.g.add_node("Relu", {"c"}, {"r"}, "relu");
    const std::string y = b.qdq("r", 0.01f, 0, DType::kU8);
    b.g.add_node("Identity", {y}, {"y"});
    b.g.outputs.push_back({"y", DType::kF32, {}});
    expect_fused(b.g, {{"QLinearConv", 1}, {"Conv", 0}, {"Relu", 0}, {"DequantizeLinear", 1}}, 0.01f);
  }
}

TEST(FuseQdq, SymmetricInt8ConvWithF32BiasAndClip) {
  QdqBuilder b;
  b.g.inputs.push_back({"x", DType::kF32, {1, 8, 6, 6}});
  const float sx = 0.01f;
  const std::string x = b.qdq("x", sx, 0, DType::kI8);
  std::vector<float> sw;
  const std::string w = b.weights({8, 1, 3, 3}, 0, true, 9, &sw);
  b.g.initializers["bf"] = random_tensor({8}, 10, -0.3f, 0.3f);
  Node& conv = b.g.add_node("Conv", {x, w, "bf"}, {"c"}, "dw");
  conv.set_attr("group", int64_t{8});
  conv.set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  b.g.initializers["lo"] = Tensor::scalar_f32(0.f);
  b.g.initializers["hi"] = Tensor::scalar_f32(0.5f);
  b.g.add_node("Clip", {"c", "lo", "hi"}, {"r"});
  const std::string y = b.qdq("r", 0.004f, -128, DType::kI8);
  b.g.add_node("Identity", {y}, {"y"});
  b.g.outputs.push_back({"y", DType::kF32, {}});
  expect_fused(b.g, {{"QLinearConv", 1}, {"Clip", 0}}, 0.004f);
}

TEST(FuseQdq, GemmTransBAndMatMulBecomeQLinearMatMul) {
  QdqBuilder b;
  b.g.inputs.push_back({"x", DType::kF32, {3, 20}});
  const float sx = 0.008f;
  const std::string x = b.qdq("x", sx, 120, DType::kU8);
  std::vector<float> sw;
  const std::string w = b.weights({10, 20}, 0, true, 11, &sw);  // [N, K], transB
  const std::string bias = b.bias_i32(10, sx, sw, 12);
  Node& gemm = b.g.add_node("Gemm", {x, w, bias}, {"gm"}, "fc");
  gemm.set_attr("transB", int64_t{1});
  std::string hq;
  const std::string h = b.qdq("gm", 0.02f, 128, DType::kU8, &hq);
  std::vector<float> sw2;
  const std::string w2 = b.weights({10, 7}, 1, false, 13, &sw2);
  b.g.add_node("MatMul", {h, w2}, {"mm"}, "mm");
  const std::string y = b.qdq("mm", 0.01f, 128, DType::kU8);
  b.g.add_node("Identity", {y}, {"y"});
  b.g.outputs.push_back({"y", DType::kF32, {}});
  // Two fused layers: the first's one-step differences may move the second by one more step.
  expect_fused(b.g, {{"QLinearMatMul", 2}, {"Gemm", 0}, {"MatMul", 0}}, 0.01f, 2.0);
}

TEST(FuseQdq, AddAndDataMovementStayInInt8) {
  QdqBuilder b;
  b.g.inputs.push_back({"a", DType::kF32, {1, 4, 8, 8}});
  b.g.inputs.push_back({"c", DType::kF32, {1, 4, 8, 8}});
  const std::string a = b.qdq("a", 0.01f, 128, DType::kU8);
  const std::string c = b.qdq("c", 0.02f, 100, DType::kU8);
  b.g.add_node("Add", {a, c}, {"s"}, "add");
  b.g.add_node("Relu", {"s"}, {"sr"});
  std::string q_name;
  const std::string s = b.qdq("sr", 0.015f, 0, DType::kU8);
  Node& mp = b.g.add_node("MaxPool", {s}, {"p"}, "pool");
  mp.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
  mp.set_attr("strides", std::vector<int64_t>{2, 2});
  // MaxPool's Q reuses the Add's output scale and zero point (as quantize_static does).
  const Node& add_q = b.g.nodes[b.g.nodes.size() - 2];
  b.g.add_node("QuantizeLinear", {"p", add_q.inputs[1], add_q.inputs[2]}, {"pq"});
  b.g.add_node("DequantizeLinear", {"pq", add_q.inputs[1], add_q.inputs[2]}, {"pd"});
  b.g.add_node("Flatten", {"pd"}, {"f"});
  b.g.add_node("QuantizeLinear", {"f", add_q.inputs[1], add_q.inputs[2]}, {"fq"});
  b.g.add_node("DequantizeLinear", {"fq", add_q.inputs[1], add_q.inputs[2]}, {"y"});
  b.g.outputs.push_back({"y", DType::kF32, {}});
  expect_fused(b.g, {{"QLinearAdd", 1}, {"MaxPool", 1}, {"Flatten", 1}, {"QuantizeLinear", 2}, {"DequantizeLinear", 1}},
               0.015f, 1.0, -1.f, 2.f);
}

// A quantized CNN's head: DQ -> GlobalAveragePool -> Q becomes one QLinearGlobalAveragePool
// (within one step of the QDQ graph), and split_qlinear_global_average_pool (for the CUDA session)
// restores DQ -> GlobalAveragePool -> Q with the same results.
TEST(FuseQdq, GlobalAveragePoolOnCodesAndItsSplit) {
  for (DType dt : {DType::kU8, DType::kI8}) {
    QdqBuilder b;
    b.g.inputs.push_back({"x", DType::kF32, {2, 24, 7, 7}});
    const std::string x = b.qdq("x", 0.02f, dt == DType::kU8 ? 120 : -3, dt);
    b.g.add_node("GlobalAveragePool", {x}, {"gap"}, "gap");
    const std::string y = b.qdq("gap", 0.004f, dt == DType::kU8 ? 128 : 0, dt);
    b.g.add_node("Identity", {y}, {"y"});
    b.g.outputs.push_back({"y", DType::kF32, {}});
    expect_fused(b.g, {{"QLinearGlobalAveragePool", 1}, {"GlobalAveragePool", 0}, {"DequantizeLinear", 1}}, 0.004f);
    Graph opt = b.g;
    optimize_graph(opt);
    Graph split = opt;
    EXPECT_EQ(split_qlinear_global_average_pool(split).nodes_changed, 1);
    EXPECT_EQ(count_ops(split, "QLinearGlobalAveragePool"), 0);
    EXPECT_EQ(count_ops(split, "GlobalAveragePool"), 1);
    std::map<std::string, Tensor> feeds{{"x", random_tensor({2, 24, 7, 7}, 5)}};
    const SessionOptions so{.optimize = false};
    const Tensor want = Session(b.g, so).run(feeds).at("y");
    const Tensor got = Session(split, so).run(feeds).at("y");
    for (int64_t i = 0; i < want.numel(); ++i) ASSERT_EQ(want.at(i), got.at(i)) << i;  // the QDQ graph again
  }
}

TEST(FuseQdq, DataMovementChainBetweenOneDqAndOneQRunsOnCodes) {
  // DQ -> MaxPool -> Flatten -> Q (an older quantize_static / edgeopt PTQ layout): both ops on codes,
  // exactly (the comparison allows no step), for u8 and s8 codes.
  for (DType dt : {DType::kU8, DType::kI8}) {
    SCOPED_TRACE(dtype_name(dt));
    QdqBuilder b;
    b.g.inputs.push_back({"x", DType::kF32, {1, 3, 6, 6}});
    std::string q_name;
    const std::string x = b.qdq("x", 0.01f, dt == DType::kU8 ? 120 : -3, dt, &q_name);
    Node& mp = b.g.add_node("MaxPool", {x}, {"p"}, "pool");
    mp.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
    mp.set_attr("strides", std::vector<int64_t>{2, 2});
    b.g.add_node("Flatten", {"p"}, {"f"});
    const std::string qs = b.g.nodes[b.g.nodes.size() - 4].inputs[1], qz = b.g.nodes[b.g.nodes.size() - 4].inputs[2];
    b.g.add_node("QuantizeLinear", {"f", qs, qz}, {"fq"});
    b.g.add_node("DequantizeLinear", {"fq", qs, qz}, {"y"});
    b.g.outputs.push_back({"y", DType::kF32, {}});
    expect_fused(b.g, {{"MaxPool", 1}, {"Flatten", 1}, {"QuantizeLinear", 1}, {"DequantizeLinear", 1}}, 0.01f, 0.0);
  }
}

TEST(FuseQdq, DataMovementChainWithAnotherReaderStaysF32) {
  // The MaxPool output is also a graph output: the chain may not turn it into codes.
  QdqBuilder b;
  b.g.inputs.push_back({"x", DType::kF32, {1, 2, 4, 4}});
  const std::string x = b.qdq("x", 0.01f, 128, DType::kU8);
  Node& mp = b.g.add_node("MaxPool", {x}, {"p"}, "pool");
  mp.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
  mp.set_attr("strides", std::vector<int64_t>{2, 2});
  b.g.add_node("Flatten", {"p"}, {"f"});
  const std::string qs = b.g.nodes[b.g.nodes.size() - 3].inputs[1], qz = b.g.nodes[b.g.nodes.size() - 3].inputs[2];
  b.g.add_node("QuantizeLinear", {"f", qs, qz}, {"fq"});
  b.g.add_node("DequantizeLinear", {"fq", qs, qz}, {"y"});
  b.g.outputs.push_back({"y", DType::kF32, {}});
  b.g.outputs.push_back({"p", DType::kF32, {}});
  Graph g = b.g;
  EXPECT_EQ(fuse_qdq(g).nodes_changed, 0);
  EXPECT_EQ(count_ops(g, "QuantizeLinear"), 2);
}

TEST(FuseQconvMaxPool, PoolOfTheCodesMovesIntoTheConvExactly) {
  // Conv -> Relu -> Q -> DQ -> MaxPool 2x2/2 -> Q: after fuse_qdq a QLinearConv then a MaxPool on
  // codes; fuse_qconv_maxpool makes them one node with the very same output (odd sizes included).
  for (int64_t size : {8, 7}) {
    SCOPED_TRACE("size " + std::to_string(size));
    QdqBuilder b;
    b.g.inputs.push_back({"x", DType::kF32, {2, 3, size, size + 2}});
    const float sx = 0.01f;
    const std::string x = b.qdq("x", sx, 128, DType::kU8);
    std::vector<float> sw;
    const std::string w = b.weights({5, 3, 3, 3}, 0, true, 9, &sw);
    Node& conv = b.g.add_node("Conv", {x, w}, {"c"}, "conv");
    conv.set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
    b.g.add_node("Relu", {"c"}, {"r"});
    const std::string r = b.qdq("r", 0.02f, 0, DType::kU8);
    Node& mp = b.g.add_node("MaxPool", {r}, {"p"}, "pool");
    mp.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
    mp.set_attr("strides", std::vector<int64_t>{2, 2});
    const std::string qs = b.g.nodes[b.g.nodes.size() - 3].inputs[1], qz = b.g.nodes[b.g.nodes.size() - 3].inputs[2];
    b.g.add_node("QuantizeLinear", {"p", qs, qz}, {"pq"});
    b.g.add_node("DequantizeLinear", {"pq", qs, qz}, {"y"});
    b.g.outputs.push_back({"y", DType::kF32, {}});
    Graph unfused = b.g;
    fuse_qdq(unfused);
    remove_dead_nodes(unfused);
    ASSERT_EQ(count_ops(unfused, "QLinearConv"), 1);
    ASSERT_EQ(count_ops(unfused, "MaxPool"), 1);
    Graph fused = unfused;
    EXPECT_EQ(fuse_qconv_maxpool(fused).nodes_changed, 1);
    EXPECT_EQ(count_ops(fused, "MaxPool"), 0);
    const std::map<std::string, Tensor> feeds{{"x", random_tensor({2, 3, size, size + 2}, 5)}};
    for (bool ref_only : {true, false}) {
      const SessionOptions so{.reference_only = ref_only, .optimize = false};
      const Tensor want = Session(unfused, so).run(feeds).at("y"), got = Session(fused, so).run(feeds).at("y");
      ASSERT_EQ(want.shape(), got.shape());
      for (int64_t i = 0; i < want.numel(); ++i) ASSERT_EQ(want.at(i), got.at(i)) << i << " ref_only=" << ref_only;
    }
  }
}

TEST(FuseQconvMaxPool, LeavesPaddedStridedOrSharedPools) {
  QdqBuilder b;
  b.g.inputs.push_back({"x", DType::kF32, {1, 2, 6, 6}});
  const std::string x = b.qdq("x", 0.01f, 128, DType::kU8);
  std::vector<float> sw;
  const std::string w = b.weights({4, 2, 3, 3}, 0, true, 3, &sw);
  b.g.add_node("Conv", {x, w}, {"c"}, "conv");
  const std::string c = b.qdq("c", 0.02f, 128, DType::kU8);
  Node& mp = b.g.add_node("MaxPool", {c}, {"p"}, "pool");
  mp.set_attr("kernel_shape", std::vector<int64_t>{3, 3});  // not 2x2
  mp.set_attr("strides", std::vector<int64_t>{2, 2});
  const std::string qs = b.g.nodes[b.g.nodes.size() - 3].inputs[1], qz = b.g.nodes[b.g.nodes.size() - 3].inputs[2];
  b.g.add_node("QuantizeLinear", {"p", qs, qz}, {"pq"});
  b.g.add_node("DequantizeLinear", {"pq", qs, qz}, {"y"});
  b.g.outputs.push_back({"y", DType::kF32, {}});
  Graph g = b.g;
  fuse_qdq(g);
  EXPECT_EQ(fuse_qconv_maxpool(g).nodes_changed, 0);
  EXPECT_EQ(count_ops(g, "MaxPool"), 1);
}

TEST(FuseQdq, LeavesPatternsItCannotProveAlone) {
  // The Conv output is also a graph output (f32 needed), and a MaxPool whose Q changes the scale.
  QdqBuilder b;
  b.g.inputs.push_back({"x", DType::kF32, {1, 2, 5, 5}});
  const std::string x = b.qdq("x", 0.01f, 128, DType::kU8);
  std::vector<float> sw;
  const std::string w = b.weights({3, 2, 3, 3}, 0, true, 4, &sw);
  b.g.add_node("Conv", {x, w}, {"c"}, "conv");
  const std::string y = b.qdq("c", 0.02f, 128, DType::kU8);
  Node& mp = b.g.add_node("MaxPool", {y}, {"p"});
  mp.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
  b.qdq("p", 0.05f, 128, DType::kU8);
  b.g.outputs.push_back({"c", DType::kF32, {}});
  b.g.outputs.push_back({b.g.nodes.back().outputs[0], DType::kF32, {}});
  Graph g = b.g;
  const PassReport r = fuse_qdq(g);
  EXPECT_EQ(r.nodes_changed, 0);
  EXPECT_EQ(count_ops(g, "Conv"), 1);
  EXPECT_EQ(count_ops(g, "MaxPool"), 1);
  EXPECT_EQ(count_ops(g, "QLinearConv"), 0);
}

}  // namespace
}  // namespace edgeopt::runtime::passes

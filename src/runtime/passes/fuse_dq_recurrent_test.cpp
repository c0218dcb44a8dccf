#include <gtest/gtest.h>

#include "runtime/passes/pass_test_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using testing::count_ops;
using testing::QdqBuilder;

// X [seq 6, batch 2, input 5] -> LSTM or GRU (hidden 8, bidirectional) with W per gate row or per
// tensor and R the other way, both DequantizeLinear(i8), B f32 -> Y, Y_h as the graph outputs.
struct RecurrentGraph {
  QdqBuilder b;
  std::string w, r;
  explicit RecurrentGraph(const std::string& op = "LSTM", bool w_per_row = true, bool r_per_row = false) {
    const int64_t G = (op == "LSTM" ? 4 : 3) * 8;
    b.g.inputs.push_back({"x", DType::kF32, {6, 2, 5}});
    std::vector<float> sw, sr;
    w = b.weights({2, G, 5}, 1, w_per_row, 3, &sw);
    r = b.weights({2, G, 8}, 1, r_per_row, 4, &sr);
    b.g.initializers["bias"] = testing::random_tensor({2, 2 * G}, 5, -0.3f, 0.3f);
    Node& n = b.g.add_node(op, {"x", w, r, "bias"}, {"y", "y_h"}, "rnn");
    n.set_attr("hidden_size", int64_t{8});
    n.set_attr("direction", std::string("bidirectional"));
    if (op == "GRU") n.set_attr("linear_before_reset", int64_t{1});
    b.g.outputs.push_back({"y", DType::kF32, {}});
    b.g.outputs.push_back({"y_h", DType::kF32, {}});
  }
  const Node& dq_of(const std::string& v) const {
    for (const Node& n : b.g.nodes)
      if (n.outputs[0] == v) return n;
    throw std::runtime_error("no producer of " + v);
  }
};

// The int8 LSTM stays within the activations' rounding of the QDQ graph run in f32.
void expect_close_outputs(const Graph& want_g, const Graph& got_g, double atol) {
  const auto feeds = testing::random_feeds(want_g, 7);
  const SessionOptions so{.optimize = false};
  auto want = Session(want_g, so).run(feeds);
  auto got = Session(got_g, so).run(feeds);
  for (const auto& [name, w] : want) {
    const Tensor& o = got.at(name);
    ASSERT_EQ(w.shape(), o.shape()) << name;
    for (int64_t i = 0; i < w.numel(); ++i)
      ASSERT_NEAR(w.at(i), o.at(i), atol) << name << "[" << i << "]";
  }
}

TEST(FuseDqRecurrent, QdqLstmAndGruBecomeTheirInt8Forms) {
  for (const std::string op : {"LSTM", "GRU"})
    for (bool per_row : {true, false}) {
      SCOPED_TRACE(op + (per_row ? " W per row" : " R per row"));
      const std::string int8_op = op + "DynamicInt8";
      const size_t inputs = op == "LSTM" ? 8 : 6;
      RecurrentGraph l(op, per_row, !per_row);
      Graph g = l.b.g;
      const std::string w_codes = l.dq_of(l.w).inputs[0], r_scale = l.dq_of(l.r).inputs[1];
      EXPECT_EQ(fuse_dq_recurrent(g).nodes_changed, 1);
      ASSERT_EQ(count_ops(g, int8_op), 1);
      const Node& n = g.nodes.back();
      ASSERT_EQ(n.inputs.size(), inputs + 2);
      EXPECT_EQ(n.inputs[1], w_codes);
      EXPECT_EQ(n.inputs[inputs + 1], r_scale);
      EXPECT_EQ(n.inputs[3], "bias");
      EXPECT_TRUE(n.inputs[4].empty() && n.inputs[inputs - 1].empty());
      // The whole pipeline: the DequantizeLinear nodes are gone, the codes stay i8.
      Graph opt = l.b.g;
      optimize_graph(opt);
      EXPECT_EQ(count_ops(opt, int8_op), 1);
      EXPECT_EQ(count_ops(opt, "DequantizeLinear"), 0);
      EXPECT_EQ(opt.initializers.at(w_codes).dtype(), DType::kI8);
      expect_close_outputs(l.b.g, opt, 0.05);
    }
}

TEST(FuseDqRecurrent, LeavesOtherWeightsAlone) {
  {  // codes fed at run time (not constant)
    RecurrentGraph l;
    const std::string codes = l.dq_of(l.w).inputs[0];
    l.b.g.inputs.push_back({codes, DType::kI8, {2, 32, 5}});
    EXPECT_EQ(fuse_dq_recurrent(l.b.g).nodes_changed, 0);
  }
  {  // a nonzero zero point
    RecurrentGraph l;
    Tensor zp = Tensor::zeros(DType::kI8, Shape({}));
    zp.data<int8_t>()[0] = 3;
    l.b.g.initializers[l.dq_of(l.r).inputs[2]] = zp;
    EXPECT_EQ(fuse_dq_recurrent(l.b.g).nodes_changed, 0);
  }
  {  // R in f32: only one of the two weights is int8
    RecurrentGraph l;
    l.b.g.initializers["r_f32"] = testing::random_tensor({2, 32, 8}, 9);
    for (Node& n : l.b.g.nodes)
      if (n.op_type == "LSTM") n.inputs[2] = "r_f32";
    EXPECT_EQ(fuse_dq_recurrent(l.b.g).nodes_changed, 0);
  }
  {  // a per-row scale on another axis
    RecurrentGraph l;
    for (Node& n : l.b.g.nodes)
      if (n.outputs[0] == l.w) n.set_attr("axis", int64_t{0});
    EXPECT_EQ(fuse_dq_recurrent(l.b.g).nodes_changed, 0);
  }
}

// split_dq_recurrent undoes the fusion: LSTM/GRU on DequantizeLinear weights again, the QDQ
// graph's results.
TEST(FuseDqRecurrent, SplitRestoresTheQdqGraph) {
  for (const std::string op : {"LSTM", "GRU"}) {
    SCOPED_TRACE(op);
    RecurrentGraph l(op, true, true);
    Graph g = l.b.g;
    ASSERT_EQ(fuse_dq_recurrent(g).nodes_changed, 1);
    remove_dead_nodes(g);
    EXPECT_EQ(split_dq_recurrent(g).nodes_changed, 1);
    EXPECT_EQ(count_ops(g, op + "DynamicInt8"), 0);
    EXPECT_EQ(count_ops(g, op), 1);
    EXPECT_EQ(count_ops(g, "DequantizeLinear"), 2);
    testing::expect_same_outputs(l.b.g, g);
  }
}

}  // namespace
}  // namespace edgeopt::runtime::passes

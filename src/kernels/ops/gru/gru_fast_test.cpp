// GRU fast forward (gru_fast.cpp) against the reference over direction x layout x batch x hidden x
// initial state x linear_before_reset, plus the cases it hands to the reference.
#include <gtest/gtest.h>

#include <string>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

std::vector<Tensor> run_with(ForwardFn fn, const Node& n, const std::vector<Tensor>& in, bool training = false) {
  std::vector<Tensor> out(n.outputs.size());
  std::vector<Tensor> saved;
  ForwardCtx ctx{n, in, out};
  ctx.training = training;
  if (training) ctx.saved = &saved;
  fn(ctx);
  return out;
}

void expect_same(const Node& n, const std::vector<Tensor>& in, const std::string& what, bool training = false) {
  const OpDef* op = find_op("GRU");
  ASSERT_NE(op, nullptr);
  ASSERT_NE(op->forward_fast, nullptr);
  const auto want = run_with(op->forward, n, in, training);
  const auto got = run_with(op->forward_fast, n, in, training);
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(want[i].defined(), got[i].defined()) << what << " output " << i;
    if (!want[i].defined()) continue;  // an omitted output
    ASSERT_EQ(want[i].shape(), got[i].shape()) << what << " output " << i;
    expect_close(want[i], got[i], 1e-5, 1e-5, what + " output " + std::to_string(i));
  }
}

struct Case {
  std::string direction;
  int64_t layout, batch, hidden;
  bool init;
  int64_t lbr;
};

Node gru_node(const Case& c) {
  Node n = make_node("GRU", 6, 2);
  n.inputs[4] = "";
  if (!c.init) n.inputs[5] = "";
  n.set_attr("hidden_size", c.hidden);
  n.set_attr("direction", c.direction);
  n.set_attr("linear_before_reset", c.lbr);
  if (c.layout) n.set_attr("layout", c.layout);
  return n;
}

std::vector<Tensor> gru_inputs(const Case& c, int64_t seq, int64_t input, uint64_t seed) {
  const int64_t D = c.direction == "bidirectional" ? 2 : 1, H = c.hidden, B = c.batch;
  const Shape xs = c.layout == 0 ? Shape{seq, B, input} : Shape{B, seq, input};
  const Shape ss = c.layout == 0 ? Shape{D, B, H} : Shape{B, D, H};
  std::vector<Tensor> in = {random_f32(xs, seed, -2.f, 2.f), random_f32({D, 3 * H, input}, seed + 1, -0.5f, 0.5f),
                            random_f32({D, 3 * H, H}, seed + 2, -0.5f, 0.5f), random_f32({D, 6 * H}, seed + 3),
                            Tensor(), Tensor()};
  if (c.init) in[5] = random_f32(ss, seed + 4);
  return in;
}

TEST(GruFast, MatchesReferenceAcrossConfigs) {
  uint64_t seed = 200;
  for (const std::string dir : {"forward", "reverse", "bidirectional"})
    for (int64_t layout : {0, 1})
      for (int64_t batch : {1, 3})
        for (int64_t hidden : {4, 17, 64})
          for (bool init : {false, true})
            for (int64_t lbr : {0, 1}) {
              const Case c{dir, layout, batch, hidden, init, lbr};
              const std::string what = dir + " layout=" + std::to_string(layout) + " batch=" + std::to_string(batch) +
                                        " hidden=" + std::to_string(hidden) + (init ? " init" : " no-init") +
                                        " lbr=" + std::to_string(lbr);
              expect_same(gru_node(c), gru_inputs(c, 5, 7, seed += 10), what);
            }
}

TEST(GruFast, NoBiasAndOutputSubsets) {
  for (int64_t lbr : {0, 1}) {
    const Case c{"bidirectional", 1, 2, 5, true, lbr};
    Node n = gru_node(c);
    n.inputs[3] = "";
    n.outputs[0] = "";  // Y_h only
    auto in = gru_inputs(c, 4, 3, 7);
    in[3] = Tensor();
    expect_same(n, in, "no bias, Y omitted, lbr=" + std::to_string(lbr));
  }
}

TEST(GruFast, HandsUncommonCasesToTheReference) {
  const Case c{"forward", 0, 2, 6, true, 0};
  auto in = gru_inputs(c, 4, 3, 11);
  expect_same(gru_node(c), in, "training", /*training=*/true);
  {  // sequence_lens shorter than seq
    Node n = gru_node(c);
    n.inputs[4] = "lens";
    auto ins = in;
    ins[4] = Tensor::from_vector<int32_t>({2}, {4, 1});
    expect_same(n, ins, "sequence_lens");
  }
  {  // clip and non-default activations
    Node n = gru_node(c);
    n.set_attr("clip", 0.5f);
    n.set_attr("activations", std::vector<std::string>{"Relu", "Tanh"});
    expect_same(n, in, "clip + Relu");
  }
}

TEST(GruFast, SameErrorsAsReference) {
  const Case c{"forward", 0, 1, 4, false, 0};
  auto in = gru_inputs(c, 3, 2, 5);
  in[1] = random_f32({1, 12, 3}, 6);  // W needs [1, 12, 2]
  const OpDef* op = find_op("GRU");
  EXPECT_THROW(run_with(op->forward_fast, gru_node(c), in), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

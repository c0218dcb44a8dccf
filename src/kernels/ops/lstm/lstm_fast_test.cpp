// LSTM fast forward (lstm_fast.cpp) against the reference over direction x layout x batch x hidden x
// initial states, plus the cases it hands to the reference (training, peepholes, sequence_lens);
// with a prepared state (as a Session runs it): the fused small-batch step and the packed GEMM
// path over randomized shapes, and a state built from other weights is ignored.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

std::vector<Tensor> run_with(ForwardFn fn, const Node& n, const std::vector<Tensor>& in, bool training = false,
                             const OpState* state = nullptr) {
  std::vector<Tensor> out(n.outputs.size());
  std::vector<Tensor> saved;
  ForwardCtx ctx{n, in, out};
  ctx.training = training;
  ctx.state = state;
  if (training) ctx.saved = &saved;
  fn(ctx);
  return out;
}

void expect_same(const Node& n, const std::vector<Tensor>& in, const std::string& what, bool training = false,
                 const OpState* state = nullptr) {
  const OpDef* op = find_op("LSTM");
  ASSERT_NE(op, nullptr);
  ASSERT_NE(op->forward_fast, nullptr);
  const auto want = run_with(op->forward, n, in, training);
  const auto got = run_with(op->forward_fast, n, in, training, state);
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
};

Node lstm_node(const Case& c) {
  Node n = make_node("LSTM", 7, 3);
  n.inputs[4] = "";
  if (!c.init) n.inputs[5] = n.inputs[6] = "";
  n.set_attr("hidden_size", c.hidden);
  n.set_attr("direction", c.direction);
  if (c.layout) n.set_attr("layout", c.layout);
  return n;
}

std::vector<Tensor> lstm_inputs(const Case& c, int64_t seq, int64_t input, uint64_t seed) {
  const int64_t D = c.direction == "bidirectional" ? 2 : 1, H = c.hidden, B = c.batch;
  const Shape xs = c.layout == 0 ? Shape{seq, B, input} : Shape{B, seq, input};
  const Shape ss = c.layout == 0 ? Shape{D, B, H} : Shape{B, D, H};
  std::vector<Tensor> in = {random_f32(xs, seed, -2.f, 2.f), random_f32({D, 4 * H, input}, seed + 1, -0.5f, 0.5f),
                            random_f32({D, 4 * H, H}, seed + 2, -0.5f, 0.5f), random_f32({D, 8 * H}, seed + 3),
                            Tensor(), Tensor(), Tensor()};
  if (c.init) {
    in[5] = random_f32(ss, seed + 4);
    in[6] = random_f32(ss, seed + 5);
  }
  return in;
}

TEST(LstmFast, MatchesReferenceAcrossConfigs) {
  uint64_t seed = 100;
  for (const std::string dir : {"forward", "reverse", "bidirectional"})
    for (int64_t layout : {0, 1})
      for (int64_t batch : {1, 3})
        for (int64_t hidden : {4, 17, 64})
          for (bool init : {false, true}) {
            const Case c{dir, layout, batch, hidden, init};
            const std::string what = dir + " layout=" + std::to_string(layout) + " batch=" + std::to_string(batch) +
                                      " hidden=" + std::to_string(hidden) + (init ? " init" : " no-init");
            expect_same(lstm_node(c), lstm_inputs(c, 5, 7, seed += 10), what);
          }
}

TEST(LstmFast, NoBiasAndOutputSubsets) {
  const Case c{"bidirectional", 0, 2, 5, true};
  Node n = lstm_node(c);
  n.inputs[3] = "";
  n.outputs[0] = "";  // Y_h and Y_c only
  auto in = lstm_inputs(c, 4, 3, 7);
  in[3] = Tensor();
  expect_same(n, in, "no bias, Y omitted");
}

TEST(LstmFast, HandsUncommonCasesToTheReference) {
  const Case c{"forward", 0, 2, 6, true};
  auto in = lstm_inputs(c, 4, 3, 11);
  expect_same(lstm_node(c), in, "training", /*training=*/true);
  {  // peepholes
    Node n = make_node("LSTM", 8, 3);
    n.inputs[4] = "";
    n.set_attr("hidden_size", c.hidden);
    auto inp = in;
    inp.push_back(random_f32({1, 3 * c.hidden}, 12));
    expect_same(n, inp, "peepholes");
  }
  {  // sequence_lens shorter than seq
    Node n = lstm_node(c);
    n.inputs[4] = "lens";
    auto ins = in;
    ins[4] = Tensor::from_vector<int32_t>({2}, {4, 2});
    expect_same(n, ins, "sequence_lens");
  }
  {  // clip and input_forget
    Node n = lstm_node(c);
    n.set_attr("clip", 0.5f);
    n.set_attr("input_forget", int64_t{1});
    expect_same(n, in, "clip + input_forget");
  }
}

// What a Session's prepare sees: the constant inputs (W, R, B) defined, the per-run ones not.
std::shared_ptr<const OpState> prepare_for(const Node& n, const std::vector<Tensor>& in) {
  const OpDef* op = find_op("LSTM");
  std::vector<Tensor> consts(in.size());
  for (size_t i = 1; i <= 3 && i < in.size(); ++i) consts[i] = in[i];
  return op->prepare(PrepareCtx{n, consts, 17});
}

TEST(LstmFast, PreparedStateMatchesReferenceOnRandomShapes) {
  const OpDef* op = find_op("LSTM");
  ASSERT_NE(op->prepare, nullptr);
  std::mt19937_64 rng(2026);
  auto pick = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  const char* dirs[] = {"forward", "reverse", "bidirectional"};
  for (int it = 0; it < 60; ++it) {
    // Batches 1-4 take the fused step, larger ones the packed GEMM; hidden sizes cross the 16-unit
    // blocks (1, 15, 16, 17, 33, ...).
    const Case c{dirs[pick(0, 2)], pick(0, 1), it % 4 == 3 ? pick(5, 9) : pick(1, 4), pick(1, 70), pick(0, 1) == 1};
    const int64_t seq = pick(1, 9), input = pick(1, 40);
    Node n = lstm_node(c);
    auto in = lstm_inputs(c, seq, input, 5000 + 17 * static_cast<uint64_t>(it));
    const bool no_bias = it % 7 == 5;
    if (no_bias) {
      n.inputs[3] = "";
      in[3] = Tensor();
    }
    if (it % 5 == 4) n.outputs[0] = "";  // Y omitted: only the final states
    auto st = prepare_for(n, in);
    ASSERT_NE(st, nullptr);
    const std::string what = c.direction + " layout=" + std::to_string(c.layout) + " batch=" + std::to_string(c.batch) +
                             " hidden=" + std::to_string(c.hidden) + " seq=" + std::to_string(seq) +
                             " input=" + std::to_string(input) + (c.init ? " init" : "") + (no_bias ? " no-bias" : "");
    expect_same(n, in, what + " (prepared)", false, st.get());
  }
}

TEST(LstmFast, StateFromOtherWeightsIsIgnored) {
  const Case c{"forward", 0, 1, 20, true};
  const Node n = lstm_node(c);
  const auto a = lstm_inputs(c, 6, 5, 31);
  const auto b = lstm_inputs(c, 6, 5, 77);  // same shapes, other weights
  auto st = prepare_for(n, a);
  ASSERT_NE(st, nullptr);
  expect_same(n, b, "state from other weights", false, st.get());
  auto sliced = b;  // same weights as the state, other bias
  sliced[1] = a[1];
  sliced[2] = a[2];
  expect_same(n, sliced, "state with another bias", false, st.get());
}

// The forward reads the packed copies, not W/R/B: prepare, then change the weights in place (same
// storage, so the state still matches): the result is the reference on the weights prepare saw.
TEST(LstmFast, PreparedStateIsWhatRuns) {
  const OpDef* op = find_op("LSTM");
  for (int64_t batch : {1, 6}) {  // the fused step and the packed GEMM path
    const Case c{"forward", 0, batch, 24, true};
    const Node n = lstm_node(c);
    auto in = lstm_inputs(c, 5, 9, 90 + static_cast<uint64_t>(batch));
    std::vector<Tensor> seen = in;
    for (size_t i = 1; i <= 3; ++i) seen[i] = in[i].clone();
    auto st = prepare_for(n, in);
    ASSERT_NE(st, nullptr);
    for (size_t i = 1; i <= 3; ++i)
      for (int64_t k = 0; k < in[i].numel(); ++k) in[i].data<float>()[k] *= -1.f;
    const auto want = run_with(op->forward, n, seen);
    const auto got = run_with(op->forward_fast, n, in, false, st.get());
    for (size_t i = 0; i < want.size(); ++i)
      expect_close(want[i], got[i], 1e-5, 1e-5, "batch " + std::to_string(batch) + " output " + std::to_string(i));
  }
}

TEST(LstmFast, PrepareDeclinesWeightsFedAtRunTime) {
  const Case c{"forward", 0, 1, 8, false};
  const Node n = lstm_node(c);
  std::vector<Tensor> consts(7);  // W and R are per-run inputs
  EXPECT_EQ(find_op("LSTM")->prepare(PrepareCtx{n, consts, 17}), nullptr);
}

TEST(LstmFast, SameErrorsAsReference) {
  const Case c{"forward", 0, 1, 4, false};
  auto in = lstm_inputs(c, 3, 2, 5);
  in[2] = random_f32({1, 16, 5}, 6);  // R needs [1, 16, 4]
  const OpDef* op = find_op("LSTM");
  EXPECT_THROW(run_with(op->forward_fast, lstm_node(c), in), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

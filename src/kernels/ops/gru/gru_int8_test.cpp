// GRUDynamicInt8 (gru_int8.h): the fast forward against the int8 reference on every int8 ISA this
// CPU runs (prepared and not; direction x layout x batch x hidden x linear_before_reset x
// sequence_lens x initial state); both against the f32 GRU on the dequantized weights (the
// accuracy the rewrite costs); the cases the fast path hands to the reference; input errors.
#include <gtest/gtest.h>

#include <string>

#include "kernels/ops/rnn/rnn_int8_testing.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

using Case = RecurrentCase;

Problem make_problem(const Case& c, uint64_t seed) {
  const int64_t D = c.dirs(), H = c.hidden, B = c.batch, S = c.seq;
  const Shape xs = c.layout == 0 ? Shape{S, B, c.input} : Shape{B, S, c.input};
  const QuantWeights w = quantize_weights(random_f32({D, 3 * H, c.input}, seed + 1, -0.5f, 0.5f), c.per_row);
  const QuantWeights r = quantize_weights(random_f32({D, 3 * H, H}, seed + 2, -0.5f, 0.5f), c.per_row);
  Problem p;
  p.int8_node = make_node("GRUDynamicInt8", 8, 2);
  if (!c.lens) p.int8_node.inputs[4] = "";
  if (!c.init) p.int8_node.inputs[5] = "";
  p.int8_node.set_attr("hidden_size", H);
  p.int8_node.set_attr("direction", c.direction);
  if (c.layout) p.int8_node.set_attr("layout", c.layout);
  if (c.lbr) p.int8_node.set_attr("linear_before_reset", int64_t{1});
  p.f32_node = p.int8_node;
  p.f32_node.op_type = "GRU";
  p.f32_node.inputs.resize(6);
  p.int8_in = {random_f32(xs, seed, -2.f, 2.f), w.codes, r.codes, random_f32({D, 6 * H}, seed + 3), Tensor(),
               Tensor(), w.scale, r.scale};
  if (c.lens) {
    std::vector<int32_t> lens(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) lens[b] = static_cast<int32_t>(std::max<int64_t>(0, S - 1 - 2 * b));  // 4, 2, 0
    p.int8_in[4] = Tensor::from_vector<int32_t>({B}, lens);
  }
  if (c.init) p.int8_in[5] = random_f32(c.layout == 0 ? Shape{D, B, H} : Shape{B, D, H}, seed + 4);
  p.f32_in.assign(p.int8_in.begin(), p.int8_in.begin() + 6);
  p.f32_in[1] = w.dequantized;
  p.f32_in[2] = r.dequantized;
  return p;
}


TEST(GruDynamicInt8, FastMatchesReferenceOnEveryInt8Isa) {
  expect_fast_matches_reference_on_every_isa(recurrent_sweep(true), make_problem, 500, {1, 2, 3, 6, 7});
}

// Against GRU on the same (dequantized) weights, X in [-2, 2], |h| < 1: within 0.05 (observed ~0.01).
TEST(GruDynamicInt8, CloseToF32GruOnDequantizedWeights) {
  expect_close_to_f32(recurrent_sweep(true), make_problem, 700, 0.05);
}

TEST(GruDynamicInt8, HandsUncommonCasesToTheReferenceAndIgnoresForeignStates) {
  const OpDef* op = find_op("GRUDynamicInt8");
  Case c;
  c.batch = 2;
  c.hidden = 6;
  c.init = true;
  const Problem p = make_problem(c, 11);
  Node n = p.int8_node;
  n.set_attr("clip", 0.5f);
  expect_outputs_close(run_with(op->forward, n, p.int8_in), run_with(op->forward_fast, n, p.int8_in), 0, 0, "clip");
  // A state prepared for linear_before_reset = 1 (or for other weights) is not used for this node.
  Node lbr = p.int8_node;
  lbr.set_attr("linear_before_reset", int64_t{1});
  const auto st = prepare_for(lbr, p.int8_in, {1, 2, 3, 6, 7});
  expect_outputs_close(run_with(op->forward, p.int8_node, p.int8_in),
                       run_with(op->forward_fast, p.int8_node, p.int8_in, st.get()), 1e-4, 1e-4, "foreign state");
}

TEST(GruDynamicInt8, BadInputsNameTheTensor) {
  const Problem p = make_problem(Case{}, 5);
  auto in = p.int8_in;
  in[2] = p.f32_in[2];
  expect_error(p.int8_node, in, "input R is f32");
  in = p.int8_in;
  in[6] = Tensor::from_vector<float>({5}, {1.f, 1.f, 1.f, 1.f, 1.f});
  expect_error(p.int8_node, in, "input W_scale has shape [5]");
  in = p.int8_in;
  in[7] = Tensor::from_vector<float>({1}, {0.f});
  expect_error(p.int8_node, in, "input R_scale[0]");
  in.pop_back();
  expect_error(p.int8_node, in, "input R_scale (input 7) is required");
}

}  // namespace
}  // namespace edgeopt::kernels::testing

// Test helpers of the int8-weight recurrent ops (LSTMDynamicInt8, GRUDynamicInt8): int8 weights
// from f32 ones, running one forward function, comparing every output.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/quant/requantize.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

// One LSTM/GRU test shape; lbr (GRU's linear_before_reset) is ignored by LSTM.
struct RecurrentCase {
  std::string direction = "forward";
  int64_t layout = 0, batch = 1, hidden = 4, seq = 5, input = 7;
  bool lbr = false, init = false, lens = false, per_row = true;
  std::string describe() const {
    return direction + " layout=" + std::to_string(layout) + " batch=" + std::to_string(batch) +
           " hidden=" + std::to_string(hidden) + " seq=" + std::to_string(seq) + " input=" + std::to_string(input) +
           " lbr=" + std::to_string(lbr) + (init ? " init" : "") + (lens ? " lens" : "") +
           (per_row ? " per-row" : " per-tensor");
  }
  int64_t dirs() const { return direction == "bidirectional" ? 2 : 1; }
};

// direction x layout x batch {1, 3} x hidden {4, 17, 64} (x linear_before_reset with `lbr_too`),
// initial states, sequence lengths and per-row / per-tensor scales spread over the cases.
inline std::vector<RecurrentCase> recurrent_sweep(bool lbr_too) {
  std::vector<RecurrentCase> cases;
  for (const std::string dir : {"forward", "reverse", "bidirectional"})
    for (int64_t layout : {0, 1})
      for (int64_t batch : {1, 3})
        for (int64_t hidden : {4, 17, 64})
          for (bool lbr : {false, true}) {
            if (lbr && !lbr_too) continue;
            RecurrentCase c;
            c.direction = dir;
            c.layout = layout;
            c.batch = batch;
            c.hidden = hidden;
            c.lbr = lbr;
            c.init = hidden != 17;
            c.lens = batch > 1 && hidden != 4;
            c.per_row = hidden != 64;
            cases.push_back(c);
          }
  return cases;
}

// f32 weights [dirs, rows, cols] -> symmetric int8 codes (-127..127) with one scale per gate row
// (shared by the directions, as DequantizeLinear axis 1) or per tensor; and their dequantized f32.
struct QuantWeights {
  Tensor codes, scale, dequantized;
};
inline QuantWeights quantize_weights(const Tensor& w, bool per_row) {
  const int64_t dirs = w.shape()[0], rows = w.shape()[1], cols = w.shape()[2];
  QuantWeights q{Tensor(DType::kI8, w.shape()), Tensor(DType::kF32, Shape{per_row ? rows : 1}),
                 Tensor(DType::kF32, w.shape())};
  const float* pw = w.data<float>();
  float* s = q.scale.data<float>();
  std::fill(s, s + q.scale.numel(), 0.f);
  for (int64_t d = 0; d < dirs; ++d)
    for (int64_t k = 0; k < rows; ++k)
      for (int64_t i = 0; i < cols; ++i) {
        float& m = s[per_row ? k : 0];
        m = std::max(m, std::fabs(pw[(d * rows + k) * cols + i]) / 127.f);
      }
  for (int64_t e = 0; e < w.numel(); ++e) {
    const float sc = s[per_row ? (e / cols) % rows : 0];
    const int32_t c = quant::quantize_f32(pw[e], sc, 0, -127, 127);
    q.codes.data<int8_t>()[e] = static_cast<int8_t>(c);
    q.dequantized.data<float>()[e] = quant::dequantize_f32(c, sc, 0);
  }
  return q;
}

inline std::vector<Tensor> run_with(ForwardFn fn, const Node& n, const std::vector<Tensor>& in,
                                    const OpState* state = nullptr) {
  std::vector<Tensor> out(n.outputs.size());
  ForwardCtx ctx{n, in, out};
  ctx.state = state;
  fn(ctx);
  return out;
}

inline void expect_outputs_close(const std::vector<Tensor>& want, const std::vector<Tensor>& got, double atol,
                                 double rtol, const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(want[i].defined(), got[i].defined()) << what << " output " << i;
    if (want[i].defined()) expect_close(want[i], got[i], atol, rtol, what + " output " + std::to_string(i));
  }
}

// What a Session's prepare sees: the inputs at `constants` defined, the per-run ones not.
inline std::shared_ptr<const OpState> prepare_for(const Node& n, const std::vector<Tensor>& in,
                                                  std::initializer_list<size_t> constants) {
  std::vector<Tensor> consts(in.size());
  for (size_t i : constants) consts[i] = in[i];
  return find_op(n.op_type)->prepare(PrepareCtx{n, consts, 17});
}

// Both forwards of n's op throw an Error whose message contains `needle`.
inline void expect_error(const Node& n, const std::vector<Tensor>& in, const std::string& needle) {
  for (ForwardFn fn : {find_op(n.op_type)->forward, find_op(n.op_type)->forward_fast}) {
    try {
      run_with(fn, n, in);
      ADD_FAILURE() << "no error; expected one naming " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
}

// One case: the int8 node and inputs, and the f32 op's node and inputs on the dequantized weights.
struct Problem {
  Node f32_node, int8_node;
  std::vector<Tensor> f32_in, int8_in;
};

// The fast forward against the reference on every int8 ISA this CPU runs, unprepared and prepared
// (prepare sees the inputs at `constants`), within 1e-4 abs + rel: equal up to the vectorized gate
// steps' f32 rounding, the margin over 1e-5 for a code of h flipping at a rounding tie.
template <class Case, class Make>
void expect_fast_matches_reference_on_every_isa(const std::vector<Case>& cases, Make make_problem, uint64_t seed,
                                                std::initializer_list<size_t> constants) {
  for (gemm_int8::Isa isa : gemm_int8::supported_isas()) {
    gemm_int8::ScopedForcedIsa forced(isa);
    uint64_t s = seed;
    for (const Case& c : cases) {
      const Problem p = make_problem(c, s += 10);
      const OpDef* op = find_op(p.int8_node.op_type);
      ASSERT_TRUE(op && op->forward_fast && op->prepare);
      const std::string what = std::string(gemm_int8::isa_name(isa)) + " " + c.describe();
      const auto want = run_with(op->forward, p.int8_node, p.int8_in);
      expect_outputs_close(want, run_with(op->forward_fast, p.int8_node, p.int8_in), 1e-4, 1e-4, what);
      const auto st = prepare_for(p.int8_node, p.int8_in, constants);
      ASSERT_NE(st, nullptr) << what;
      expect_outputs_close(want, run_with(op->forward_fast, p.int8_node, p.int8_in, st.get()), 1e-4, 1e-4,
                           what + " (prepared)");
    }
  }
}

// Both forwards of the int8 op within atol of the f32 op on the dequantized weights.
template <class Case, class Make>
void expect_close_to_f32(const std::vector<Case>& cases, Make make_problem, uint64_t seed, double atol) {
  for (const Case& c : cases) {
    const Problem p = make_problem(c, seed += 10);
    const OpDef* op = find_op(p.int8_node.op_type);
    const auto want = run_op(p.f32_node, p.f32_in);
    expect_outputs_close(want, run_with(op->forward, p.int8_node, p.int8_in), atol, 0, "reference " + c.describe());
    expect_outputs_close(want, run_with(op->forward_fast, p.int8_node, p.int8_in), atol, 0, "fast " + c.describe());
  }
}

}  // namespace edgeopt::kernels::testing

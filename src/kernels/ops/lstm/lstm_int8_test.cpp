// LSTMDynamicInt8 (lstm_int8.h): the fast forward against the int8 reference on every int8 ISA this
// CPU runs (prepared and not, direction x layout x batch x hidden x sequence_lens x initial states);
// the reference against an independent oracle (LSTM's f32 reference run one step at a time on the
// same quantized activations and the dequantized weights); both against the f32 LSTM on the
// dequantized weights (the accuracy the rewrite costs); input errors naming the tensor.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "kernels/quant/dynamic_quant.h"
#include "kernels/ops/rnn/rnn_int8_testing.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

using Case = RecurrentCase;

Node int8_node(const Case& c) {
  Node n = make_node("LSTMDynamicInt8", 10, 3);
  if (!c.lens) n.inputs[4] = "";
  if (!c.init) n.inputs[5] = n.inputs[6] = "";
  n.inputs[7] = "";
  n.set_attr("hidden_size", c.hidden);
  n.set_attr("direction", c.direction);
  if (c.layout) n.set_attr("layout", c.layout);
  return n;
}

Problem make_problem(const Case& c, uint64_t seed) {
  const int64_t D = c.dirs(), H = c.hidden, B = c.batch, S = c.seq;
  const Shape xs = c.layout == 0 ? Shape{S, B, c.input} : Shape{B, S, c.input};
  const Shape ss = c.layout == 0 ? Shape{D, B, H} : Shape{B, D, H};
  const QuantWeights w = quantize_weights(random_f32({D, 4 * H, c.input}, seed + 1, -0.5f, 0.5f), c.per_row);
  const QuantWeights r = quantize_weights(random_f32({D, 4 * H, H}, seed + 2, -0.5f, 0.5f), c.per_row);
  Problem p;
  p.int8_node = int8_node(c);
  p.f32_node = p.int8_node;
  p.f32_node.op_type = "LSTM";
  p.f32_node.inputs.resize(8);
  p.int8_in = {random_f32(xs, seed, -2.f, 2.f), w.codes, r.codes, random_f32({D, 8 * H}, seed + 3), Tensor(),
               Tensor(), Tensor(), Tensor(), w.scale, r.scale};
  if (c.lens) {
    std::vector<int32_t> lens(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) lens[b] = static_cast<int32_t>(std::max<int64_t>(0, S - 1 - 2 * b));  // 4, 2, 0
    p.int8_in[4] = Tensor::from_vector<int32_t>({B}, lens);
  }
  if (c.init) {
    p.int8_in[5] = random_f32(ss, seed + 4);
    p.int8_in[6] = random_f32(ss, seed + 5);
  }
  p.f32_in.assign(p.int8_in.begin(), p.int8_in.begin() + 8);
  p.f32_in[1] = w.dequantized;
  p.f32_in[2] = r.dequantized;
  return p;
}

std::shared_ptr<const OpState> prepare_for(const Node& n, const std::vector<Tensor>& in) {
  return testing::prepare_for(n, in, {1, 2, 3, 8, 9});
}


TEST(LstmDynamicInt8, FastMatchesReferenceOnEveryInt8Isa) {
  expect_fast_matches_reference_on_every_isa(recurrent_sweep(false), make_problem, 300, {1, 2, 3, 8, 9});
}

// Oracle: LSTM's f32 reference, one step at a time (seq 1 per direction), fed X and h through
// quantize -> dequantize with the dynamic ranges the int8 op must use (all of X once; all batch rows
// of h per step), on the dequantized weights. Only the f32 summation order differs.
TEST(LstmDynamicInt8, ReferenceEqualsF32LstmOnQuantizedActivations) {
  for (const std::string dir : {"forward", "bidirectional"})
    for (bool per_row : {true, false}) {
      Case c;
      c.direction = dir;
      c.batch = 2;
      c.hidden = 9;
      c.init = true;
      c.per_row = per_row;
      const Problem p = make_problem(c, 77);
      const int64_t H = c.hidden, B = c.batch, S = c.seq, I = c.input, D = c.dirs();
      const auto got = run_with(find_op("LSTMDynamicInt8")->forward, p.int8_node, p.int8_in);

      auto fake_quant = [](const float* v, int64_t n, float* out) {
        const quant::DynamicQ8Params q = quant::dynamic_u8_params(v, 1, n, n);
        for (int64_t i = 0; i < n; ++i) out[i] = quant::fake_quantize_f32(v[i], q.scale, q.zero_point, 0, 255);
      };
      Tensor xq(DType::kF32, p.f32_in[0].shape());
      fake_quant(p.f32_in[0].data<float>(), xq.numel(), xq.data<float>());
      Tensor y = Tensor::zeros(DType::kF32, {S, D, B, H});
      for (int64_t d = 0; d < D; ++d) {
        Node step = make_node("LSTM", 7, 3);
        step.inputs[4] = "";
        step.set_attr("hidden_size", H);
        auto slice = [&](const Tensor& t, int64_t rows) {  // direction d of a [dirs, ...] tensor
          Shape s = t.shape();
          s = rows == 2 ? Shape{1, s[1]} : Shape{1, s[1], s[2]};
          Tensor out(DType::kF32, s);
          std::copy_n(t.data<float>() + d * out.numel(), out.numel(), out.data<float>());
          return out;
        };
        Tensor h(DType::kF32, {1, B, H}), cc(DType::kF32, {1, B, H});
        std::copy_n(p.f32_in[5].data<float>() + d * B * H, B * H, h.data<float>());
        std::copy_n(p.f32_in[6].data<float>() + d * B * H, B * H, cc.data<float>());
        for (int64_t s = 0; s < S; ++s) {
          const int64_t t = d == 1 ? S - 1 - s : s;
          Tensor xt(DType::kF32, {1, B, I}), hq(DType::kF32, {1, B, H});
          std::copy_n(xq.data<float>() + t * B * I, B * I, xt.data<float>());
          fake_quant(h.data<float>(), B * H, hq.data<float>());
          const auto o = run_op(step, {xt, slice(p.f32_in[1], 3), slice(p.f32_in[2], 3), slice(p.f32_in[3], 2),
                                       Tensor(), hq, cc});
          h = o[1];
          cc = o[2];
          std::copy_n(h.data<float>(), B * H, y.data<float>() + (t * D + d) * B * H);
        }
      }
      expect_close(y, got[0], 2e-5, 1e-5, "int8 reference vs f32 LSTM on quantized activations, " + c.describe());
    }
}

// The accuracy the int8 path costs against LSTM on the same (dequantized) weights, with X in
// [-2, 2] and |h| < 1: X's step is 4/255, h's at most 2/255, so a gate pre-activation moves by at
// most ~(I + H) * 0.5 * step / 2; the outputs stay within 0.05 (observed: ~0.01).
TEST(LstmDynamicInt8, CloseToF32LstmOnDequantizedWeights) {
  expect_close_to_f32(recurrent_sweep(false), make_problem, 900, 0.05);
}

TEST(LstmDynamicInt8, HandsUncommonCasesToTheReference) {
  const OpDef* op = find_op("LSTMDynamicInt8");
  Case c;
  c.batch = 2;
  c.hidden = 6;
  c.init = true;
  Problem p = make_problem(c, 11);
  Node n = p.int8_node;
  n.set_attr("clip", 0.5f);
  n.set_attr("input_forget", int64_t{1});
  expect_outputs_close(run_with(op->forward, n, p.int8_in), run_with(op->forward_fast, n, p.int8_in), 0, 0,
                       "clip + input_forget");
  n = p.int8_node;
  n.inputs[7] = "p";
  auto in = p.int8_in;
  in[7] = random_f32({1, 3 * c.hidden}, 12);
  expect_outputs_close(run_with(op->forward, n, in), run_with(op->forward_fast, n, in), 0, 0, "peepholes");
  // Omitted outputs stay omitted.
  n = p.int8_node;
  n.outputs[0] = n.outputs[2] = "";
  const auto only_h = run_with(op->forward_fast, n, p.int8_in);
  EXPECT_FALSE(only_h[0].defined());
  EXPECT_TRUE(only_h[1].defined());
}

TEST(LstmDynamicInt8, StateFromOtherWeightsIsIgnored) {
  const OpDef* op = find_op("LSTMDynamicInt8");
  Case c;
  c.hidden = 8;
  const Problem a = make_problem(c, 21), b = make_problem(c, 31);
  const auto st = prepare_for(a.int8_node, a.int8_in);
  expect_outputs_close(run_with(op->forward, b.int8_node, b.int8_in),
                       run_with(op->forward_fast, b.int8_node, b.int8_in, st.get()), 1e-4, 1e-4, "other weights");
}

TEST(LstmDynamicInt8, BadInputsNameTheTensor) {
  Case c;
  const Problem p = make_problem(c, 5);
  auto in = p.int8_in;
  in[1] = p.f32_in[1];  // f32 weights
  expect_error(p.int8_node, in, "input W is f32");
  in = p.int8_in;
  in[2] = Tensor(DType::kI8, {1, 16, 3});
  expect_error(p.int8_node, in, "input R has shape [1,16,3]");
  in = p.int8_in;
  in[8] = Tensor::from_vector<float>({3}, {1.f, 1.f, 1.f});
  expect_error(p.int8_node, in, "input W_scale has shape [3]");
  in = p.int8_in;
  in[9] = Tensor::from_vector<float>({1}, {-0.5f});
  expect_error(p.int8_node, in, "input R_scale[0]");
  in = p.int8_in;
  in[9] = Tensor();
  expect_error(p.int8_node, in, "input R_scale (input 9) is required");
  in = p.int8_in;
  in[8] = Tensor::from_vector<int32_t>({1}, {1});
  expect_error(p.int8_node, in, "input W_scale is i32");
}

}  // namespace
}  // namespace edgeopt::kernels::testing

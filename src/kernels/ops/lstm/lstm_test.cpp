// LSTM: a scalar hand formulation for the attributes (peepholes, clip, input_forget, activations
// with alpha/beta), gradients by finite differences, errors. The ONNX node tests are in
// lstm_onnx_node_test.cpp, direction/layout/sequence_lens properties in rnn/.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }

// hidden 1, input 1, batch 1: every matrix is a scalar per gate [i, o, f, c].
struct ScalarLstm {
  std::vector<float> x = {0.5f, -1.0f, 2.0f};
  std::vector<float> w = {0.9f, -0.6f, 0.4f, 1.3f}, r = {0.3f, 0.8f, -0.5f, -0.7f};
  std::vector<float> b = {0.1f, -0.2f, 0.3f, 0.05f, -0.1f, 0.2f, 0.15f, -0.3f};
  std::vector<float> p = {0.4f, -0.3f, 0.6f};  // [i, o, f]
  float h0 = 0.2f, c0 = -0.4f;

  // The ONNX equations, written out for scalars in double.
  std::vector<double> run(bool peep, double clip, bool input_forget, double (*f)(double), double (*g)(double),
                          double (*h)(double)) const {
    auto cl = [&](double v) { return clip > 0 ? std::clamp(v, -clip, clip) : v; };
    double hp = h0, cp = c0;
    std::vector<double> y;
    for (float xt : x) {
      auto pre = [&](int k) { return xt * w[k] + hp * r[k] + b[k] + b[4 + k]; };
      double i = f(cl(pre(0) + (peep ? p[0] * cp : 0)));
      double fg = input_forget ? 1 - i : f(cl(pre(2) + (peep ? p[2] * cp : 0)));
      double c = fg * cp + i * g(cl(pre(3)));
      double o = f(cl(pre(1) + (peep ? p[1] * c : 0)));
      hp = o * h(c);
      cp = c;
      y.push_back(hp);
    }
    y.push_back(cp);
    return y;
  }

  std::vector<Tensor> inputs(bool peep) const {
    const int64_t S = static_cast<int64_t>(x.size());
    std::vector<Tensor> in = {Tensor::from_vector<float>({S, 1, 1}, x), Tensor::from_vector<float>({1, 4, 1}, w),
                              Tensor::from_vector<float>({1, 4, 1}, r), Tensor::from_vector<float>({1, 8}, b),
                              Tensor(), Tensor::from_vector<float>({1, 1, 1}, {h0}),
                              Tensor::from_vector<float>({1, 1, 1}, {c0})};
    if (peep) in.push_back(Tensor::from_vector<float>({1, 3}, p));
    return in;
  }
};

Node lstm_node(size_t n_in) {
  Node n = make_node("LSTM", n_in, 3);
  n.inputs[4] = "";
  return n;
}

void expect_scalar(const std::vector<double>& want, const std::vector<Tensor>& got, const std::string& what) {
  const size_t S = want.size() - 1;
  for (size_t t = 0; t < S; ++t) EXPECT_NEAR(want[t], got[0].data<float>()[t], 1e-5) << what << " Y t=" << t;
  EXPECT_NEAR(want[S - 1], got[1].data<float>()[0], 1e-5) << what << " Y_h";
  EXPECT_NEAR(want[S], got[2].data<float>()[0], 1e-5) << what << " Y_c";
}

double tanh_d(double v) { return std::tanh(v); }
double relu_d(double v) { return v > 0 ? v : 0; }
double hard_sigmoid_d(double v) { return std::clamp(0.3 * v + 0.4, 0.0, 1.0); }
double leaky_d(double v) { return v >= 0 ? v : 0.2 * v; }
double scaled_tanh_d(double v) { return 1.5 * std::tanh(0.5 * v); }

TEST(Lstm, DefaultsMatchScalarFormulation) {
  ScalarLstm c;
  Node n = lstm_node(7);
  expect_scalar(c.run(false, 0, false, sigmoid, tanh_d, tanh_d), run_op(n, c.inputs(false)), "defaults");
}

TEST(Lstm, PeepholesClipInputForget) {
  ScalarLstm c;
  Node n = lstm_node(8);
  expect_scalar(c.run(true, 0, false, sigmoid, tanh_d, tanh_d), run_op(n, c.inputs(true)), "peepholes");
  n.set_attr("clip", 0.25f);
  expect_scalar(c.run(true, 0.25, false, sigmoid, tanh_d, tanh_d), run_op(n, c.inputs(true)), "clip");
  n.set_attr("input_forget", int64_t{1});
  expect_scalar(c.run(true, 0.25, true, sigmoid, tanh_d, tanh_d), run_op(n, c.inputs(true)), "input_forget");
}

TEST(Lstm, ActivationsWithAlphaBeta) {
  ScalarLstm c;
  Node n = lstm_node(7);
  // alpha/beta are consumed in order by the activations that take them: HardSigmoid (0.3, 0.4),
  // LeakyRelu (0.2), ScaledTanh (1.5, 0.5).
  n.set_attr("activations", std::vector<std::string>{"HardSigmoid", "LeakyRelu", "ScaledTanh"});
  n.set_attr("activation_alpha", std::vector<float>{0.3f, 0.2f, 1.5f});
  n.set_attr("activation_beta", std::vector<float>{0.4f, 0.5f});
  expect_scalar(c.run(false, 0, false, hard_sigmoid_d, leaky_d, scaled_tanh_d), run_op(n, c.inputs(false)), "alpha");
  n.attrs.erase("activation_alpha");
  n.attrs.erase("activation_beta");
  n.set_attr("activations", std::vector<std::string>{"sigmoid", "relu", "tanh"});  // names are case-insensitive
  expect_scalar(c.run(false, 0, false, sigmoid, relu_d, tanh_d), run_op(n, c.inputs(false)), "relu");
}

TEST(Lstm, OutputsAreOptional) {
  ScalarLstm c;
  Node n = lstm_node(7);
  n.outputs = {"", "", "yc"};
  auto y = run_op(n, c.inputs(false));
  EXPECT_FALSE(y[0].defined());
  EXPECT_FALSE(y[1].defined());
  ASSERT_TRUE(y[2].defined());
  EXPECT_NEAR(c.run(false, 0, false, sigmoid, tanh_d, tanh_d).back(), y[2].data<float>()[0], 1e-5);
}

// Seq 3, batch 2, input 3, hidden 4 (layout 0 unless `layout`), all of B, initial_h, initial_c.
std::vector<Tensor> grad_inputs(int64_t layout, int64_t dirs, uint64_t seed) {
  constexpr int64_t S = 3, Bn = 2, I = 3, H = 4;
  Shape x = layout == 0 ? Shape{S, Bn, I} : Shape{Bn, S, I};
  Shape st = layout == 0 ? Shape{dirs, Bn, H} : Shape{Bn, dirs, H};
  return {random_f32(x, seed), random_f32({dirs, 4 * H, I}, seed + 1, -0.6f, 0.6f),
          random_f32({dirs, 4 * H, H}, seed + 2, -0.6f, 0.6f), random_f32({dirs, 8 * H}, seed + 3, -0.5f, 0.5f),
          Tensor(), random_f32(st, seed + 4), random_f32(st, seed + 5)};
}

TEST(Lstm, GradientLayout0AllOutputs) {
  Node n = lstm_node(7);
  expect_gradients_match(n, grad_inputs(0, 1, 100));
}

TEST(Lstm, GradientLayout1AllOutputs) {
  Node n = lstm_node(7);
  n.set_attr("layout", int64_t{1});
  expect_gradients_match(n, grad_inputs(1, 1, 200));
}

TEST(Lstm, GradientThroughYhAndYcOnly) {
  Node n = lstm_node(7);
  n.outputs = {"", "yh", "yc"};
  expect_gradients_match(n, grad_inputs(0, 1, 300));
  n.outputs = {"", "yh"};
  expect_gradients_match(n, grad_inputs(0, 1, 310));
  n.outputs = {"y"};  // Y alone
  expect_gradients_match(n, grad_inputs(0, 1, 320));
}

TEST(Lstm, GradientBidirectionalWithSequenceLensNoOptionalInputs) {
  Node n = lstm_node(7);
  n.inputs[4] = "i4";
  n.set_attr("direction", std::string("bidirectional"));
  auto in = grad_inputs(1, 2, 400);
  in[4] = Tensor::from_vector<int32_t>({2}, {3, 1});
  n.set_attr("layout", int64_t{1});
  expect_gradients_match(n, in);
  // Without B and the initial states (zeros): gradients for X, W, R only.
  Node m = make_node("LSTM", 3, 3);
  m.set_attr("direction", std::string("reverse"));
  auto in3 = grad_inputs(0, 1, 410);
  in3.resize(3);
  expect_gradients_match(m, in3);
}

void run_backward(const Node& n, const std::vector<Tensor>& in) {
  std::vector<Tensor> saved;
  auto out = run_op(n, in, true, &saved);
  std::vector<Tensor> grad_out;
  for (const auto& o : out) grad_out.push_back(o.defined() ? Tensor::zeros(DType::kF32, o.shape()) : Tensor());
  std::vector<Tensor> grad_in(in.size());
  BackwardCtx ctx{n, in, out, saved, grad_out, grad_in};
  find_op("LSTM")->backward(ctx);
}

TEST(Lstm, BackwardRejectsUnsupportedAttributes) {
  ScalarLstm c;
  auto expect_unimplemented = [](const Node& n, const std::vector<Tensor>& in, const std::string& word) {
    try {
      run_backward(n, in);
      ADD_FAILURE() << "no error for " << word;
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnimplemented) << e.what();
      EXPECT_NE(std::string(e.what()).find(word), std::string::npos) << e.what();
    }
  };
  expect_unimplemented(lstm_node(8), c.inputs(true), "peephole");
  Node n = lstm_node(7);
  n.set_attr("clip", 3.f);
  expect_unimplemented(n, c.inputs(false), "clip");
  n = lstm_node(7);
  n.set_attr("input_forget", int64_t{1});
  expect_unimplemented(n, c.inputs(false), "input_forget");
  n = lstm_node(7);
  n.set_attr("activations", std::vector<std::string>{"Sigmoid", "Relu", "Tanh"});
  expect_unimplemented(n, c.inputs(false), "activations");
  EXPECT_NO_THROW(run_backward(lstm_node(7), c.inputs(false)));
}

TEST(Lstm, Errors) {
  ScalarLstm c;
  Node n = lstm_node(8);
  auto in = c.inputs(true);
  in[7] = Tensor::from_vector<float>({1, 2}, {0.f, 0.f});  // P needs 3*hidden
  EXPECT_THROW(run_op(n, in), Error);
  in = c.inputs(false);
  in[6] = Tensor::zeros(DType::kF32, {1, 1, 2});  // initial_c
  EXPECT_THROW(run_op(lstm_node(7), in), Error);
  n = lstm_node(7);
  n.set_attr("input_forget", int64_t{2});
  EXPECT_THROW(run_op(n, c.inputs(false)), Error);
  in = c.inputs(false);
  in[1] = Tensor::zeros(DType::kF32, {1, 3, 1});  // W rows not a multiple of 4 gates * hidden
  EXPECT_THROW(run_op(lstm_node(7), in), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

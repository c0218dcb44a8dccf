// GRU: a scalar hand formulation for linear_before_reset, clip and activations, gradients by
// finite differences, errors. The ONNX node tests are in gru_onnx_node_test.cpp,
// direction/layout/sequence_lens properties in rnn/.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

double sigmoid(double v) { return 1.0 / (1.0 + std::exp(-v)); }
double tanh_d(double v) { return std::tanh(v); }
double hard_sigmoid_d(double v) { return std::clamp(0.2 * v + 0.5, 0.0, 1.0); }  // ONNX defaults
double affine_d(double v) { return 0.7 * v + 0.1; }

// hidden 1, input 1, batch 1: every matrix is a scalar per gate [z, r, h].
struct ScalarGru {
  std::vector<float> x = {0.5f, -1.0f, 2.0f};
  std::vector<float> w = {0.9f, -0.6f, 1.3f}, r = {0.3f, 0.8f, -0.7f};
  std::vector<float> b = {0.1f, -0.2f, 0.3f, 0.05f, -0.1f, 0.2f};
  float h0 = 0.2f;

  std::vector<double> run(bool lbr, double clip, double (*f)(double), double (*g)(double)) const {
    auto cl = [&](double v) { return clip > 0 ? std::clamp(v, -clip, clip) : v; };
    double hp = h0;
    std::vector<double> y;
    for (float xt : x) {
      double z = f(cl(xt * w[0] + hp * r[0] + b[0] + b[3]));
      double rr = f(cl(xt * w[1] + hp * r[1] + b[1] + b[4]));
      double hh = lbr ? g(cl(xt * w[2] + rr * (hp * r[2] + b[5]) + b[2]))
                      : g(cl(xt * w[2] + (rr * hp) * r[2] + b[5] + b[2]));
      hp = (1 - z) * hh + z * hp;
      y.push_back(hp);
    }
    return y;
  }
  std::vector<Tensor> inputs() const {
    const int64_t S = static_cast<int64_t>(x.size());
    return {Tensor::from_vector<float>({S, 1, 1}, x), Tensor::from_vector<float>({1, 3, 1}, w),
            Tensor::from_vector<float>({1, 3, 1}, r), Tensor::from_vector<float>({1, 6}, b), Tensor(),
            Tensor::from_vector<float>({1, 1, 1}, {h0})};
  }
};

Node gru_node() {
  Node n = make_node("GRU", 6, 2);
  n.inputs[4] = "";
  return n;
}

void expect_scalar(const std::vector<double>& want, const std::vector<Tensor>& got, const std::string& what) {
  for (size_t t = 0; t < want.size(); ++t) EXPECT_NEAR(want[t], got[0].data<float>()[t], 1e-5) << what << " t=" << t;
  EXPECT_NEAR(want.back(), got[1].data<float>()[0], 1e-5) << what << " Y_h";
}

TEST(Gru, MatchesScalarFormulation) {
  ScalarGru c;
  Node n = gru_node();
  expect_scalar(c.run(false, 0, sigmoid, tanh_d), run_op(n, c.inputs()), "defaults");
  n.set_attr("linear_before_reset", int64_t{1});
  expect_scalar(c.run(true, 0, sigmoid, tanh_d), run_op(n, c.inputs()), "linear_before_reset");
  n.set_attr("clip", 0.3f);
  expect_scalar(c.run(true, 0.3, sigmoid, tanh_d), run_op(n, c.inputs()), "clip");
  n = gru_node();
  // Affine consumes alpha 0.7 and beta 0.1; none are left for HardSigmoid, which keeps its defaults.
  n.set_attr("activations", std::vector<std::string>{"Affine", "HardSigmoid"});
  n.set_attr("activation_alpha", std::vector<float>{0.7f});
  n.set_attr("activation_beta", std::vector<float>{0.1f});
  expect_scalar(c.run(false, 0, affine_d, hard_sigmoid_d), run_op(n, c.inputs()), "Affine, HardSigmoid");
}

std::vector<Tensor> grad_inputs(int64_t layout, int64_t dirs, uint64_t seed) {
  constexpr int64_t S = 3, Bn = 2, I = 3, H = 4;
  Shape x = layout == 0 ? Shape{S, Bn, I} : Shape{Bn, S, I};
  Shape st = layout == 0 ? Shape{dirs, Bn, H} : Shape{Bn, dirs, H};
  return {random_f32(x, seed), random_f32({dirs, 3 * H, I}, seed + 1, -0.6f, 0.6f),
          random_f32({dirs, 3 * H, H}, seed + 2, -0.6f, 0.6f), random_f32({dirs, 6 * H}, seed + 3, -0.5f, 0.5f),
          Tensor(), random_f32(st, seed + 4)};
}

TEST(Gru, GradientBothResetVariantsBothLayouts) {
  for (int64_t lbr : {0, 1})
    for (int64_t layout : {0, 1}) {
      SCOPED_TRACE("linear_before_reset=" + std::to_string(lbr) + " layout=" + std::to_string(layout));
      Node n = gru_node();
      n.set_attr("linear_before_reset", lbr);
      n.set_attr("layout", layout);
      expect_gradients_match(n, grad_inputs(layout, 1, 100 + lbr * 10 + layout));
    }
}

TEST(Gru, GradientThroughYhOnlyAndBidirectionalSequenceLens) {
  Node n = gru_node();
  n.outputs = {"", "yh"};
  expect_gradients_match(n, grad_inputs(0, 1, 300));
  n = gru_node();
  n.inputs[4] = "i4";
  n.set_attr("direction", std::string("bidirectional"));
  n.set_attr("linear_before_reset", int64_t{1});
  auto in = grad_inputs(0, 2, 310);
  in[4] = Tensor::from_vector<int32_t>({2}, {2, 3});
  expect_gradients_match(n, in);
  Node m = make_node("GRU", 3, 2);  // no B, no initial_h
  auto in3 = grad_inputs(0, 1, 320);
  in3.resize(3);
  expect_gradients_match(m, in3);
}

TEST(Gru, BackwardRejectsUnsupportedAttributes) {
  ScalarGru c;
  for (int k = 0; k < 2; ++k) {
    Node n = gru_node();
    if (k == 0) n.set_attr("clip", 1.f);
    else n.set_attr("activations", std::vector<std::string>{"Sigmoid", "Relu"});
    std::vector<Tensor> saved;
    auto in = c.inputs();
    auto out = run_op(n, in, true, &saved);
    std::vector<Tensor> grad_out = out, grad_in(in.size());
    BackwardCtx ctx{n, in, out, saved, grad_out, grad_in};
    try {
      find_op("GRU")->backward(ctx);
      ADD_FAILURE() << "no error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
      EXPECT_NE(std::string(e.what()).find(k == 0 ? "clip" : "activations"), std::string::npos) << e.what();
    }
  }
}

TEST(Gru, Errors) {
  ScalarGru c;
  auto in = c.inputs();
  in[1] = Tensor::zeros(DType::kF32, {1, 4, 1});  // 4 rows: LSTM-shaped W
  EXPECT_THROW(run_op(gru_node(), in), Error);
  in = c.inputs();
  in[3] = Tensor::zeros(DType::kF32, {1, 3});
  EXPECT_THROW(run_op(gru_node(), in), Error);
  Node n = gru_node();
  n.set_attr("activations", std::vector<std::string>{"Sigmoid", "Tanh", "Tanh"});
  EXPECT_THROW(run_op(n, c.inputs()), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

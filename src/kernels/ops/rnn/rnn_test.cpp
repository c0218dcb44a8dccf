// RNN (simple): hand formulation, gradients, backward restrictions. ONNX node tests are in
// rnn_onnx_node_test.cpp, direction/layout/sequence_lens properties in recurrent_properties_test.cpp.
#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

TEST(Rnn, MatchesHandComputedSteps) {
  // hidden 1, input 1: h1 = tanh(0.5*0.9 + 0.2*0.3 + 0.1 - 0.2), h2 = tanh(-1*0.9 + h1*0.3 - 0.1).
  Node n = make_node("RNN", 6, 2);
  n.inputs[4] = "";
  std::vector<Tensor> in = {Tensor::from_vector<float>({2, 1, 1}, {0.5f, -1.f}), Tensor::from_vector<float>({1, 1, 1}, {0.9f}),
                            Tensor::from_vector<float>({1, 1, 1}, {0.3f}), Tensor::from_vector<float>({1, 2}, {0.1f, -0.2f}),
                            Tensor(), Tensor::from_vector<float>({1, 1, 1}, {0.2f})};
  const double h1 = std::tanh(0.5 * 0.9 + 0.2 * 0.3 + 0.1 - 0.2), h2 = std::tanh(-0.9 + h1 * 0.3 - 0.1);
  auto y = run_op(n, in);
  EXPECT_NEAR(y[0].data<float>()[0], h1, 1e-6);
  EXPECT_NEAR(y[0].data<float>()[1], h2, 1e-6);
  EXPECT_NEAR(y[1].data<float>()[0], h2, 1e-6);
  n.set_attr("activations", std::vector<std::string>{"LeakyRelu"});
  n.set_attr("activation_alpha", std::vector<float>{0.5f});
  const double l1 = 0.5 * 0.9 + 0.2 * 0.3 - 0.1, l2 = -0.9 + l1 * 0.3 - 0.1;
  EXPECT_NEAR(run_op(n, in)[1].data<float>()[0], l2 < 0 ? 0.5 * l2 : l2, 1e-6);
}

TEST(Rnn, GradientDirectionsAndLayouts) {
  constexpr int64_t S = 3, Bn = 2, I = 3, H = 4;
  for (int64_t layout : {0, 1})
    for (const std::string dir : {"forward", "bidirectional"}) {
      SCOPED_TRACE(dir + " layout=" + std::to_string(layout));
      const int64_t D = dir == "bidirectional" ? 2 : 1;
      Node n = make_node("RNN", 6, 2);
      n.set_attr("direction", dir);
      n.set_attr("layout", layout);
      std::vector<Tensor> in = {random_f32(layout ? Shape{Bn, S, I} : Shape{S, Bn, I}, 1),
                                random_f32({D, H, I}, 2, -0.6f, 0.6f), random_f32({D, H, H}, 3, -0.6f, 0.6f),
                                random_f32({D, 2 * H}, 4), Tensor::from_vector<int32_t>({Bn}, {3, 2}),
                                random_f32(layout ? Shape{Bn, D, H} : Shape{D, Bn, H}, 5)};
      expect_gradients_match(n, in);
    }
}

TEST(Rnn, BackwardNeedsTanh) {
  Node n = make_node("RNN", 3, 2);
  n.set_attr("activations", std::vector<std::string>{"Relu"});
  std::vector<Tensor> in = {random_f32({2, 1, 2}, 1), random_f32({1, 3, 2}, 2), random_f32({1, 3, 3}, 3)};
  std::vector<Tensor> saved;
  auto out = run_op(n, in, true, &saved);
  std::vector<Tensor> grad_in(3);
  BackwardCtx ctx{n, in, out, saved, out, grad_in};
  EXPECT_THROW(find_op("RNN")->backward(ctx), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

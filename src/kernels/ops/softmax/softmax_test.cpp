#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

std::vector<Tensor> run_at_opset(const Node& n, const std::vector<Tensor>& in, int64_t opset,
                                 std::vector<Tensor>* saved = nullptr) {
  std::vector<Tensor> out(n.outputs.size());
  ForwardCtx ctx{n, in, out, saved != nullptr, saved, 0, opset};
  find_op(n.op_type)->forward(ctx);
  return out;
}

Node softmax_node(const std::string& op, int64_t axis) {
  Node n = make_node(op, 1, 1);
  n.set_attr("axis", axis);
  return n;
}

// Independent per-axis formulation in double over [outer, n, inner].
Tensor naive(const Tensor& x, int64_t outer, int64_t n, int64_t inner, bool log) {
  Tensor y(DType::kF32, x.shape());
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      double sum = 0;
      for (int64_t j = 0; j < n; ++j) sum += std::exp(static_cast<double>(x.data<float>()[(o * n + j) * inner + i]));
      for (int64_t j = 0; j < n; ++j) {
        const double v = x.data<float>()[(o * n + j) * inner + i];
        y.data<float>()[(o * n + j) * inner + i] = static_cast<float>(log ? v - std::log(sum) : std::exp(v) / sum);
      }
    }
  return y;
}

class SoftmaxFamily : public ::testing::TestWithParam<std::string> {};

TEST_P(SoftmaxFamily, PerAxisFromOpset13) {
  const bool log = GetParam() == "LogSoftmax";
  Tensor x = random_f32({3, 4, 5}, 1, -3.f, 3.f);
  expect_close(naive(x, 1, 3, 20, log), run_op(softmax_node(GetParam(), 0), {x})[0], 1e-6, 1e-5, "axis 0");
  expect_close(naive(x, 3, 4, 5, log), run_op(softmax_node(GetParam(), 1), {x})[0], 1e-6, 1e-5, "axis 1");
  expect_close(naive(x, 12, 5, 1, log), run_op(softmax_node(GetParam(), -1), {x})[0], 1e-6, 1e-5, "axis -1");
  expect_close(naive(x, 12, 5, 1, log), run_op(make_node(GetParam(), 1, 1), {x})[0], 1e-6, 1e-5, "default axis");
}

TEST_P(SoftmaxFamily, CoercesTo2dBeforeOpset13) {
  const bool log = GetParam() == "LogSoftmax";
  Tensor x = random_f32({3, 4, 5}, 2, -3.f, 3.f);
  expect_close(naive(x, 3, 20, 1, log), run_at_opset(make_node(GetParam(), 1, 1), {x}, 11)[0], 1e-6, 1e-5,
               "default axis 1");
  expect_close(naive(x, 1, 60, 1, log), run_at_opset(softmax_node(GetParam(), 0), {x}, 1)[0], 1e-6, 1e-5, "axis 0");
  expect_close(naive(x, 12, 5, 1, log), run_at_opset(softmax_node(GetParam(), -1), {x}, 12)[0], 1e-6, 1e-5, "axis -1");
}

TEST_P(SoftmaxFamily, LargeInputsStayFinite) {
  const bool log = GetParam() == "LogSoftmax";
  Tensor x = Tensor::from_vector<float>({2, 4}, {0, 1, 2, 3, 10000, 10001, 10002, 10003});
  Tensor y = run_op(make_node(GetParam(), 1, 1), {x})[0];
  Tensor want = naive(Tensor::from_vector<float>({2, 4}, {0, 1, 2, 3, 0, 1, 2, 3}), 2, 4, 1, log);
  expect_close(want, y, 1e-6, 1e-5, "large");
}

TEST_P(SoftmaxFamily, GradientMatchesFiniteDifferences) {
  expect_gradients_match(softmax_node(GetParam(), 1), {random_f32({2, 3, 4}, 3)});
  expect_gradients_match(softmax_node(GetParam(), -1), {random_f32({3, 5}, 4)});
  expect_gradients_match(softmax_node(GetParam(), 0), {random_f32({4, 2}, 5)});
}

TEST_P(SoftmaxFamily, BackwardUsesTheSavedOpset11Layout) {
  // Opset 11, axis 1 over [2, 3, 4] is opset 13, axis -1 over [2, 12]: the gradients agree.
  Node n = make_node(GetParam(), 1, 1);
  Tensor x = random_f32({2, 3, 4}, 6);
  Tensor dy = random_f32({2, 3, 4}, 7);
  std::vector<Tensor> saved;
  std::vector<Tensor> y = run_at_opset(n, {x}, 11, &saved);
  std::vector<Tensor> g(1), dys{dy};
  BackwardCtx ctx{n, std::span<const Tensor>(&x, 1), y, saved, dys, g};
  find_op(GetParam())->backward(ctx);
  Tensor x2 = x.reshaped({2, 12});
  std::vector<Tensor> saved2;
  std::vector<Tensor> y2 = run_at_opset(n, {x2}, 13, &saved2);
  std::vector<Tensor> g2(1), dys2{dy.reshaped({2, 12})};
  BackwardCtx ctx2{n, std::span<const Tensor>(&x2, 1), y2, saved2, dys2, g2};
  find_op(GetParam())->backward(ctx2);
  expect_close(g2[0].reshaped({2, 3, 4}), g[0], 1e-6, 1e-5, "opset 11 gradient");
}

TEST_P(SoftmaxFamily, RejectsBadInput) {
  EXPECT_THROW(run_op(softmax_node(GetParam(), 3), {random_f32({2, 3, 4}, 1)}), Error);
  EXPECT_THROW(run_op(softmax_node(GetParam(), -4), {random_f32({2, 3, 4}, 1)}), Error);
  EXPECT_THROW(run_op(make_node(GetParam(), 1, 1), {Tensor::scalar_f32(1.f)}), Error);
  EXPECT_THROW(run_op(make_node(GetParam(), 1, 1), {Tensor::zeros(DType::kI32, {2, 3})}), Error);
}

INSTANTIATE_TEST_SUITE_P(Ops, SoftmaxFamily, ::testing::Values("Softmax", "LogSoftmax"));

TEST(Softmax, HandComputed) {
  Tensor y = run_op(make_node("Softmax", 1, 1), {Tensor::from_vector<float>({1, 3}, {-1, 0, 1})})[0];
  expect_close(Tensor::from_vector<float>({1, 3}, {0.09003057f, 0.24472847f, 0.66524096f}), y, 1e-7, 1e-6, "softmax");
}

}  // namespace
}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

std::vector<Tensor> run_at(const Node& n, const std::vector<Tensor>& in, int64_t opset, bool training, uint64_t seed,
                           std::vector<Tensor>* saved = nullptr) {
  std::vector<Tensor> out(n.outputs.size());
  ForwardCtx ctx{n, in, out, training, saved, seed, opset};
  find_op("Dropout")->forward(ctx);
  return out;
}

Tensor bool_scalar(bool v) { return Tensor::from_vector<bool>({}, {v}); }

TEST(Dropout, InferenceIsIdentityWithAllTrueMask) {
  Tensor x = random_f32({3, 4, 5}, 1);
  auto y = run_at(make_node("Dropout", 1, 2), {x}, 13, false, 7);
  expect_close(x, y[0], 0, 0, "y");
  ASSERT_EQ(y[1].dtype(), DType::kBool);
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_TRUE(y[1].data<bool>()[i]);
  // Before opset 10 the mask has X's type.
  auto old = run_at(make_node("Dropout", 1, 2), {x}, 7, false, 7);
  ASSERT_EQ(old[1].dtype(), DType::kF32);
  EXPECT_EQ(old[1].data<float>()[0], 1.f);
  // Other dtypes pass through in inference.
  Tensor xi = Tensor::from_vector<int32_t>({2}, {3, 4});
  EXPECT_EQ(run_at(make_node("Dropout", 1, 1), {xi}, 13, false, 0)[0].to_i64_vector(), (std::vector<int64_t>{3, 4}));
}

TEST(Dropout, TrainingScalesKeptAndZeroesDropped) {
  Tensor x = random_f32({100, 100}, 2, 0.5f, 1.f);
  Node n = make_node("Dropout", 2, 2);
  auto y = run_at(n, {x, Tensor::scalar_f32(0.3f)}, 13, true, 42);
  int64_t kept = 0;
  for (int64_t i = 0; i < x.numel(); ++i) {
    const bool m = y[1].data<bool>()[i];
    kept += m;
    ASSERT_FLOAT_EQ(y[0].data<float>()[i], m ? x.data<float>()[i] / 0.7f : 0.f) << "at " << i;
  }
  EXPECT_NEAR(static_cast<double>(kept) / x.numel(), 0.7, 0.02);
  // Deterministic per seed, different across seeds.
  expect_close(y[0], run_at(n, {x, Tensor::scalar_f32(0.3f)}, 13, true, 42)[0], 0, 0, "same seed");
  auto other = run_at(n, {x, Tensor::scalar_f32(0.3f)}, 13, true, 43);
  int64_t differ = 0;
  for (int64_t i = 0; i < x.numel(); ++i) differ += other[1].data<bool>()[i] != y[1].data<bool>()[i];
  EXPECT_GT(differ, 1000);
}

TEST(Dropout, TrainingModeInputAndRatioAttribute) {
  Tensor x = random_f32({50, 40}, 3, 0.5f, 1.f);
  // Opset 12+: training_mode input turns training on without ctx.training; default ratio 0.5.
  Node n = make_node("Dropout", 3, 1);
  Tensor y = run_at(n, {x, Tensor(), bool_scalar(true)}, 13, false, 1)[0];
  int64_t zeros = 0;
  for (int64_t i = 0; i < x.numel(); ++i) zeros += y.data<float>()[i] == 0.f;
  EXPECT_NEAR(static_cast<double>(zeros) / x.numel(), 0.5, 0.03);
  expect_close(x, run_at(n, {x, Tensor(), bool_scalar(false)}, 13, false, 1)[0], 0, 0, "training_mode false");
  // Opset < 12: ratio is an attribute.
  Node old = make_node("Dropout", 1, 1);
  old.set_attr("ratio", 0.2f);
  Tensor yo = run_at(old, {x}, 10, true, 1)[0];
  for (int64_t i = 0; i < x.numel(); ++i)
    if (yo.data<float>()[i] != 0.f) ASSERT_FLOAT_EQ(yo.data<float>()[i], x.data<float>()[i] * 1.25f);
  // Ratio 0 in training: identity and an all-true mask (test_training_dropout_zero_ratio_mask).
  auto z = run_at(make_node("Dropout", 3, 2), {x, Tensor::scalar_f32(0.f), bool_scalar(true)}, 13, false, 1);
  expect_close(x, z[0], 0, 0, "zero ratio");
  for (int64_t i = 0; i < x.numel(); ++i) ASSERT_TRUE(z[1].data<bool>()[i]);
}

TEST(Dropout, GradientMatchesFiniteDifferences) {
  Node n = make_node("Dropout", 2, 2);
  expect_gradients_match(n, {random_f32({4, 6}, 1), Tensor::scalar_f32(0.4f)}, {0});
  // Without saved state (inference) the backward is the identity.
  Tensor x = random_f32({5}, 2), dy = random_f32({5}, 3);
  std::vector<Tensor> out{x}, g(1), dys{dy};
  BackwardCtx ctx{n, std::span<const Tensor>(&x, 1), out, {}, dys, g};
  find_op("Dropout")->backward(ctx);
  expect_close(dy, g[0], 0, 0, "inference gradient");
}

TEST(Dropout, RejectsBadInput) {
  Tensor x = random_f32({4}, 1);
  Node n = make_node("Dropout", 2, 1);
  EXPECT_THROW(run_at(n, {x, Tensor::scalar_f32(1.f)}, 13, true, 1), Error);
  EXPECT_THROW(run_at(n, {x, Tensor::scalar_f32(-0.1f)}, 13, true, 1), Error);
  EXPECT_THROW(run_at(n, {x, random_f32({2}, 1)}, 13, true, 1), Error);
  EXPECT_THROW(run_at(n, {Tensor::zeros(DType::kI32, {4}), Tensor::scalar_f32(0.5f)}, 13, true, 1), Error);
  EXPECT_THROW(run_at(make_node("Dropout", 0, 1), {}, 13, false, 1), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

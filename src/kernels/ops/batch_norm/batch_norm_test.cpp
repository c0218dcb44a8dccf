#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

struct BnRun {
  std::vector<Tensor> out, saved;
};

BnRun run_bn(const Node& n, const std::vector<Tensor>& in, int64_t opset, bool training) {
  BnRun r;
  r.out.resize(n.outputs.size());
  ForwardCtx ctx{n, in, r.out, training, training ? &r.saved : nullptr, 0, opset};
  find_op("BatchNormalization")->forward(ctx);
  return r;
}

Node bn_node(size_t n_out, float eps = 1e-5f) {
  Node n = make_node("BatchNormalization", 5, n_out);
  n.set_attr("epsilon", eps);
  return n;
}

std::vector<Tensor> bn_inputs(Shape x, int64_t c, uint64_t seed) {
  return {random_f32(x, seed, -2.f, 2.f), random_f32({c}, seed + 1, 0.5f, 1.5f), random_f32({c}, seed + 2),
          random_f32({c}, seed + 3), random_f32({c}, seed + 4, 0.5f, 2.f)};
}

// Per-channel mean and biased variance in double over [N, C, inner].
void batch_stats(const Tensor& x, std::vector<double>& mean, std::vector<double>& var) {
  const int64_t N = x.shape()[0], C = x.shape()[1], inner = x.numel() / (N * C);
  mean.assign(C, 0);
  var.assign(C, 0);
  for (int64_t c = 0; c < C; ++c) {
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < inner; ++i) mean[c] += x.data<float>()[(n * C + c) * inner + i];
    mean[c] /= N * inner;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < inner; ++i) var[c] += std::pow(x.data<float>()[(n * C + c) * inner + i] - mean[c], 2);
    var[c] /= N * inner;
  }
}

Tensor normalize(const std::vector<Tensor>& in, const std::vector<double>& mean, const std::vector<double>& var,
                 double eps) {
  const Tensor& x = in[0];
  const int64_t N = x.shape()[0], C = x.shape()[1], inner = x.numel() / (N * C);
  Tensor y(DType::kF32, x.shape());
  for (int64_t e = 0; e < x.numel(); ++e) {
    const int64_t c = (e / inner) % C;
    y.data<float>()[e] = static_cast<float>(in[1].data<float>()[c] * (x.data<float>()[e] - mean[c]) /
                                                std::sqrt(var[c] + eps) +
                                            in[2].data<float>()[c]);
  }
  return y;
}

// Central finite differences of L = sum r_k * y_k over the f32 outputs, at a given opset/mode.
void check_gradients(const Node& n, const std::vector<Tensor>& in, int64_t opset, bool training) {
  BnRun base = run_bn(n, in, opset, training);
  std::vector<Tensor> r(base.out.size());
  for (size_t k = 0; k < r.size(); ++k)
    if (base.out[k].defined()) r[k] = random_f32(base.out[k].shape(), 50 + k);
  std::vector<Tensor> g(in.size());
  BackwardCtx ctx{n, in, base.out, base.saved, r, g};
  find_op("BatchNormalization")->backward(ctx);
  auto loss = [&](const std::vector<Tensor>& p) {
    BnRun y = run_bn(n, p, opset, training);
    double l = 0;
    for (size_t k = 0; k < r.size(); ++k)
      if (r[k].defined())
        for (int64_t i = 0; i < r[k].numel(); ++i) l += static_cast<double>(r[k].data<float>()[i]) * y.out[k].data<float>()[i];
    return l;
  };
  const float eps = 1e-2f;
  for (size_t w = 0; w < in.size(); ++w) {
    ASSERT_TRUE(g[w].defined()) << "no gradient for input " << w;
    std::vector<Tensor> p = in;
    p[w] = in[w].clone();
    for (int64_t i = 0; i < p[w].numel(); ++i) {
      const float orig = p[w].data<float>()[i];
      p[w].data<float>()[i] = orig + eps;
      const double lp = loss(p);
      p[w].data<float>()[i] = orig - eps;
      const double lm = loss(p);
      p[w].data<float>()[i] = orig;
      const double num = (lp - lm) / (2 * eps), ana = g[w].data<float>()[i];
      ASSERT_NEAR(ana, num, 3e-3 + 3e-2 * std::fabs(num))
          << "input " << w << " index " << i << " opset " << opset << " training " << training;
    }
  }
}

TEST(BatchNormalization, InferenceUsesRunningStats) {
  auto in = bn_inputs({2, 3, 4, 5}, 3, 1);
  std::vector<double> mean(in[3].data<float>(), in[3].data<float>() + 3), var(in[4].data<float>(), in[4].data<float>() + 3);
  expect_close(normalize(in, mean, var, 1e-2), run_bn(bn_node(1, 1e-2f), in, 15, false).out[0], 1e-5, 1e-5,
               "inference");
  // Rank 2 (no spatial dims) and the default epsilon.
  auto in2 = bn_inputs({4, 3}, 3, 2);
  std::vector<double> m2(in2[3].data<float>(), in2[3].data<float>() + 3), v2(in2[4].data<float>(), in2[4].data<float>() + 3);
  expect_close(normalize(in2, m2, v2, 1e-5), run_op(make_node("BatchNormalization", 5, 1), in2)[0], 1e-5, 1e-5, "rank 2");
}

TEST(BatchNormalization, TrainingModeAttributeUsesBatchStats) {
  auto in = bn_inputs({2, 3, 4, 5}, 3, 3);
  Node n = bn_node(3);
  n.set_attr("training_mode", int64_t{1});
  n.set_attr("momentum", 0.8f);
  BnRun r = run_bn(n, in, 15, false);
  std::vector<double> mean, var;
  batch_stats(in[0], mean, var);
  expect_close(normalize(in, mean, var, 1e-5), r.out[0], 1e-5, 1e-5, "y");
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(r.out[1].data<float>()[c], 0.8 * in[3].data<float>()[c] + 0.2 * mean[c], 1e-6);
    EXPECT_NEAR(r.out[2].data<float>()[c], 0.8 * in[4].data<float>()[c] + 0.2 * var[c], 1e-6);
  }
  // The same node without training_mode (and no ctx.training) passes the running stats through.
  Node inf = bn_node(3);
  BnRun ri = run_bn(inf, in, 15, false);
  expect_close(in[3], ri.out[1], 0, 0, "running mean passthrough");
}

TEST(BatchNormalization, CtxTrainingSavesStatsForBackward) {
  auto in = bn_inputs({3, 2, 5}, 2, 4);
  BnRun r = run_bn(bn_node(1), in, 15, true);
  ASSERT_EQ(r.saved.size(), 2u);
  std::vector<double> mean, var;
  batch_stats(in[0], mean, var);
  for (int64_t c = 0; c < 2; ++c) {
    EXPECT_NEAR(r.saved[0].data<float>()[c], mean[c], 1e-6);
    EXPECT_NEAR(r.saved[1].data<float>()[c], 1 / std::sqrt(var[c] + 1e-5), 1e-4);
  }
}

TEST(BatchNormalization, Opset9TrainingOutputs) {
  auto in = bn_inputs({2, 3, 3}, 3, 5);
  BnRun r = run_bn(bn_node(5), in, 9, false);
  std::vector<double> mean, var;
  batch_stats(in[0], mean, var);
  expect_close(normalize(in, mean, var, 1e-5), r.out[0], 1e-5, 1e-5, "y");
  for (int64_t c = 0; c < 3; ++c) {
    EXPECT_NEAR(r.out[1].data<float>()[c], 0.9 * in[3].data<float>()[c] + 0.1 * mean[c], 1e-6);
    EXPECT_NEAR(r.out[3].data<float>()[c], mean[c], 1e-6);
    EXPECT_NEAR(r.out[4].data<float>()[c], var[c], 1e-5);
  }
}

TEST(BatchNormalization, Opset7NonSpatial) {
  // spatial=0: every (c, h) element has its own parameters.
  Node n = bn_node(1);
  n.set_attr("spatial", int64_t{0});
  auto in = bn_inputs({2, 6}, 6, 6);
  for (size_t i = 1; i < 5; ++i) in[i] = in[i].reshaped({2, 3});
  in[0] = in[0].reshaped({2, 2, 3});
  Tensor y = run_bn(n, in, 7, false).out[0];
  for (int64_t e = 0; e < 12; ++e) {
    const int64_t j = e % 6;
    const double want = in[1].data<float>()[j] * (in[0].data<float>()[e] - in[3].data<float>()[j]) /
                            std::sqrt(in[4].data<float>()[j] + 1e-5) +
                        in[2].data<float>()[j];
    EXPECT_NEAR(y.data<float>()[e], want, 1e-5);
  }
  EXPECT_THROW(run_bn(n, in, 9, false), Error);  // opset 9 dropped `spatial`: parameters must be [C]
}

TEST(BatchNormalization, GradientMatchesFiniteDifferences) {
  // Through the batch statistics, with and without the running-stat outputs.
  expect_gradients_match(bn_node(1), bn_inputs({3, 2, 2, 2}, 2, 7));
  expect_gradients_match(bn_node(3), bn_inputs({2, 3, 4}, 3, 8));
  check_gradients(bn_node(5), bn_inputs({2, 2, 3}, 2, 9), 9, true);
  // Inference: gradients through the running mean/var inputs too.
  check_gradients(bn_node(1), bn_inputs({2, 3, 2, 2}, 3, 10), 15, false);
}

TEST(BatchNormalization, RejectsBadInput) {
  auto in = bn_inputs({2, 3, 4}, 3, 1);
  Node n = bn_node(1);
  auto bad = in;
  bad[1] = random_f32({4}, 1);
  EXPECT_THROW(run_op(n, bad), Error);
  bad = in;
  bad[4] = Tensor();
  EXPECT_THROW(run_op(n, bad), Error);
  bad = in;
  bad[0] = random_f32({3}, 1);
  EXPECT_THROW(run_op(n, bad), Error);
  bad = in;
  bad[0] = Tensor::zeros(DType::kI32, {2, 3, 4});
  EXPECT_THROW(run_op(n, bad), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

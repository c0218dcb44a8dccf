#include "train/autograd/autograd.h"

#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"
#include "runtime/session.h"
#include "train/losses/losses.h"
#include "train/optim/optim.h"
#include "train/zoo/zoo.h"

namespace edgeopt::train {
using kernels::testing::random_f32;

namespace {
// x[N,3] -> Gemm(4) -> Sigmoid -> MatMul [4,2] -> Add bias -> y
Graph small_mlp() {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {-1, 3}});
  g.initializers["w1"] = random_f32({4, 3}, 1);
  g.initializers["b1"] = random_f32({4}, 2);
  g.initializers["w2"] = random_f32({4, 2}, 3);
  g.initializers["b2"] = random_f32({2}, 4);
  Node& n = g.add_node("Gemm", {"x", "w1", "b1"}, {"h"}, "fc1");
  n.set_attr("transB", int64_t{1});
  g.add_node("Sigmoid", {"h"}, {"s"}, "act");
  g.add_node("MatMul", {"s", "w2"}, {"m"}, "fc2");
  g.add_node("Add", {"m", "b2"}, {"y"}, "bias2");
  g.outputs.push_back({"y", DType::kF32, {-1, 2}});
  return g;
}
}  // namespace

TEST(Autograd, WholeGraphGradientMatchesFiniteDifferences) {
  Graph g = small_mlp();
  Autograd ag(g);
  Tensor x = random_f32({5, 3}, 9);
  Tensor labels = Tensor::from_vector<int64_t>({5}, {0, 1, 1, 0, 1});
  auto loss_of = [&]() { return cross_entropy(ag.forward({{"x", x}}, true).at("y"), labels).loss; };
  auto out = ag.forward({{"x", x}}, true);
  auto lr = cross_entropy(out.at("y"), labels);
  auto grads = ag.backward({{"y", lr.grad}});
  ASSERT_EQ(grads.size(), 4u);
  for (const auto& [name, grad] : grads) {
    Tensor& p = g.initializers.at(name);
    for (int64_t i = 0; i < p.numel(); ++i) {
      float orig = p.data<float>()[i];
      const float eps = 1e-2f;
      p.data<float>()[i] = orig + eps;
      double lp = loss_of();
      p.data<float>()[i] = orig - eps;
      double lm = loss_of();
      p.data<float>()[i] = orig;
      double num = (lp - lm) / (2 * eps);
      EXPECT_NEAR(grad.data<float>()[i], num, 1e-3 + 1e-2 * std::fabs(num)) << name << "[" << i << "]";
    }
  }
}

TEST(Autograd, AdamFitsASeparableProblem) {
  Graph g = small_mlp();
  Autograd ag(g);
  Tensor x = random_f32({64, 3}, 11);
  std::vector<int64_t> y(64);
  for (int i = 0; i < 64; ++i) y[i] = x.data<float>()[i * 3] + x.data<float>()[i * 3 + 1] > 0 ? 1 : 0;
  Tensor labels = Tensor::from_vector<int64_t>({64}, y);
  Optimizer opt({.kind = OptimizerKind::kAdam, .lr = 0.05f});
  double first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    auto lr = cross_entropy(ag.forward({{"x", x}}, true).at("y"), labels);
    if (step == 0) first = lr.loss;
    last = lr.loss;
    opt.step(g.initializers, ag.backward({{"y", lr.grad}}));
  }
  EXPECT_LT(last, 0.25 * first) << "first=" << first << " last=" << last;
}

TEST(Autograd, BackwardWithoutTrainingForwardIsAnError) {
  Graph g = small_mlp();
  Autograd ag(g);
  ag.forward({{"x", random_f32({2, 3}, 1)}}, false);
  EXPECT_THROW(ag.backward({{"y", random_f32({2, 2}, 1)}}), Error);
}

TEST(Losses, GradientsMatchFiniteDifferences) {
  Tensor p = random_f32({4, 5}, 1), t = random_f32({4, 5}, 2), teacher = random_f32({4, 5}, 3);
  Tensor labels = Tensor::from_vector<int64_t>({4}, {0, 4, 2, 1});
  struct Case {
    const char* name;
    std::function<LossResult(const Tensor&)> f;
  };
  std::vector<Case> cases = {
      {"cross_entropy", [&](const Tensor& a) { return cross_entropy(a, labels, 0.1f); }},
      {"mse", [&](const Tensor& a) { return mse(a, t); }},
      {"mae", [&](const Tensor& a) { return mae(a, t); }},
      {"huber", [&](const Tensor& a) { return huber(a, t, 0.5f); }},
      {"kl", [&](const Tensor& a) { return kl_divergence(a, teacher, 2.f); }},
  };
  for (auto& c : cases) {
    LossResult r = c.f(p);
    for (int64_t i = 0; i < p.numel(); ++i) {
      Tensor q = p.clone();
      q.data<float>()[i] += 1e-3f;
      double lp = c.f(q).loss;
      q.data<float>()[i] -= 2e-3f;
      double lm = c.f(q).loss;
      double num = (lp - lm) / 2e-3;
      EXPECT_NEAR(r.grad.data<float>()[i], num, 2e-3 + 2e-2 * std::fabs(num)) << c.name << " at " << i;
    }
  }
  EXPECT_NEAR(kl_divergence(teacher, teacher, 3.f).loss, 0.0, 1e-9);
}

TEST(Losses, BadLabelsAreClearErrors) {
  EXPECT_THROW(cross_entropy(random_f32({2, 3}, 1), Tensor::from_vector<int64_t>({2}, {0, 3})), Error);
  EXPECT_THROW(cross_entropy(random_f32({2, 3}, 1), Tensor::from_vector<int64_t>({3}, {0, 1, 2})), Error);
  EXPECT_THROW(mse(random_f32({2, 3}, 1), random_f32({5}, 1)), Error);
}

TEST(Optim, ScheduleWarmsUpThenDecays) {
  LrSchedule s{.kind = ScheduleKind::kCosine, .base_lr = 1.f, .warmup_steps = 10, .total_steps = 110};
  EXPECT_NEAR(s.lr(0), 0.1f, 1e-6);
  EXPECT_NEAR(s.lr(10), 1.f, 1e-6);
  EXPECT_NEAR(s.lr(60), 0.5f, 1e-6);
  EXPECT_NEAR(s.lr(110), 0.f, 1e-6);
  LrSchedule st{.kind = ScheduleKind::kStep, .base_lr = 1.f, .step_size = 5, .gamma = 0.5f};
  EXPECT_NEAR(st.lr(12), 0.25f, 1e-6);
}

TEST(Optim, MasksKeepPrunedWeightsAtZeroAndFrozenStayPut) {
  std::unordered_map<std::string, Tensor> params{{"a", Tensor::from_vector<float>({3}, {1, 2, 3})},
                                                 {"b", Tensor::from_vector<float>({1}, {5})}};
  std::unordered_map<std::string, Tensor> grads{{"a", Tensor::from_vector<float>({3}, {1, 1, 1})},
                                                {"b", Tensor::from_vector<float>({1}, {1})}};
  Optimizer opt({.kind = OptimizerKind::kSgd, .lr = 0.1f, .momentum = 0.f});
  opt.masks["a"] = Tensor::from_vector<float>({3}, {1, 0, 1});
  opt.frozen.insert("b");
  opt.step(params, grads);
  EXPECT_FLOAT_EQ(params["a"].data<float>()[0], 0.9f);
  EXPECT_FLOAT_EQ(params["a"].data<float>()[1], 0.f);
  EXPECT_FLOAT_EQ(params["b"].data<float>()[0], 5.f);
  double norm = clip_grad_norm(grads, 1.0);
  EXPECT_NEAR(norm, 2.0, 1e-6);
  EXPECT_NEAR(grads["a"].data<float>()[0], 0.5f, 1e-6);
}

TEST(Zoo, EveryModelRunsAndEveryParameterGetsAGradient) {
  struct Case {
    const char* name;
    std::vector<int64_t> input;
    int64_t outputs;
  };
  for (const Case& c : {Case{"vision_cnn", {1, 12, 12}, 10}, Case{"mobilenet_v2", {3, 16, 16}, 5},
                        Case{"env_lstm", {6, 3}, 1}, Case{"env_gru", {6, 3}, 2}, Case{"safety_mlp", {7}, 2}}) {
    ZooOptions o{.input_shape = c.input, .num_outputs = c.outputs, .width = 8, .depth = 2, .width_mult = 0.25f};
    Graph g = build_zoo_model(c.name, o);
    std::vector<int64_t> dims{2};
    dims.insert(dims.end(), c.input.begin(), c.input.end());
    Tensor x = random_f32(Shape(dims), 5);
    runtime::Session s(g);
    auto y = s.run({{"input", x}});
    EXPECT_EQ(y.at("output").shape(), Shape({2, c.outputs})) << c.name;
    Autograd ag(g);
    auto out = ag.forward({{"input", x}}, true);
    auto grads = ag.backward({{"output", mse(out.at("output"), Tensor::zeros(DType::kF32, {2, c.outputs})).grad}});
    for (const auto& [name, t] : g.initializers) {
      if (t.dtype() != DType::kF32 || name.find("running_") != std::string::npos || t.rank() == 0) continue;
      EXPECT_TRUE(grads.count(name)) << c.name << ": no gradient for " << name;
    }
  }
  EXPECT_THROW(build_zoo_model("resnet9000", {}), Error);
}

}  // namespace edgeopt::train

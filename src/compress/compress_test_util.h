// Test helpers for the compression passes: small graphs, random feeds, output comparison.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>

#include "runtime/session.h"

namespace edgeopt::compress::testing {

inline Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  for (auto& d : shape.dims())
    if (d < 0) d = 3;  // dynamic (batch) dims
  Tensor t(DType::kF32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

inline std::map<std::string, Tensor> random_feeds(const Graph& g, uint32_t seed) {
  std::map<std::string, Tensor> feeds;
  for (const auto& vi : g.inputs) feeds[vi.name] = random_tensor(vi.shape, seed++);
  return feeds;
}

inline std::map<std::string, Tensor> run_graph(const Graph& g, const std::map<std::string, Tensor>& feeds) {
  return runtime::Session(g, {.reference_only = true, .optimize = false}).run(feeds);
}

// Every output of `after` within atol + rtol*|want| of `before` on the same random feeds.
inline void expect_same_outputs(const Graph& before, const Graph& after, double atol = 1e-4, double rtol = 1e-4) {
  auto feeds = random_feeds(before, 11);
  auto want = run_graph(before, feeds);
  auto got = run_graph(after, feeds);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, w] : want) {
    const Tensor& o = got.at(name);
    ASSERT_EQ(w.shape(), o.shape()) << name;
    for (int64_t i = 0; i < w.numel(); ++i) {
      const float a = w.data<float>()[i], b = o.data<float>()[i];
      ASSERT_LE(std::fabs(a - b), atol + rtol * std::fabs(a)) << name << " at " << i << ": want " << a << " got " << b;
    }
  }
}

inline void add_input(Graph& g, const std::string& name, std::vector<int64_t> dims) {
  ValueInfo vi{name, DType::kF32, Shape(dims)};
  vi.dim_params.assign(dims.size(), "");
  g.inputs.push_back(vi);
}

inline void add_output(Graph& g, const std::string& name) { g.outputs.push_back({name, DType::kF32, Shape{-1}}); }

inline Node& add_conv(Graph& g, const std::string& x, const std::string& name, int64_t cin, int64_t cout, int64_t k,
                      uint32_t seed, bool bias = true, int64_t group = 1) {
  g.initializers[name + ".w"] = random_tensor({cout, cin / group, k, k}, seed, -0.5f, 0.5f);
  std::vector<std::string> in{x, name + ".w"};
  if (bias) {
    g.initializers[name + ".b"] = random_tensor({cout}, seed + 1000, -0.2f, 0.2f);
    in.push_back(name + ".b");
  }
  Node& n = g.add_node("Conv", in, {name}, name);
  n.set_attr("kernel_shape", std::vector<int64_t>{k, k});
  n.set_attr("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  if (group != 1) n.set_attr("group", group);
  return n;
}

}  // namespace edgeopt::compress::testing

// Test helpers for the passes: random tensors and "same results before and after" checks.
#pragma once
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>

#include "runtime/session.h"

namespace edgeopt::runtime::passes::testing {

inline Tensor random_tensor(Shape shape, uint32_t seed, float lo = -1.f, float hi = 1.f) {
  Tensor t(DType::kF32, std::move(shape));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

// Random feeds for every graph input (f32, the declared shape).
inline std::map<std::string, Tensor> random_feeds(const Graph& g, uint32_t seed) {
  std::map<std::string, Tensor> feeds;
  for (const auto& vi : g.inputs) feeds[vi.name] = random_tensor(vi.shape, seed++);
  return feeds;
}

// Runs `before` and `after` unoptimized (so only the pass under test differs), with the fast or
// the reference kernels, and expects every output within 1e-5 (relative above 1).
inline void expect_same_outputs(const Graph& before, const Graph& after, uint32_t seed = 1,
                                bool reference_only = false) {
  auto feeds = random_feeds(before, seed);
  SessionOptions so{.reference_only = reference_only, .optimize = false};
  auto want = Session(before, so).run(feeds);
  auto got = Session(after, so).run(feeds);
  ASSERT_EQ(want.size(), got.size());
  for (const auto& [name, w] : want) {
    const Tensor& o = got.at(name);
    ASSERT_EQ(w.shape(), o.shape()) << name;
    for (int64_t i = 0; i < w.numel(); ++i) {
      const double a = w.at(i), b = o.at(i);
      ASSERT_LE(std::abs(a - b), 1e-5 * std::max(1.0, std::abs(a))) << name << "[" << i << "]: before=" << a
                                                                    << " after=" << b;
    }
  }
}

inline int count_ops(const Graph& g, const std::string& op) {
  int c = 0;
  for (const auto& n : g.nodes) c += n.op_type == op;
  return c;
}

}  // namespace edgeopt::runtime::passes::testing

// Test helpers for the passes: random tensors, "same results before and after" checks, and QDQ
// graphs built the way quantize_static writes them.
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kernels/quant/requantize.h"
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

// Builds QDQ graphs the way quantize_static writes them.
struct QdqBuilder {
  Graph g;
  int next = 0;
  std::string fresh(const std::string& p) { return p + std::to_string(next++); }

  // Q then DQ with per-tensor (scale, zp) of dtype dt; returns the DQ output (f32).
  std::string qdq(const std::string& x, float scale, int zp, DType dt, std::string* q_out = nullptr) {
    const std::string s = fresh("s"), z = fresh("z"), q = fresh("q"), y = fresh("dq");
    g.initializers[s] = Tensor::scalar_f32(scale);
    Tensor zt(dt, Shape({}));
    if (dt == DType::kU8)
      zt.data<uint8_t>()[0] = static_cast<uint8_t>(zp);
    else
      zt.data<int8_t>()[0] = static_cast<int8_t>(zp);
    g.initializers[z] = zt;
    g.add_node("QuantizeLinear", {x, s, z}, {q});
    g.add_node("DequantizeLinear", {q, s, z}, {y});
    if (q_out) *q_out = q;
    return y;
  }

  // Symmetric i8 weights, per channel along `axis` (or per tensor), behind a DequantizeLinear.
  std::string weights(Shape shape, int64_t axis, bool per_channel, uint32_t seed, std::vector<float>* scales) {
    const Tensor w = random_tensor(shape, seed);
    const int64_t ch = per_channel ? shape[static_cast<size_t>(axis)] : 1;
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(axis) + 1; d < shape.rank(); ++d) inner *= shape[d];
    scales->assign(static_cast<size_t>(ch), 0.f);
    for (int64_t i = 0; i < w.numel(); ++i) {
      const size_t c = per_channel ? static_cast<size_t>((i / inner) % ch) : 0;
      (*scales)[c] = std::max((*scales)[c], std::abs(w.data<float>()[i]) / 127.f);
    }
    Tensor q(DType::kI8, shape);
    for (int64_t i = 0; i < w.numel(); ++i) {
      const size_t c = per_channel ? static_cast<size_t>((i / inner) % ch) : 0;
      q.data<int8_t>()[i] =
          static_cast<int8_t>(kernels::quant::quantize_f32(w.data<float>()[i], (*scales)[c], 0, -127, 127));
    }
    const std::string wq = fresh("wq"), s = fresh("ws"), z = fresh("wz"), y = fresh("w");
    g.initializers[wq] = q;
    g.initializers[s] = per_channel ? Tensor::from_vector(Shape({ch}), *scales) : Tensor::scalar_f32((*scales)[0]);
    g.initializers[z] = per_channel ? Tensor::zeros(DType::kI8, Shape({ch})) : Tensor::zeros(DType::kI8, Shape({}));
    Node& dq = g.add_node("DequantizeLinear", {wq, s, z}, {y});
    if (per_channel) dq.set_attr("axis", axis);
    return y;
  }

  // An i32 bias at scale sx * sw[c], behind a DequantizeLinear (quantize_static's layout).
  std::string bias_i32(int64_t n, float sx, const std::vector<float>& sw, uint32_t seed) {
    const Tensor b = random_tensor({n}, seed, -0.5f, 0.5f);
    Tensor q(DType::kI32, Shape({n}));
    std::vector<float> s(static_cast<size_t>(n));
    for (int64_t c = 0; c < n; ++c) {
      s[c] = sx * sw[sw.size() == 1 ? 0 : c];
      q.data<int32_t>()[c] = static_cast<int32_t>(std::nearbyint(b.data<float>()[c] / s[c]));
    }
    const std::string bq = fresh("bq"), bs = fresh("bs"), y = fresh("b");
    g.initializers[bq] = q;
    g.initializers[bs] = Tensor::from_vector(Shape({n}), s);
    Node& dq = g.add_node("DequantizeLinear", {bq, bs}, {y});
    dq.set_attr("axis", int64_t{0});
    return y;
  }
};

}  // namespace edgeopt::runtime::passes::testing

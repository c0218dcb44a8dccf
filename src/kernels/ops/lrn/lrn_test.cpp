#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

// The ONNX reference formulation (onnx/backend/test/case/node/lrn.py), written independently.
Tensor lrn_naive(const Tensor& x, float alpha, float beta, float bias, int64_t size) {
  const Shape& s = x.shape();
  Tensor sq = Tensor::zeros(DType::kF32, s);
  const int64_t N = s[0], C = s[1], inner = x.numel() / (N * C);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < inner; ++i) {
        const int64_t lo = std::max<int64_t>(0, c - (size - 1) / 2);
        const int64_t hi = std::min<int64_t>(C - 1, c + (size - 1) / 2 + (size - 1) % 2);
        double acc = 0;
        for (int64_t k = lo; k <= hi; ++k) acc += std::pow(x.data<float>()[(n * C + k) * inner + i], 2.0);
        sq.data<float>()[(n * C + c) * inner + i] = static_cast<float>(acc);
      }
  Tensor y(DType::kF32, s);
  for (int64_t e = 0; e < x.numel(); ++e)
    y.data<float>()[e] =
        static_cast<float>(x.data<float>()[e] / std::pow(bias + alpha / size * sq.data<float>()[e], beta));
  return y;
}

}  // namespace

TEST(Lrn, MatchesOnnxFormulation) {
  for (int64_t size : {1, 2, 3, 5}) {
    Node n = make_node("LRN", 1, 1);
    n.set_attr("size", size);
    n.set_attr("alpha", 0.0002f);
    n.set_attr("beta", 0.5f);
    n.set_attr("bias", 2.f);
    Tensor x = random_f32({5, 7, 3, 4}, static_cast<uint64_t>(size), -3.f, 3.f);
    expect_close(lrn_naive(x, 0.0002f, 0.5f, 2.f, size), run_op(n, {x})[0], 1e-6, 1e-5, "size " + std::to_string(size));
  }
  Node d = make_node("LRN", 1, 1);  // defaults
  d.set_attr("size", int64_t{3});
  Tensor x = random_f32({2, 17, 5}, 9, -3.f, 3.f);
  expect_close(lrn_naive(x, 1e-4f, 0.75f, 1.f, 3), run_op(d, {x})[0], 1e-6, 1e-5, "defaults");
}

TEST(Lrn, GradientMatchesFiniteDifferences) {
  for (int64_t size : {2, 3}) {
    Node n = make_node("LRN", 1, 1);
    n.set_attr("size", size);
    n.set_attr("alpha", 0.5f);  // large enough that the cross-channel term matters
    n.set_attr("beta", 0.75f);
    expect_gradients_match(n, {random_f32({2, 5, 3}, 3 + static_cast<uint64_t>(size))});
  }
}

TEST(Lrn, Errors) {
  Node n = make_node("LRN", 1, 1);
  EXPECT_THROW(run_op(n, {random_f32({1, 3, 2, 2}, 1)}), Error);  // size missing
  n.set_attr("size", int64_t{0});
  EXPECT_THROW(run_op(n, {random_f32({1, 3, 2, 2}, 1)}), Error);
  n.set_attr("size", int64_t{3});
  EXPECT_THROW(run_op(n, {random_f32({3}, 1)}), Error);
  EXPECT_THROW(run_op(n, {Tensor::zeros(DType::kI32, {1, 3, 2})}), Error);
}

}  // namespace edgeopt::kernels::testing

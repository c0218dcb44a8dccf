#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

// Independent formulation: explicit transposes first, then a plain triple loop in double.
Tensor naive_gemm(const Tensor& a, const Tensor& b, const Tensor* c, bool ta, bool tb, float alpha, float beta) {
  const int64_t M = ta ? a.shape()[1] : a.shape()[0], K = ta ? a.shape()[0] : a.shape()[1];
  const int64_t N = tb ? b.shape()[0] : b.shape()[1];
  Tensor y(DType::kF32, {M, N});
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double acc = 0;
      for (int64_t p = 0; p < K; ++p)
        acc += a.at(ta ? p * M + i : i * K + p) * b.at(tb ? j * K + p : p * N + j);
      double cv = 0;
      if (c) {
        // Unidirectional broadcast of C (rank <= 2) to [M, N].
        const Shape& cs = c->shape();
        const int64_t cr = cs.rank() == 2 ? (cs[0] == 1 ? 0 : i) : 0;
        const int64_t cc = cs.rank() >= 1 ? (cs[cs.rank() - 1] == 1 ? 0 : j) : 0;
        cv = c->at(cs.rank() == 2 ? cr * cs[1] + cc : cc);
      }
      y.data<float>()[i * N + j] = static_cast<float>(alpha * acc + beta * cv);
    }
  return y;
}

Node gemm_node(bool ta, bool tb, float alpha, float beta, bool with_c) {
  Node n = make_node("Gemm", with_c ? 3 : 2, 1);
  n.set_attr("transA", int64_t{ta});
  n.set_attr("transB", int64_t{tb});
  n.set_attr("alpha", alpha);
  n.set_attr("beta", beta);
  return n;
}

TEST(Gemm, ForwardMatchesNaive) {
  const std::vector<Shape> c_shapes = {{}, {1}, {5}, {1, 5}, {3, 1}, {3, 5}};
  uint64_t seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const Shape& cs : c_shapes) {
        Tensor a = random_f32(ta ? Shape{7, 3} : Shape{3, 7}, seed++);
        Tensor b = random_f32(tb ? Shape{5, 7} : Shape{7, 5}, seed++);
        Tensor c = random_f32(cs, seed++);
        auto y = run_op(gemm_node(ta, tb, 0.25f, 0.35f, true), {a, b, c});
        expect_close(naive_gemm(a, b, &c, ta, tb, 0.25f, 0.35f), y[0], 1e-5, 1e-5,
                     "gemm transA=" + std::to_string(ta) + " transB=" + std::to_string(tb) + " C=" + cs.str());
      }
  Tensor a = random_f32({2, 10}, 1), b = random_f32({10, 3}, 2);
  expect_close(naive_gemm(a, b, nullptr, false, false, 1.f, 1.f), run_op(make_node("Gemm", 2, 1), {a, b})[0], 1e-5,
               1e-5, "no C");
  // An omitted optional C (opset 11+) arrives as an undefined tensor.
  expect_close(naive_gemm(a, b, nullptr, false, false, 1.f, 1.f), run_op(make_node("Gemm", 3, 1), {a, b, Tensor()})[0],
               1e-5, 1e-5, "omitted C");
}

TEST(Gemm, HandComputed) {
  Tensor a = Tensor::from_vector<float>({2, 2}, {1, 2, 3, 4});
  Tensor b = Tensor::from_vector<float>({2, 2}, {5, 6, 7, 8});
  Tensor c = Tensor::from_vector<float>({2}, {1, -1});
  auto y = run_op(gemm_node(false, false, 2.f, 3.f, true), {a, b, c});
  // A@B = [[19, 22], [43, 50]]
  expect_close(Tensor::from_vector<float>({2, 2}, {41, 41, 89, 97}), y[0], 0, 0, "gemm 2x2");
}

TEST(Gemm, GradientMatchesFiniteDifferences) {
  uint64_t seed = 3;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (const Shape& cs : std::vector<Shape>{{}, {4}, {3, 1}, {3, 4}}) {
        Tensor a = random_f32(ta ? Shape{5, 3} : Shape{3, 5}, seed++);
        Tensor b = random_f32(tb ? Shape{4, 5} : Shape{5, 4}, seed++);
        expect_gradients_match(gemm_node(ta, tb, 0.7f, -1.3f, true), {a, b, random_f32(cs, seed++)});
      }
  expect_gradients_match(make_node("Gemm", 2, 1), {random_f32({2, 3}, 1), random_f32({3, 2}, 2)});
}

TEST(Gemm, RejectsBadInput) {
  Node n = make_node("Gemm", 3, 1);
  EXPECT_THROW(run_op(n, {random_f32({3}, 1), random_f32({3, 2}, 2), Tensor()}), Error);
  EXPECT_THROW(run_op(n, {random_f32({2, 3}, 1), random_f32({4, 2}, 2), Tensor()}), Error);  // K mismatch
  EXPECT_THROW(run_op(n, {random_f32({2, 3}, 1), random_f32({3, 2}, 2), random_f32({3}, 3)}), Error);  // C
  EXPECT_THROW(run_op(n, {random_f32({2, 3}, 1), random_f32({3, 2}, 2), random_f32({1, 2, 2}, 3)}), Error);
  EXPECT_THROW(run_op(n, {random_f32({2, 3}, 1), random_f32({3, 2}, 2), random_f32({4, 2}, 3)}), Error);
  EXPECT_THROW(run_op(n, {Tensor::zeros(DType::kI32, {2, 3}), random_f32({3, 2}, 2), Tensor()}), Error);
}

TEST(Gemm, Macs) {
  Node n = make_node("Gemm", 2, 1);
  n.set_attr("transA", int64_t{1});
  std::vector<Shape> in{{7, 3}, {7, 5}}, out{{3, 5}};
  EXPECT_EQ(node_macs(n, in, out), 3 * 5 * 7);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

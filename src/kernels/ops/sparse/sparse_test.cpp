// SparseConv / SparseGemm against the dense Conv / Gemm reference on the same (pruned) weights,
// over 1x1 and KxK kernels, strides, padding, bias, fused activations and batch sizes that take the
// gather (M <= 4) and the transposed-axpy paths.
#include "kernels/ops/sparse/sparse.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "kernels/microkernels/sparse/spmm_csr.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels {
namespace {

using testing::expect_close;
using testing::make_node;
using testing::random_f32;
using testing::run_op;

// A random weight with about `sparsity` exact zeros.
Tensor sparse_weight(Shape shape, double sparsity, uint32_t seed) {
  Tensor w = random_f32(std::move(shape), seed);
  std::mt19937 rng(seed + 7);
  std::uniform_real_distribution<double> u(0, 1);
  for (int64_t i = 0; i < w.numel(); ++i)
    if (u(rng) < sparsity) w.data<float>()[i] = 0.f;
  return w;
}

std::vector<Tensor> csr_inputs(const Tensor& dense_rows) {
  const int64_t rows = dense_rows.shape()[0], cols = dense_rows.numel() / rows;
  auto m = microkernels::csr_from_dense_f32(dense_rows.data<float>(), rows, cols);
  const int64_t nnz = static_cast<int64_t>(m.values.size());
  return {Tensor::from_vector<float>({nnz}, m.values), Tensor::from_vector<int32_t>({nnz}, m.col_idx),
          Tensor::from_vector<int32_t>({rows + 1}, m.row_ptr)};
}

struct ConvCase {
  int64_t n, c, h, w, m, k, stride, pad;
  double sparsity;
  bool bias, relu;
  std::string describe() const {
    std::ostringstream os;
    os << "x=[" << n << "," << c << "," << h << "," << w << "] m=" << m << " k=" << k << " s=" << stride << " p=" << pad
       << " sparsity=" << sparsity << " bias=" << bias << " relu=" << relu;
    return os.str();
  }
};

TEST(SparseConv, MatchesDenseConvReference) {
  const ConvCase cases[] = {
      {1, 8, 5, 5, 6, 1, 1, 0, 0.9, true, false},  {2, 13, 7, 6, 17, 1, 1, 0, 0.5, false, true},
      {1, 4, 9, 7, 5, 3, 1, 1, 0.8, true, true},   {2, 3, 8, 8, 7, 3, 2, 1, 0.95, true, false},
      {1, 6, 6, 6, 4, 1, 2, 0, 0.7, false, false}, {1, 5, 4, 4, 3, 3, 1, 0, 1.0, true, false},
  };
  uint32_t seed = 1;
  for (const auto& cs : cases) {
    Tensor x = random_f32({cs.n, cs.c, cs.h, cs.w}, seed++);
    Tensor w = sparse_weight({cs.m, cs.c, cs.k, cs.k}, cs.sparsity, seed++);
    Tensor b = random_f32({cs.m}, seed++);
    Node dense = make_node("Conv", cs.bias ? 3 : 2, 1);
    Node sparse = make_node("SparseConv", cs.bias ? 5 : 4, 1);
    for (Node* nd : {&dense, &sparse}) {
      nd->set_attr("kernel_shape", std::vector<int64_t>{cs.k, cs.k});
      nd->set_attr("strides", std::vector<int64_t>{cs.stride, cs.stride});
      nd->set_attr("pads", std::vector<int64_t>{cs.pad, cs.pad, cs.pad, cs.pad});
      if (cs.relu) nd->set_attr("activation", std::string("Relu"));
    }
    sparse.set_attr("weight_shape", w.shape().dims());
    std::vector<Tensor> din{x, w};
    std::vector<Tensor> sin{x};
    for (auto& t : csr_inputs(w)) sin.push_back(t);
    if (cs.bias) {
      din.push_back(b);
      sin.push_back(b);
    }
    expect_close(run_op(dense, din)[0], run_op(sparse, sin)[0], 1e-5, 1e-5, "SparseConv vs Conv ref, " + cs.describe());
  }
}

TEST(SparseGemm, MatchesDenseGemmReference) {
  struct Case { int64_t m, k, n; bool trans_b, bias, relu; double sparsity; };
  const Case cases[] = {{1, 64, 10, true, true, false, 0.9}, {3, 33, 17, false, true, true, 0.8},
                        {7, 50, 9, true, false, false, 0.5}, {16, 128, 32, false, true, true, 0.95},
                        {5, 8, 3, true, true, false, 1.0}};
  uint32_t seed = 100;
  for (const auto& cs : cases) {
    Tensor a = random_f32({cs.m, cs.k}, seed++);
    Tensor bmat = sparse_weight(cs.trans_b ? Shape{cs.n, cs.k} : Shape{cs.k, cs.n}, cs.sparsity, seed++);
    Tensor c = random_f32({cs.n}, seed++);
    Node dense = make_node("Gemm", cs.bias ? 3 : 2, 1);
    dense.set_attr("transB", int64_t{cs.trans_b});
    Node sparse = make_node("SparseGemm", cs.bias ? 5 : 4, 1);
    sparse.set_attr("weight_shape", std::vector<int64_t>{cs.n, cs.k});
    if (cs.relu) {
      dense.set_attr("activation", std::string("Relu"));
      sparse.set_attr("activation", std::string("Relu"));
    }
    // The CSR rows are the output columns: W[N, K] = op(B)^T.
    Tensor wrows(DType::kF32, {cs.n, cs.k});
    for (int64_t j = 0; j < cs.n; ++j)
      for (int64_t p = 0; p < cs.k; ++p)
        wrows.data<float>()[j * cs.k + p] = cs.trans_b ? bmat.data<float>()[j * cs.k + p] : bmat.data<float>()[p * cs.n + j];
    std::vector<Tensor> din{a, bmat};
    std::vector<Tensor> sin{a};
    for (auto& t : csr_inputs(wrows)) sin.push_back(t);
    if (cs.bias) {
      din.push_back(c);
      sin.push_back(c);
    }
    std::ostringstream what;
    what << "SparseGemm vs Gemm ref, M=" << cs.m << " K=" << cs.k << " N=" << cs.n << " transB=" << cs.trans_b
         << " sparsity=" << cs.sparsity;
    expect_close(run_op(dense, din)[0], run_op(sparse, sin)[0], 1e-5, 1e-5, what.str());
  }
}

TEST(SparseOps, BadCsrArraysAreRejected) {
  Node n = make_node("SparseGemm", 4, 1);
  n.set_attr("weight_shape", std::vector<int64_t>{3, 4});
  std::vector<Tensor> in{random_f32({2, 4}, 1), Tensor::from_vector<float>({1}, {1.f}), Tensor::from_vector<int32_t>({1}, {0}),
                         Tensor::from_vector<int32_t>({3}, {0, 1, 1})};  // row_ptr needs rows + 1 = 4 entries
  EXPECT_THROW(run_op(n, in), Error);
  in[3] = Tensor::from_vector<int32_t>({4}, {0, 1, 1, 1});
  in[0] = random_f32({2, 5}, 2);  // K mismatch
  EXPECT_THROW(run_op(n, in), Error);
}

}  // namespace
}  // namespace edgeopt::kernels

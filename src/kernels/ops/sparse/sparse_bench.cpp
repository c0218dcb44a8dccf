// sparse_bench: dense fast Conv/Gemm kernels vs SparseConv/SparseGemm (CSR) on the same pruned
// weights, per sparsity, batch 1 and 64, default thread pool (as runtime::Session runs them).
// Prints median milliseconds and dense/sparse (> 1: the sparse kernel is faster). The crossover
// it shows sets SparseWeightOptions::min_sparsity (runtime/passes/passes.h).
//
//   build/src/sparse_bench            # EDGEOPT_NUM_THREADS=1 for one thread
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "kernels/microkernels/sparse/spmm_csr.h"
#include "kernels/op_def.h"

namespace {

using namespace edgeopt;
using namespace edgeopt::kernels;

Tensor random_tensor(Shape s, uint32_t seed, double sparsity = 0) {
  Tensor t(DType::kF32, std::move(s));
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::uniform_real_distribution<double> z(0, 1);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = z(rng) < sparsity ? 0.f : u(rng);
  return t;
}

double median_ms(const OpDef& op, const Node& n, const std::vector<Tensor>& in) {
  std::vector<double> ms;
  std::vector<Tensor> out(1);
  ForwardFn f = select_forward(op);
  for (int i = 0; i < 25; ++i) {
    ForwardCtx ctx{n, in, out};
    auto t0 = std::chrono::steady_clock::now();
    f(ctx);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

std::vector<Tensor> csr(const Tensor& rows_major) {
  const int64_t rows = rows_major.shape()[0], cols = rows_major.numel() / rows;
  auto m = microkernels::csr_from_dense_f32(rows_major.data<float>(), rows, cols);
  const int64_t nnz = static_cast<int64_t>(m.values.size());
  return {Tensor::from_vector<float>({nnz}, m.values), Tensor::from_vector<int32_t>({nnz}, m.col_idx),
          Tensor::from_vector<int32_t>({rows + 1}, m.row_ptr)};
}

void conv_row(const std::string& label, int64_t n, int64_t c, int64_t hw, int64_t m, int64_t k, double sparsity) {
  Tensor x = random_tensor({n, c, hw, hw}, 1), w = random_tensor({m, c, k, k}, 2, sparsity), b = random_tensor({m}, 3);
  Node dense{.name = "d", .op_type = "Conv", .inputs = {"x", "w", "b"}, .outputs = {"y"}};
  dense.set_attr("kernel_shape", std::vector<int64_t>{k, k});
  dense.set_attr("pads", std::vector<int64_t>{k / 2, k / 2, k / 2, k / 2});
  dense.set_attr("activation", std::string("Relu"));
  Node sparse = dense;
  sparse.op_type = "SparseConv";
  sparse.inputs = {"x", "v", "i", "p", "b"};
  sparse.set_attr("weight_shape", w.shape().dims());
  auto cs = csr(w);
  const double d = median_ms(*find_op("Conv"), dense, {x, w, b});
  const double s = median_ms(*find_op("SparseConv"), sparse, {x, cs[0], cs[1], cs[2], b});
  std::printf("%-34s N=%-3lld sparsity %.2f  dense %8.4f ms  sparse %8.4f ms  dense/sparse %5.2fx\n", label.c_str(),
              static_cast<long long>(n), sparsity, d, s, d / s);
}

void gemm_row(const std::string& label, int64_t m, int64_t k, int64_t n, double sparsity) {
  Tensor a = random_tensor({m, k}, 1), w = random_tensor({n, k}, 2, sparsity), b = random_tensor({n}, 3);
  Node dense{.name = "d", .op_type = "Gemm", .inputs = {"a", "w", "b"}, .outputs = {"y"}};
  dense.set_attr("transB", int64_t{1});
  dense.set_attr("activation", std::string("Relu"));
  Node sparse{.name = "s", .op_type = "SparseGemm", .inputs = {"a", "v", "i", "p", "b"}, .outputs = {"y"}};
  sparse.set_attr("weight_shape", std::vector<int64_t>{n, k});
  sparse.set_attr("activation", std::string("Relu"));
  auto cs = csr(w);
  const double d = median_ms(*find_op("Gemm"), dense, {a, w, b});
  const double s = median_ms(*find_op("SparseGemm"), sparse, {a, cs[0], cs[1], cs[2], b});
  std::printf("%-34s M=%-3lld sparsity %.2f  dense %8.4f ms  sparse %8.4f ms  dense/sparse %5.2fx\n", label.c_str(),
              static_cast<long long>(m), sparsity, d, s, d / s);
}

}  // namespace

int main() {
  for (int64_t batch : {1, 64})
    for (double s : {0.5, 0.7, 0.8, 0.9, 0.95}) gemm_row("Gemm 3136->128 (vision_cnn fc1)", batch, 3136, 128, s);
  for (int64_t batch : {1, 16})
    for (double s : {0.5, 0.7, 0.8, 0.9, 0.95}) conv_row("Conv3x3 32->64 @14x14 (block1)", batch, 32, 14, 64, 3, s);
  for (double s : {0.5, 0.7, 0.8, 0.9, 0.95}) conv_row("Conv1x1 64->128 @14x14", 1, 64, 14, 128, 1, s);
  return 0;
}

// use_sparse_weights: a pruned weight is only a win when the kernel skips its zeros. The CSR
// kernels (kernels/ops/sparse) beat the dense packed GEMM only above a density crossover that
// kernels/ops/sparse/sparse_bench.cpp measures (see docs/compression.md), so dense weights
// stay on the dense path and only weights at least min_sparsity zero move to SparseConv/SparseGemm.
#include <cmath>

#include "kernels/microkernels/sparse/spmm_csr.h"
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

double zero_fraction(const Tensor& t) {
  const float* p = t.data<float>();
  int64_t z = 0;
  for (int64_t i = 0; i < t.numel(); ++i) z += p[i] == 0.f;
  return t.numel() ? static_cast<double>(z) / static_cast<double>(t.numel()) : 0.0;
}

// The 1e-4 slack: "90%" pruning rounds to a whole number of weights, a hair under 0.9.
bool sparse_enough(const Tensor& w, int64_t min_weights, double min_sparsity) {
  return w.dtype() == DType::kF32 && w.numel() >= min_weights && zero_fraction(w) >= min_sparsity - 1e-4;
}

// Adds values/col_idx/row_ptr initializers for a dense row-major [rows, cols] weight; returns their names.
std::vector<std::string> add_csr(Graph& g, const std::string& base, const float* dense, int64_t rows, int64_t cols) {
  kernels::microkernels::CsrMatrixF32 m = kernels::microkernels::csr_from_dense_f32(dense, rows, cols);
  const int64_t nnz = static_cast<int64_t>(m.values.size());
  std::vector<std::string> names{g.unique_name(base + ".csr_values"), "", ""};
  g.initializers[names[0]] = Tensor::from_vector<float>({nnz}, m.values);
  names[1] = g.unique_name(base + ".csr_col_idx");
  g.initializers[names[1]] = Tensor::from_vector<int32_t>({nnz}, m.col_idx);
  names[2] = g.unique_name(base + ".csr_row_ptr");
  g.initializers[names[2]] = Tensor::from_vector<int32_t>({rows + 1}, m.row_ptr);
  return names;
}

bool rewrite_conv(Graph& g, Node& n, const SparseWeightOptions& o) {
  if (n.attr_int("group", 1) != 1 || !n.has_input(1)) return false;
  if (n.inputs.size() > 3) return false;  // a fused residual (fuse_conv_residual_add): SparseConv has none
  const Tensor* w = detail::constant_value(g, n.inputs[1]);
  if (!w || w->rank() < 3 || !sparse_enough(*w, o.min_weights, o.min_sparsity_conv)) return false;
  if (n.has_input(2) && !detail::constant_f32_vector(g, n.inputs[2], w->shape()[0])) return false;
  const int64_t rows = w->shape()[0], cols = w->numel() / rows;
  std::vector<std::string> csr = add_csr(g, n.inputs[1], w->data<float>(), rows, cols);
  n.set_attr("weight_shape", w->shape().dims());
  std::string bias = n.has_input(2) ? n.inputs[2] : "";
  n.inputs = {n.inputs[0], csr[0], csr[1], csr[2]};
  if (!bias.empty()) n.inputs.push_back(bias);
  n.op_type = "SparseConv";
  return true;
}

bool rewrite_gemm(Graph& g, Node& n, const SparseWeightOptions& o) {
  if (n.attr_int("transA", 0) != 0 || n.attr_float("alpha", 1.f) != 1.f || !n.has_input(1)) return false;
  const Tensor* b = detail::constant_value(g, n.inputs[1]);
  if (!b || b->rank() != 2 || !sparse_enough(*b, o.min_weights, o.min_sparsity_gemm)) return false;
  const bool trans_b = n.attr_int("transB", 0) != 0;
  const int64_t rows = trans_b ? b->shape()[0] : b->shape()[1], cols = trans_b ? b->shape()[1] : b->shape()[0];
  std::string bias;
  if (n.has_input(2)) {
    const Tensor* c = detail::constant_value(g, n.inputs[2]);
    // Only a per-output-column bias ([N] or [1, N]) maps onto the kernel's bias; beta scales it.
    if (!c || c->dtype() != DType::kF32 || c->numel() != rows || (c->rank() == 2 && c->shape()[0] != 1) ||
        c->rank() > 2)
      return false;
    const float beta = n.attr_float("beta", 1.f);
    Tensor scaled = Tensor(DType::kF32, {rows});
    for (int64_t j = 0; j < rows; ++j) scaled.data<float>()[j] = beta * c->data<float>()[j];
    bias = g.unique_name(n.inputs[2] + ".bias");
    g.initializers[bias] = scaled;
  }
  std::vector<float> w(static_cast<size_t>(rows * cols));  // [N, K] = op(B)^T
  const float* pb = b->data<float>();
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t k = 0; k < cols; ++k) w[r * cols + k] = trans_b ? pb[r * cols + k] : pb[k * rows + r];
  std::vector<std::string> csr = add_csr(g, n.inputs[1], w.data(), rows, cols);
  n.attrs.erase("transA");
  n.attrs.erase("transB");
  n.attrs.erase("alpha");
  n.attrs.erase("beta");
  n.set_attr("weight_shape", std::vector<int64_t>{rows, cols});
  n.inputs = {n.inputs[0], csr[0], csr[1], csr[2]};
  if (!bias.empty()) n.inputs.push_back(bias);
  n.op_type = "SparseGemm";
  return true;
}

}  // namespace

PassReport use_sparse_weights(Graph& g, const SparseWeightOptions& o) {
  PassReport r{"use_sparse_weights", 0};
  for (Node& n : g.nodes) {
    if (!n.domain.empty()) continue;
    if ((n.op_type == "Conv" && rewrite_conv(g, n, o)) || (n.op_type == "Gemm" && rewrite_gemm(g, n, o))) ++r.nodes_changed;
  }
  if (r.nodes_changed) remove_dead_nodes(g);  // drops the dense weights nothing reads any more
  return r;
}

}  // namespace edgeopt::runtime::passes

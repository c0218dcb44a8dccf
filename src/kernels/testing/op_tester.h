// Test helpers for ops: run an OpDef on a single node, compare tensors with context-rich messages,
// and check gradients against central finite differences.
//
//   Node n = make_node("Relu", 1, 1);
//   auto y = run_op(n, {random_f32({2, 3}, 1)});
//   expect_gradients_match(n, {random_f32({2, 3}, 1, 0.1f, 1.f)});
#pragma once
#include <string>
#include <vector>

#include "kernels/op_def.h"

namespace edgeopt::kernels::testing {

// A node with inputs "i0".."i{n-1}" and outputs "o0".."o{m-1}".
Node make_node(const std::string& op_type, size_t n_inputs, size_t n_outputs);
// Uniform in [lo, hi), deterministic from the seed.
Tensor random_f32(Shape shape, uint64_t seed, float lo = -1.f, float hi = 1.f);
// Runs the reference forward of node.op_type. Throws what the op throws.
std::vector<Tensor> run_op(const Node& node, const std::vector<Tensor>& inputs, bool training = false,
                           std::vector<Tensor>* saved = nullptr, uint64_t seed = 0);
// EXPECTs |got - want| <= atol + rtol*|want| element-wise; the message names the first bad index,
// both values and `what`.
void expect_close(const Tensor& want, const Tensor& got, double atol, double rtol, const std::string& what);
// Checks the op's backward against central finite differences of L = sum_k r_k * y_k (random r)
// for every f32 input in `wrt` (default: all f32 inputs). Forward runs in training mode with a
// fixed seed, so stochastic ops are deterministic across the perturbations.
void expect_gradients_match(const Node& node, const std::vector<Tensor>& inputs, std::vector<size_t> wrt = {},
                            double eps = 1e-2, double atol = 2e-3, double rtol = 2e-2);

}  // namespace edgeopt::kernels::testing

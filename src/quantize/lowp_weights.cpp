#include "quantize/lowp_weights.h"

#include <cmath>
#include <unordered_set>

namespace edgeopt::quantize {

Graph store_weights_lowp(const Graph& src, DType dtype, LowpReport* report) {
  EDGEOPT_CHECK_ARG(dtype == DType::kF16 || dtype == DType::kBF16,
                    std::string("weight storage dtype must be f16 or bf16, got ") + dtype_name(dtype));
  static const std::unordered_set<std::string> kOps = {"Conv", "ConvTranspose", "Gemm", "MatMul", "LSTM", "GRU", "RNN",
                                                      "Add", "Mul", "Sub", "BatchNormalization"};
  Graph g = src;
  std::unordered_set<std::string> candidates, other_use;
  for (const auto& n : g.nodes)
    for (const auto& in : n.inputs) (kOps.count(n.op_type) ? candidates : other_use).insert(in);
  LowpReport rep;
  std::vector<Node> casts;
  for (const auto& name : candidates) {
    auto it = g.initializers.find(name);
    if (it == g.initializers.end() || it->second.dtype() != DType::kF32 || it->second.numel() < 16 ||
        other_use.count(name) || g.find_input(name))
      continue;
    const Tensor& w = it->second;
    if (dtype == DType::kF16) {
      bool overflow = false;
      for (int64_t i = 0; i < w.numel(); ++i) overflow = overflow || std::abs(w.data<float>()[i]) > 65504.f;
      if (overflow) {
        ++rep.kept_overflow;
        continue;
      }
    }
    Tensor low = w.cast(dtype);
    std::string stored = g.unique_name(name + (dtype == DType::kF16 ? "_f16" : "_bf16"));
    while (g.initializers.count(stored)) stored += "_";
    Node c;
    c.op_type = "Cast";
    c.name = name + "_Cast";
    c.inputs = {stored};
    c.outputs = {name};
    c.set_attr("to", int64_t{1});  // TensorProto.FLOAT
    casts.push_back(c);
    g.initializers.erase(name);
    g.initializers[stored] = std::move(low);
    ++rep.converted;
  }
  g.nodes.insert(g.nodes.begin(), casts.begin(), casts.end());
  g.metadata["edgeopt.weights"] = dtype == DType::kF16 ? "fp16" : "bf16";
  // bf16 weights lose nothing more when the products read bf16 activations: the runtime computes
  // in bf16 where the CPU has AVX512-BF16 (runtime/passes use_bf16_compute).
  if (dtype == DType::kBF16) g.metadata["edgeopt.compute"] = "bf16";
  if (report) *report = rep;
  return g;
}

}  // namespace edgeopt::quantize

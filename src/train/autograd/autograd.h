// Autograd over a Graph: forward in training mode keeping every value and what each op's backward
// asked to save, then a reverse walk through each OpDef::backward, accumulating gradients.
//
//   Autograd ag(graph);                                  // validates ops once
//   auto out = ag.forward({{"x", batch}}, /*training=*/true, step);
//   auto [loss, dlogits] = cross_entropy(out.at("logits"), labels);
//   auto grads = ag.backward({{"logits", dlogits}});     // name -> gradient, for every f32 initializer reached
//
// Parameters are the graph's f32 initializers; the caller may pass replacements (e.g. the current
// weights held by an optimizer) through set_parameter without copying the graph.
// BatchNormalization nodes get their running statistics updated after each training forward
// (ONNX opset 15 training semantics, momentum from the node), so an exported graph is ready for
// inference.
#pragma once
#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/graph.h"
#include "kernels/op_def.h"

namespace edgeopt::train {

class Autograd {
 public:
  explicit Autograd(Graph& graph);  // holds a reference: parameters are read from/updated in graph.initializers

  // Runs all nodes. training=true selects batch statistics, dropout masks (seeded by `step`) and
  // keeps what backward needs. Returns every graph output.
  std::map<std::string, Tensor> forward(const std::map<std::string, Tensor>& feeds, bool training, uint64_t step = 0);
  // Gradients of sum_k <grad_outputs[k], output_k> with respect to every f32 initializer the
  // gradient reaches (and to graph inputs when `include_inputs`). Requires a training forward first.
  std::unordered_map<std::string, Tensor> backward(const std::map<std::string, Tensor>& grad_outputs,
                                                   bool include_inputs = false);
  // Value computed during the last forward (intermediate or output); throws NotFound.
  const Tensor& value(const std::string& name) const;

 private:
  Graph& graph_;
  std::vector<size_t> order_;
  std::vector<const kernels::OpDef*> ops_;
  std::unordered_map<std::string, Tensor> values_;
  std::vector<std::vector<Tensor>> saved_;     // per node index
  std::vector<std::vector<Tensor>> node_out_;  // outputs per node index (incl. unnamed BN stats)
  bool have_training_forward_ = false;
};

}  // namespace edgeopt::train

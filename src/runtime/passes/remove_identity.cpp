// remove_identity_ops: Identity and inference Dropout forward their input unchanged, so their
// consumers can read the input directly (ORT's EliminateIdentity / EliminateDropout).
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using detail::constant_value;
using detail::is_graph_output;

bool is_inference_dropout(const Graph& g, const Node& n) {
  if (n.op_type != "Dropout" || !n.domain.empty()) return false;
  if (n.outputs.size() > 1 && !n.outputs[1].empty()) return false;  // the mask is read
  if (n.has_input(2)) {  // opset 12+ training_mode: only a constant false is inference
    const Tensor* t = constant_value(g, n.inputs[2]);
    if (!t || t->numel() != 1 || t->at(0) != 0) return false;
  }
  return true;
}

}  // namespace

PassReport remove_identity_ops(Graph& g) {
  PassReport r{"remove_identity_ops", 0};
  std::vector<bool> erase(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    const bool identity = n.op_type == "Identity" && n.domain.empty();
    if (!identity && !is_inference_dropout(g, n)) continue;
    if (!n.has_input(0) || n.outputs.empty() || n.outputs[0].empty()) continue;
    const std::string x = n.inputs[0], y = n.outputs[0];
    if (!is_graph_output(g, y)) {
      detail::replace_uses(g, y, x);
    } else {
      // y must keep its name: rename x's producer output to y instead, when x is a plain
      // intermediate (not a graph input, initializer or output of its own).
      if (is_graph_output(g, x) || g.find_input(x) || g.is_initializer(x)) continue;
      bool renamed = false;
      for (size_t j = 0; j < g.nodes.size() && !renamed; ++j)
        for (auto& o : g.nodes[j].outputs)
          if (j != i && !erase[j] && o == x) {
            o = y;
            renamed = true;
          }
      if (!renamed) continue;
      detail::replace_uses(g, x, y);
    }
    erase[i] = true;
    ++r.nodes_changed;
  }
  detail::erase_nodes(g, erase);
  return r;
}

}  // namespace edgeopt::runtime::passes

// fold_constants: a node fed only by constants computes the same value on every run, so it runs
// once, at load, through the reference kernel (ORT's ConstantFolding). Typical wins: Constant nodes,
// shape arithmetic feeding Reshape, weights stored transposed or quantized.
#include "kernels/op_def.h"
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {

PassReport fold_constants(Graph& g, size_t max_bytes) {
  PassReport r{"fold_constants", 0};
  std::vector<size_t> order;
  try {
    order = g.topo_order();
  } catch (const Error&) {
    return r;  // the Session reports the broken graph
  }
  std::vector<bool> erase(g.nodes.size(), false);
  for (size_t idx : order) {
    const Node& n = g.nodes[idx];
    const kernels::OpDef* op = kernels::find_op(n.op_type);
    if (!op || !n.domain.empty()) continue;
    std::vector<Tensor> in(n.inputs.size());
    bool all_const = true;
    for (size_t i = 0; i < n.inputs.size() && all_const; ++i) {
      if (n.inputs[i].empty()) continue;
      const Tensor* t = detail::constant_value(g, n.inputs[i]);
      all_const = t != nullptr;
      if (t) in[i] = *t;
    }
    if (!all_const) continue;
    bool named_output = false;
    for (const auto& o : n.outputs) named_output = named_output || !o.empty();
    if (!named_output) continue;
    std::vector<Tensor> out(n.outputs.size());
    kernels::ForwardCtx ctx{n, in, out};
    ctx.opset = g.opset;
    try {
      op->forward(ctx);
    } catch (const std::exception&) {
      continue;  // left for run time, where the error gets the session's context
    }
    size_t bytes = 0;
    bool complete = true;
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      if (n.outputs[o].empty()) continue;
      complete = complete && out[o].defined();
      if (out[o].defined()) bytes += out[o].nbytes();
    }
    if (!complete || bytes > max_bytes) continue;
    for (size_t o = 0; o < n.outputs.size(); ++o)
      if (!n.outputs[o].empty()) g.initializers[n.outputs[o]] = std::move(out[o]);
    erase[idx] = true;
    ++r.nodes_changed;
  }
  detail::erase_nodes(g, erase);
  return r;
}

}  // namespace edgeopt::runtime::passes

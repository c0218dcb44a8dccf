// fuse_conv_gemm_activation: a Relu or Clip right after a Conv or Gemm costs a full extra pass over
// the activations; the fast kernels clamp in the GEMM epilogue while the tile is in registers
// (XNNPACK's min/max params, ORT's FusedConv), so the pair becomes one node with an
// edgeopt-internal `activation` attribute (see kernels::fused_activation in kernels/common.h).
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {

PassReport fuse_conv_gemm_activation(Graph& g) {
  PassReport r{"fuse_conv_gemm_activation", 0};
  auto uses = detail::use_counts(g);
  auto producer = detail::producers(g);
  std::vector<bool> erase(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& act = g.nodes[i];
    std::string kind;
    float lo = 0, hi = 0;
    if (!detail::activation_bounds(g, act, &kind, &lo, &hi)) continue;
    const std::string& x = act.inputs[0];
    auto p = producer.find(x);
    if (p == producer.end() || uses[x] != 1 || erase[p->second]) continue;
    Node& prev = g.nodes[p->second];
    if ((prev.op_type != "Conv" && prev.op_type != "Gemm") || !prev.domain.empty() || prev.has_attr("activation") ||
        prev.outputs.size() != 1)
      continue;
    prev.set_attr("activation", kind);
    if (kind == "Clip") {
      prev.set_attr("activation_min", lo);
      prev.set_attr("activation_max", hi);
    }
    prev.outputs[0] = act.outputs[0];
    erase[i] = true;
    ++r.nodes_changed;
  }
  detail::erase_nodes(g, erase);
  return r;
}

}  // namespace edgeopt::runtime::passes

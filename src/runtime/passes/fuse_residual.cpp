// fuse_conv_residual_add: Y = Add(Conv(X, W, B), R) costs a full extra pass over the activations
// (read two tensors, write one) in every residual block; the fused Conv starts its GEMM from
// C = R (beta 1) or adds R in the Winograd output transform, and a following Relu then fuses as
// the Conv's activation (Y = relu(conv + B + R), the ResNet block's tail in one kernel).
// The residual becomes an edgeopt-internal 4th Conv input, so it only fires when both shapes are
// known and equal (no broadcasting), and only when the Conv output feeds nothing else.
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

// Same rank and, per dim, the same size or the same symbolic name ("N" == "N").
bool same_shape(const Graph& g, const std::string& a, const std::string& b) {
  Shape sa, sb;
  std::vector<std::string> pa, pb;
  if (const Tensor* t = detail::constant_value(g, a)) {
    sa = t->shape();
  } else if (const ValueInfo* vi = detail::value_info(g, a)) {
    sa = vi->shape, pa = vi->dim_params;
  } else {
    return false;
  }
  if (const Tensor* t = detail::constant_value(g, b)) {
    sb = t->shape();
  } else if (const ValueInfo* vi = detail::value_info(g, b)) {
    sb = vi->shape, pb = vi->dim_params;
  } else {
    return false;
  }
  if (sa.rank() != sb.rank() || sa.rank() == 0) return false;
  for (size_t d = 0; d < sa.rank(); ++d) {
    if (sa[d] >= 0 && sa[d] == sb[d]) continue;
    const std::string na = d < pa.size() ? pa[d] : "", nb = d < pb.size() ? pb[d] : "";
    if (sa[d] < 0 && sb[d] < 0 && !na.empty() && na == nb) continue;
    return false;
  }
  return true;
}

}  // namespace

PassReport fuse_conv_residual_add(Graph& g) {
  PassReport r{"fuse_conv_residual_add", 0};
  auto uses = detail::use_counts(g);
  auto producer = detail::producers(g);
  std::vector<bool> erase(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& add = g.nodes[i];
    if (add.op_type != "Add" || !add.domain.empty() || add.inputs.size() != 2 || add.outputs.size() != 1) continue;
    for (int side = 0; side < 2; ++side) {
      const std::string& c = add.inputs[side];
      const std::string& res = add.inputs[1 - side];
      auto p = producer.find(c);
      if (c == res || p == producer.end() || erase[p->second] || uses[c] != 1 || detail::is_graph_output(g, c)) continue;
      Node& conv = g.nodes[p->second];
      if (conv.op_type != "Conv" || !conv.domain.empty() || conv.has_attr("activation") || conv.inputs.size() > 3 ||
          conv.outputs.size() != 1 || !same_shape(g, c, res))
        continue;
      conv.inputs.resize(3);  // "" for an absent bias
      conv.inputs.push_back(res);
      conv.set_attr("residual", int64_t{1});
      conv.outputs[0] = add.outputs[0];
      erase[i] = true;
      ++r.nodes_changed;
      break;
    }
  }
  detail::erase_nodes(g, erase);
  return r;
}

}  // namespace edgeopt::runtime::passes

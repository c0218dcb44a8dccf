// fuse_qconv_maxpool: a 2x2 stride-2 MaxPool right after a QLinearConv (the int8 CNN block
// Conv -> Relu -> MaxPool after fuse_qdq). The requantization (with its clamp) is monotonic per
// output channel, so max(requantize(acc)) == requantize(max(acc)) exactly: the fast kernel pools
// the s32 accumulators and requantizes a quarter of the values, and the pooled codes never take a
// separate pass. The pair becomes one QLinearConv with the edgeopt-internal attribute maxpool = 2.
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
PassReport fuse_qconv_maxpool(Graph& g) {
  PassReport r{"fuse_qconv_maxpool", 0};
  auto uses = detail::use_counts(g);
  auto producer = detail::producers(g);
  std::vector<bool> erase(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& pool = g.nodes[i];
    if (!detail::is_plain_maxpool_2x2s2(pool)) continue;
    const std::string& x = pool.inputs[0];
    auto p = producer.find(x);
    if (p == producer.end() || uses[x] != 1 || erase[p->second] || detail::is_graph_output(g, x)) continue;
    Node& conv = g.nodes[p->second];
    if (conv.op_type != "QLinearConv" || !conv.domain.empty() || conv.has_attr("maxpool") || conv.outputs.size() != 1)
      continue;
    // 2-D only: the weight (input 3) must be a rank-4 constant.
    const Tensor* w = conv.inputs.size() > 3 ? detail::constant_value(g, conv.inputs[3]) : nullptr;
    if (!w || w->rank() != 4) continue;
    conv.set_attr("maxpool", int64_t{2});
    conv.outputs[0] = pool.outputs[0];
    g.value_info.erase(x);
    erase[i] = true;
    ++r.nodes_changed;
  }
  detail::erase_nodes(g, erase);
  return r;
}

}  // namespace edgeopt::runtime::passes

// fuse_qconv_maxpool: a 2x2 stride-2 MaxPool right after a QLinearConv (the int8 CNN block
// Conv -> Relu -> MaxPool after fuse_qdq). The requantization (with its clamp) is monotonic per
// output channel, so max(requantize(acc)) == requantize(max(acc)) exactly: the fast kernel pools
// the s32 accumulators and requantizes a quarter of the values, and the pooled codes never take a
// separate pass. The pair becomes one QLinearConv with the edgeopt-internal attribute maxpool = 2.
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

bool all_equal(const std::vector<int64_t>& v, int64_t x) {
  for (int64_t e : v)
    if (e != x) return false;
  return true;
}

// MaxPool 2-D, kernel 2x2, stride 2, no padding or dilation, floor mode, values only.
bool is_plain_maxpool_2x2s2(const Node& n) {
  if (n.op_type != "MaxPool" || !n.domain.empty() || n.inputs.size() != 1) return false;
  if (n.outputs.size() > 1 && !n.outputs[1].empty()) return false;  // Indices
  const std::string pad = n.attr_string("auto_pad", "NOTSET");
  return n.attr_ints("kernel_shape") == std::vector<int64_t>{2, 2} &&
         n.attr_ints("strides") == std::vector<int64_t>{2, 2} && all_equal(n.attr_ints("pads"), 0) &&
         all_equal(n.attr_ints("dilations"), 1) && n.attr_int("ceil_mode", 0) == 0 &&
         (pad == "NOTSET" || pad == "VALID");
}

}  // namespace

PassReport fuse_qconv_maxpool(Graph& g) {
  PassReport r{"fuse_qconv_maxpool", 0};
  auto uses = detail::use_counts(g);
  auto producer = detail::producers(g);
  std::vector<bool> erase(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& pool = g.nodes[i];
    if (!is_plain_maxpool_2x2s2(pool)) continue;
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

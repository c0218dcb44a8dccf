// fuse_conv_maxpool: Conv (2-D, group 1, stride 1, dilation 1, constant weights, activation
// already fused) -> MaxPool 2x2/2 (unpadded, floor, values only) becomes one ConvMaxPool node,
// whose fast kernel pools the conv outputs in registers (kernels/ops/conv/conv_pool_fp32.h): the
// full-size activation is never stored and the pool takes no pass of its own. The small-CNN block
// Conv -> Relu -> MaxPool. The pair is left alone when anything else reads the conv output.
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

bool all_ones(const std::vector<int64_t>& v) {
  for (int64_t e : v)
    if (e != 1) return false;
  return true;
}

bool is_fusable_conv(const Graph& g, const Node& conv) {
  if (conv.op_type != "Conv" || !conv.domain.empty() || conv.outputs.size() != 1 || conv.inputs.size() < 2 ||
      conv.inputs.size() > 3 || conv.has_attr("residual"))
    return false;
  const Tensor* w = detail::constant_value(g, conv.inputs[1]);
  if (!w || w->dtype() != DType::kF32 || w->rank() != 4) return false;
  return conv.attr_int("group", 1) == 1 && all_ones(conv.attr_ints("strides", {1, 1})) &&
         all_ones(conv.attr_ints("dilations", {1, 1}));
}

}  // namespace

PassReport fuse_conv_maxpool(Graph& g) {
  const int n = detail::fold_maxpool_2x2s2_into_producer(g, [&](Node& conv) {
    if (!is_fusable_conv(g, conv)) return false;
    conv.op_type = "ConvMaxPool";
    return true;
  });
  return {"fuse_conv_maxpool", n};
}

PassReport split_conv_maxpool(Graph& g) {
  PassReport r{"split_conv_maxpool", 0};
  const auto produced = detail::producers(g);
  auto taken = [&](const std::string& v) { return produced.count(v) || g.is_initializer(v) || g.find_input(v); };
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size());
  for (Node& n : g.nodes) {
    if (n.op_type != "ConvMaxPool" || !n.domain.empty() || n.outputs.size() != 1) {
      nodes.push_back(std::move(n));
      continue;
    }
    std::string mid = n.outputs[0] + "/conv";
    while (taken(mid)) mid += "_";
    Node pool;
    pool.name = n.name + "/maxpool";
    pool.op_type = "MaxPool";
    pool.inputs = {mid};
    pool.outputs = {n.outputs[0]};
    pool.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
    pool.set_attr("strides", std::vector<int64_t>{2, 2});
    n.op_type = "Conv";
    n.outputs[0] = mid;
    nodes.push_back(std::move(n));
    nodes.push_back(std::move(pool));
    ++r.nodes_changed;
  }
  g.nodes = std::move(nodes);
  return r;
}

}  // namespace edgeopt::runtime::passes

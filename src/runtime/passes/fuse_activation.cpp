// fuse_conv_gemm_activation: a Relu or Clip right after a Conv or Gemm costs a full extra pass over
// the activations; the fast kernels clamp in the GEMM epilogue while the tile is in registers
// (XNNPACK's min/max params, ORT's FusedConv), so the pair becomes one node with an
// edgeopt-internal `activation` attribute (see kernels::fused_activation in kernels/common.h).
#include <limits>

#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

// A constant f32 scalar bound (Clip opset 11+ inputs 1 and 2), or false when not constant.
bool constant_bound(const Graph& g, const Node& n, size_t i, float* v) {
  if (!n.has_input(i)) return true;  // absent: keep the default
  const Tensor* t = detail::constant_value(g, n.inputs[i]);
  if (!t || t->dtype() != DType::kF32 || t->numel() != 1) return false;
  *v = t->data<float>()[0];
  return true;
}

// The clamp an activation node applies, or false when it is not one we fuse.
bool activation_bounds(const Graph& g, const Node& n, std::string* kind, float* lo, float* hi) {
  if (!n.domain.empty() || !n.has_input(0) || n.outputs.size() != 1) return false;
  if (n.op_type == "Relu") {
    *kind = "Relu";
    *lo = 0.f;
    *hi = std::numeric_limits<float>::infinity();
    return true;
  }
  if (n.op_type != "Clip") return false;
  // Absent bounds are the f32 limits, as in the Clip kernel (so -inf still clamps to lowest()).
  *lo = n.has_attr("min") ? n.attr_float("min", 0.f) : std::numeric_limits<float>::lowest();
  *hi = n.has_attr("max") ? n.attr_float("max", 0.f) : std::numeric_limits<float>::max();
  if (!constant_bound(g, n, 1, lo) || !constant_bound(g, n, 2, hi)) return false;
  *kind = "Clip";
  return *lo <= *hi;  // lo > hi (all hi) is rare enough to leave to the Clip kernel
}

}  // namespace

PassReport fuse_conv_gemm_activation(Graph& g) {
  PassReport r{"fuse_conv_gemm_activation", 0};
  auto uses = detail::use_counts(g);
  auto producer = detail::producers(g);
  std::vector<bool> erase(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& act = g.nodes[i];
    std::string kind;
    float lo = 0, hi = 0;
    if (!activation_bounds(g, act, &kind, &lo, &hi)) continue;
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

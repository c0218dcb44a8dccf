// simplify_reshapes_transposes: exporters leave chains of layout-only ops (PyTorch's flatten after
// a view, transposes around attention or RNN outputs) that each copy the whole tensor:
//   Reshape(Reshape(x, s1), s2)        -> Reshape(x, s2)     (s2 constant, no 0 "copy" entries)
//   Transpose(Transpose(x, p1), p2)    -> Transpose(x, p1[p2]) or nothing when that is the identity
//   Transpose(x, identity perm)        -> nothing
//   Reshape(x, s) with x's static shape already s -> nothing
// The inner node must feed nothing else; a removed node whose output is a graph output is kept.
#include <algorithm>

#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using detail::constant_value;
using detail::is_graph_output;

bool is_op(const Node& n, const char* op) { return n.op_type == op && n.domain.empty(); }

// The constant target shape of a Reshape (opset >= 5 input form), or false.
bool reshape_target(const Graph& g, const Node& n, std::vector<int64_t>* s) {
  if (n.inputs.size() < 2 || n.attr_int("allowzero", 0) != 0) return false;
  const Tensor* t = constant_value(g, n.inputs[1]);
  if (!t || t->dtype() != DType::kI64 || t->rank() != 1) return false;
  s->assign(t->data<int64_t>(), t->data<int64_t>() + t->numel());
  return true;
}

bool is_identity_perm(const std::vector<int64_t>& p) {
  for (size_t i = 0; i < p.size(); ++i)
    if (p[i] != static_cast<int64_t>(i)) return false;
  return true;
}

// A fully static shape known for v, or false.
bool static_shape(const Graph& g, const std::string& v, Shape* s) {
  const ValueInfo* vi = detail::value_info(g, v);
  if (!vi) return false;
  for (size_t d = 0; d < vi->shape.rank(); ++d)
    if (vi->shape[d] < 0) return false;
  *s = vi->shape;
  return vi->shape.rank() > 0;
}

}  // namespace

PassReport simplify_reshapes_transposes(Graph& g) {
  PassReport r{"simplify_reshapes_transposes", 0};
  auto uses = detail::use_counts(g);
  auto producer = detail::producers(g);
  std::vector<bool> erase(g.nodes.size(), false);
  // Bypasses node i (its output's readers read `from` instead), unless the output must keep its name.
  auto bypass = [&](size_t i, const std::string& from) {
    const std::string y = g.nodes[i].outputs[0];
    if (is_graph_output(g, y)) return false;
    detail::replace_uses(g, y, from);
    erase[i] = true;
    ++r.nodes_changed;
    return true;
  };
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    Node& n = g.nodes[i];
    if (erase[i] || n.inputs.empty() || n.outputs.size() != 1) continue;
    if (is_op(n, "Transpose")) {
      std::vector<int64_t> perm = n.attr_ints("perm");
      auto p = producer.find(n.inputs[0]);
      if (!perm.empty() && p != producer.end() && !erase[p->second] && is_op(g.nodes[p->second], "Transpose") &&
          uses[n.inputs[0]] == 1 && !is_graph_output(g, n.inputs[0])) {
        const Node& inner = g.nodes[p->second];
        const std::vector<int64_t> p1 = inner.attr_ints("perm");
        if (p1.size() == perm.size()) {
          std::vector<int64_t> composed(perm.size());
          for (size_t k = 0; k < perm.size(); ++k) composed[k] = p1[static_cast<size_t>(perm[k])];
          n.inputs[0] = inner.inputs[0];
          n.set_attr("perm", composed);
          erase[p->second] = true;  // its only reader now reads around it
          ++r.nodes_changed;
          perm = composed;
        }
      }
      if (!perm.empty() && is_identity_perm(perm)) bypass(i, n.inputs[0]);
      continue;
    }
    if (is_op(n, "Reshape")) {
      std::vector<int64_t> target;
      if (!reshape_target(g, n, &target)) continue;
      auto p = producer.find(n.inputs[0]);
      const bool no_zero = std::find(target.begin(), target.end(), 0) == target.end();
      if (no_zero && p != producer.end() && !erase[p->second] && is_op(g.nodes[p->second], "Reshape") &&
          uses[n.inputs[0]] == 1 && !is_graph_output(g, n.inputs[0])) {
        n.inputs[0] = g.nodes[p->second].inputs[0];
        erase[p->second] = true;
        ++r.nodes_changed;
      }
      Shape in;
      if (static_shape(g, n.inputs[0], &in) && in.rank() == target.size()) {
        bool same = true;
        for (size_t d = 0; d < target.size(); ++d) same = same && (target[d] == in[d]);
        if (same) bypass(i, n.inputs[0]);
      }
    }
  }
  detail::erase_nodes(g, erase);
  return r;
}

}  // namespace edgeopt::runtime::passes

#include "runtime/passes/pass_util.h"

namespace edgeopt::runtime::passes::detail {

std::unordered_map<std::string, int> use_counts(const Graph& g) {
  std::unordered_map<std::string, int> uses;
  for (const auto& n : g.nodes)
    for (const auto& in : n.inputs)
      if (!in.empty()) ++uses[in];
  for (const auto& o : g.outputs) ++uses[o.name];
  return uses;
}

bool is_graph_output(const Graph& g, const std::string& v) {
  for (const auto& o : g.outputs)
    if (o.name == v) return true;
  return false;
}

const Tensor* constant_value(const Graph& g, const std::string& v) {
  auto it = g.initializers.find(v);
  if (it == g.initializers.end() || g.find_input(v)) return nullptr;
  return &it->second;
}

std::unordered_map<std::string, size_t> producers(const Graph& g) {
  std::unordered_map<std::string, size_t> p;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& o : g.nodes[i].outputs)
      if (!o.empty()) p[o] = i;
  return p;
}

void replace_uses(Graph& g, const std::string& from, const std::string& to) {
  for (auto& n : g.nodes)
    for (auto& in : n.inputs)
      if (in == from) in = to;
}

void erase_nodes(Graph& g, const std::vector<bool>& erase) {
  std::vector<Node> kept;
  kept.reserve(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!erase[i]) kept.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(kept);
}

const Tensor* constant_f32_vector(const Graph& g, const std::string& v, int64_t n) {
  const Tensor* t = constant_value(g, v);
  if (!t || t->dtype() != DType::kF32 || t->rank() != 1 || t->numel() != n) return nullptr;
  return t;
}

}  // namespace edgeopt::runtime::passes::detail

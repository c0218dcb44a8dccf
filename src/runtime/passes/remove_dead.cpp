// remove_dead_nodes: after rewiring and folding, nodes whose results nobody reads and the weights
// they replaced are dropped from the session's copy (the caller's graph keeps its own).
#include <unordered_set>

#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {

PassReport remove_dead_nodes(Graph& g) {
  PassReport r{"remove_dead_nodes", 0};
  std::vector<size_t> order;
  try {
    order = g.topo_order();
  } catch (const Error&) {
    return r;
  }
  std::unordered_set<std::string> needed;
  for (const auto& o : g.outputs) needed.insert(o.name);
  std::vector<bool> erase(g.nodes.size(), false);
  for (auto it = order.rbegin(); it != order.rend(); ++it) {
    const Node& n = g.nodes[*it];
    bool live = false;
    for (const auto& o : n.outputs) live = live || (!o.empty() && needed.count(o));
    if (!live) {
      erase[*it] = true;
      ++r.nodes_changed;
      continue;
    }
    for (const auto& in : n.inputs)
      if (!in.empty()) needed.insert(in);
  }
  detail::erase_nodes(g, erase);
  for (auto it = g.initializers.begin(); it != g.initializers.end();) {
    if (!needed.count(it->first) && !g.find_input(it->first))
      it = g.initializers.erase(it);
    else
      ++it;
  }
  return r;
}

}  // namespace edgeopt::runtime::passes

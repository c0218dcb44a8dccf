#include "runtime/passes/pass_util.h"

#include <algorithm>
#include <limits>

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

int64_t expand_nodes(Graph& g, const std::function<bool(Node& n, const FreshName& fresh, std::vector<Node>& out)>& expand) {
  const auto produced = producers(g);
  const FreshName fresh = [&](std::string v) {
    while (produced.count(v) || g.is_initializer(v) || g.find_input(v)) v += "_";
    return v;
  };
  int64_t expanded = 0;
  std::vector<Node> nodes;
  nodes.reserve(g.nodes.size());
  for (Node& n : g.nodes) {
    if (expand(n, fresh, nodes)) ++expanded;
    else nodes.push_back(std::move(n));
  }
  g.nodes = std::move(nodes);
  return expanded;
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

// A constant f32 scalar bound (Clip opset 11+ inputs 1 and 2), or false when not constant.
static bool constant_bound(const Graph& g, const Node& n, size_t i, float* v) {
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

const ValueInfo* value_info(const Graph& g, const std::string& v) {
  if (const ValueInfo* in = g.find_input(v)) return in;
  auto it = g.value_info.find(v);
  return it == g.value_info.end() ? nullptr : &it->second;
}

bool is_plain_maxpool_2x2s2(const Node& n) {
  if (n.op_type != "MaxPool" || !n.domain.empty() || n.inputs.size() != 1) return false;
  if (n.outputs.size() > 1 && !n.outputs[1].empty()) return false;  // Indices
  auto all_equal = [](const std::vector<int64_t>& v, int64_t x) {
    return std::all_of(v.begin(), v.end(), [x](int64_t e) { return e == x; });
  };
  const std::string pad = n.attr_string("auto_pad", "NOTSET");
  return n.attr_ints("kernel_shape") == std::vector<int64_t>{2, 2} &&
         n.attr_ints("strides") == std::vector<int64_t>{2, 2} && all_equal(n.attr_ints("pads"), 0) &&
         all_equal(n.attr_ints("dilations"), 1) && n.attr_int("ceil_mode", 0) == 0 &&
         (pad == "NOTSET" || pad == "VALID");
}

int fold_maxpool_2x2s2_into_producer(Graph& g, const std::function<bool(Node&)>& fuse) {
  auto uses = use_counts(g);
  auto producer = producers(g);
  std::vector<bool> erase(g.nodes.size(), false);
  int folded = 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& pool = g.nodes[i];
    if (!is_plain_maxpool_2x2s2(pool)) continue;
    const std::string x = pool.inputs[0];
    auto p = producer.find(x);
    if (p == producer.end() || uses[x] != 1 || erase[p->second] || is_graph_output(g, x)) continue;
    Node& prod = g.nodes[p->second];
    if (prod.outputs.size() != 1 || !fuse(prod)) continue;
    prod.outputs[0] = pool.outputs[0];
    g.value_info.erase(x);
    erase[i] = true;
    ++folded;
  }
  erase_nodes(g, erase);
  return folded;
}

}  // namespace edgeopt::runtime::passes::detail

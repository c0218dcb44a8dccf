#include "core/graph.h"

#include <algorithm>
#include <unordered_set>

namespace edgeopt {

namespace {
template <typename T>
const T* get_attr(const Node& n, const std::string& k, const char* want) {
  auto it = n.attrs.find(k);
  if (it == n.attrs.end()) return nullptr;
  const T* v = std::get_if<T>(&it->second.value);
  if (!v) throw_error(ErrorCode::kInvalidArgument, n.describe() + ": attribute '" + k + "' is not " + want);
  return v;
}
}  // namespace

int64_t Node::attr_int(const std::string& k, int64_t def) const {
  auto it = attrs.find(k);
  if (it != attrs.end())
    if (auto* f = std::get_if<float>(&it->second.value)) {
      // A float where an int is expected is accepted when it converts; a NaN or one past int64's
      // range (a corrupt file: found by the ONNX loader's fuzzer) is an error, not UB.
      if (!(*f >= -9.2e18f && *f <= 9.2e18f))
        throw_error(ErrorCode::kInvalidArgument, describe() + ": attribute '" + k + "' = " + std::to_string(*f) +
                                                     " is not a representable integer");
      return static_cast<int64_t>(*f);
    }
  const int64_t* v = get_attr<int64_t>(*this, k, "an int");
  return v ? *v : def;
}
float Node::attr_float(const std::string& k, float def) const {
  auto it = attrs.find(k);
  if (it != attrs.end())
    if (auto* i = std::get_if<int64_t>(&it->second.value)) return static_cast<float>(*i);
  const float* v = get_attr<float>(*this, k, "a float");
  return v ? *v : def;
}
std::string Node::attr_string(const std::string& k, const std::string& def) const {
  const std::string* v = get_attr<std::string>(*this, k, "a string");
  return v ? *v : def;
}
std::vector<int64_t> Node::attr_ints(const std::string& k, const std::vector<int64_t>& def) const {
  const auto* v = get_attr<std::vector<int64_t>>(*this, k, "a list of ints");
  return v ? *v : def;
}
std::vector<float> Node::attr_floats(const std::string& k, const std::vector<float>& def) const {
  const auto* v = get_attr<std::vector<float>>(*this, k, "a list of floats");
  return v ? *v : def;
}
std::vector<std::string> Node::attr_strings(const std::string& k) const {
  const auto* v = get_attr<std::vector<std::string>>(*this, k, "a list of strings");
  return v ? *v : std::vector<std::string>{};
}
const Tensor* Node::attr_tensor(const std::string& k) const { return get_attr<Tensor>(*this, k, "a tensor"); }

std::string Node::describe() const { return "node '" + name + "' (" + op_type + ")"; }

Node& Graph::add_node(std::string op_type, std::vector<std::string> in, std::vector<std::string> out,
                      std::string name) {
  Node n;
  n.op_type = std::move(op_type);
  n.inputs = std::move(in);
  n.outputs = std::move(out);
  n.name = name.empty() ? unique_name(n.op_type + "_") : std::move(name);
  nodes.push_back(std::move(n));
  return nodes.back();
}

const ValueInfo* Graph::find_input(const std::string& n) const {
  for (const auto& v : inputs)
    if (v.name == n) return &v;
  return nullptr;
}

std::vector<size_t> Graph::topo_order() const {
  std::unordered_map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (!o.empty()) producer[o] = i;
  std::unordered_set<std::string> available;
  for (const auto& v : inputs) available.insert(v.name);
  for (const auto& [k, t] : initializers) available.insert(k);
  // Kahn's algorithm keeping the original order among ready nodes (stable, deterministic).
  std::vector<int> pending(nodes.size(), 0);
  std::vector<std::vector<size_t>> consumers(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for (const auto& in : nodes[i].inputs) {
      if (in.empty() || available.count(in)) continue;
      auto it = producer.find(in);
      if (it == producer.end())
        throw_error(ErrorCode::kInvalidArgument,
                    nodes[i].describe() + ": input '" + in + "' is not a graph input, initializer or node output");
      ++pending[i];
      consumers[it->second].push_back(i);
    }
  }
  std::vector<size_t> order, ready;
  for (size_t i = nodes.size(); i-- > 0;)
    if (pending[i] == 0) ready.push_back(i);
  while (!ready.empty()) {
    size_t i = ready.back();
    ready.pop_back();
    order.push_back(i);
    std::vector<size_t> now;
    for (size_t c : consumers[i])
      if (--pending[c] == 0) now.push_back(c);
    std::sort(now.rbegin(), now.rend());
    ready.insert(ready.end(), now.begin(), now.end());
    std::sort(ready.rbegin(), ready.rend());
  }
  if (order.size() != nodes.size()) {
    for (size_t i = 0; i < nodes.size(); ++i)
      if (pending[i] > 0)
        throw_error(ErrorCode::kInvalidArgument, nodes[i].describe() + " is on a cycle");
  }
  return order;
}

int64_t Graph::parameter_count() const {
  int64_t n = 0;
  for (const auto& [k, t] : initializers)
    if (t.dtype() == DType::kF32 || t.dtype() == DType::kF16 || t.dtype() == DType::kBF16 ||
        t.dtype() == DType::kI8 || t.dtype() == DType::kU8)
      n += t.numel();
  return n;
}

std::string Graph::unique_name(const std::string& prefix) const {
  std::unordered_set<std::string> used;
  for (const auto& n : nodes) {
    used.insert(n.name);
    for (const auto& o : n.outputs) used.insert(o);
  }
  for (const auto& v : inputs) used.insert(v.name);
  for (const auto& [k, t] : initializers) used.insert(k);
  for (size_t i = 0;; ++i) {
    std::string c = prefix + std::to_string(i);
    if (!used.count(c)) return c;
  }
}

}  // namespace edgeopt

// Graph: the in-memory model every layer reads and rewrites (import, passes, runtime, training).
//
// Values are named (ONNX style). A node's input name "" means an omitted optional input.
// Initializers are constant tensors (weights); graph inputs are fed at run time.
//
//   Graph g;
//   g.inputs.push_back({"x", DType::kF32, Shape{1, 4}});
//   g.initializers["w"] = Tensor::zeros(DType::kF32, {4, 2});
//   g.add_node("MatMul", {"x", "w"}, {"y"}, "fc");
//   g.outputs.push_back({"y", DType::kF32, Shape{1, 2}});
#pragma once
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <variant>
#include <vector>

#include "core/tensor.h"

namespace edgeopt {

struct Attribute {
  using Value = std::variant<int64_t, float, std::string, std::vector<int64_t>, std::vector<float>,
                             std::vector<std::string>, Tensor>;
  Value value;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;  // "" = ai.onnx
  std::vector<std::string> inputs;
  std::vector<std::string> outputs;
  std::map<std::string, Attribute> attrs;

  bool has_attr(const std::string& k) const { return attrs.count(k) != 0; }
  // Typed getters; the default is returned when absent, a wrong type throws InvalidArgument.
  int64_t attr_int(const std::string& k, int64_t def) const;
  float attr_float(const std::string& k, float def) const;
  std::string attr_string(const std::string& k, const std::string& def) const;
  std::vector<int64_t> attr_ints(const std::string& k, const std::vector<int64_t>& def = {}) const;
  std::vector<float> attr_floats(const std::string& k, const std::vector<float>& def = {}) const;
  std::vector<std::string> attr_strings(const std::string& k) const;
  const Tensor* attr_tensor(const std::string& k) const;
  void set_attr(const std::string& k, Attribute::Value v) { attrs[k] = Attribute{std::move(v)}; }
  // True when input i is present (not omitted).
  bool has_input(size_t i) const { return i < inputs.size() && !inputs[i].empty(); }
  std::string describe() const;  // "node 'conv1' (Conv)"
};

struct ValueInfo {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;                           // -1 = unknown dim
  std::vector<std::string> dim_params;   // symbolic names per dim ("" when numeric/unknown)
};

struct Graph {
  std::string name = "edgeopt";
  std::vector<Node> nodes;
  std::vector<ValueInfo> inputs;   // runtime-fed inputs (initializers excluded)
  std::vector<ValueInfo> outputs;
  std::unordered_map<std::string, Tensor> initializers;
  std::unordered_map<std::string, ValueInfo> value_info;  // inferred shapes of intermediates
  int64_t opset = 17;  // ai.onnx opset the node semantics follow
  std::map<std::string, std::string> metadata;

  Node& add_node(std::string op_type, std::vector<std::string> inputs, std::vector<std::string> outputs,
                 std::string name = "");
  bool is_initializer(const std::string& v) const { return initializers.count(v) != 0; }
  const ValueInfo* find_input(const std::string& name) const;
  // Node indices in an order where every producer precedes its consumers. Throws InvalidArgument
  // naming a node on a cycle or a value nobody produces.
  std::vector<size_t> topo_order() const;
  // Parameter count over float initializers.
  int64_t parameter_count() const;
  // A fresh value name with the given prefix that no node, input or initializer uses.
  std::string unique_name(const std::string& prefix) const;
};

}  // namespace edgeopt

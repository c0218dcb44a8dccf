#include "split/cut_analysis.h"

#include <algorithm>
#include <cstring>
#include <set>

#include "runtime/passes/passes.h"
#include "runtime/session.h"

namespace edgeopt::split {

const char* transport_name(Transport t) {
  switch (t) {
    case Transport::kF32: return "fp32";
    case Transport::kF16: return "fp16";
    case Transport::kInt8: return "int8";
  }
  return "?";
}

Transport transport_from_name(const std::string& name) {
  if (name == "fp32" || name == "f32") return Transport::kF32;
  if (name == "fp16" || name == "f16") return Transport::kF16;
  if (name == "int8" || name == "u8") return Transport::kInt8;
  throw_error(ErrorCode::kInvalidArgument, "unknown transport '" + name + "' (known: fp32, fp16, int8)");
}

int64_t transport_element_bytes(Transport t) {
  return t == Transport::kF32 ? 4 : t == Transport::kF16 ? 2 : 1;
}

int64_t Cut::upload_bytes(Transport t) const {
  int64_t b = 0;
  for (const auto& c : crossing)
    b += c.numel * (c.dtype == DType::kF32 ? transport_element_bytes(t) : static_cast<int64_t>(dtype_size(c.dtype)));
  // int8 also sends a scale and a zero point per tensor, but as initializers of the halves: nothing.
  return b;
}

Graph prepare_for_partition(Graph g) {
  namespace p = runtime::passes;
  p::remove_identity_ops(g);
  p::fold_constants(g);
  p::simplify_reshapes_transposes(g);
  p::fold_batchnorm(g);
  p::remove_dead_nodes(g);
  const std::vector<size_t> order = g.topo_order();
  std::vector<Node> nodes;
  nodes.reserve(order.size());
  for (size_t i : order) nodes.push_back(std::move(g.nodes[i]));
  g.nodes = std::move(nodes);
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (g.nodes[i].name.empty()) g.nodes[i].name = g.nodes[i].op_type + "_" + std::to_string(i);
  return g;
}

namespace {

Tensor repeat_batch(const Tensor& x, int64_t times) {
  std::vector<int64_t> dims = x.shape().dims();
  dims[0] *= times;
  Tensor y(x.dtype(), Shape(dims));
  for (int64_t i = 0; i < times; ++i)
    std::memcpy(static_cast<uint8_t*>(y.raw()) + i * x.nbytes(), x.raw(), x.nbytes());
  return y;
}

std::map<std::string, Tensor> run_all_values(const Graph& g, const Tensor& x) {
  Graph all = g;
  std::set<std::string> have;
  for (const auto& o : all.outputs) have.insert(o.name);
  for (const auto& n : all.nodes)
    for (const auto& o : n.outputs)
      if (!o.empty() && have.insert(o).second) {
        ValueInfo vi;
        vi.name = o;
        auto it = g.value_info.find(o);
        if (it != g.value_info.end()) vi = it->second;
        all.outputs.push_back(vi);
      }
  // The reference path: one run, and no fusion may hide an intermediate.
  runtime::Session s(std::move(all), {.profile = false, .reference_only = false, .optimize = false});
  auto out = s.run({{g.inputs[0].name, x}});
  out[g.inputs[0].name] = x;
  return out;
}

}  // namespace

ValueShapes measure_value_shapes(const Graph& g, const Tensor& sample) {
  EDGEOPT_CHECK_ARG(g.inputs.size() == 1, "edge-cloud split needs a model with exactly one graph input, '" + g.name +
                                              "' has " + std::to_string(g.inputs.size()));
  EDGEOPT_CHECK_ARG(sample.rank() >= 1 && sample.shape()[0] == 1,
                    "the profiling sample must have batch 1, got " + sample.describe());
  const auto one = run_all_values(g, sample);
  const ValueInfo& in = g.inputs[0];
  const bool symbolic_batch = in.shape.rank() >= 1 && in.shape[0] < 0;
  std::map<std::string, Tensor> two;
  if (symbolic_batch) two = run_all_values(g, repeat_batch(sample, 2));
  ValueShapes r;
  for (const auto& [name, t] : one) {
    ValueShape v{t.dtype(), t.shape(), false};
    auto it = two.find(name);
    if (it != two.end() && t.rank() >= 1 && it->second.rank() == t.rank() && t.shape()[0] == 1 &&
        it->second.shape()[0] == 2)
      v.batched = true;
    r[name] = v;
  }
  return r;
}

std::vector<Cut> enumerate_cuts(const Graph& g, const ValueShapes& shapes, const PrivacyRules& privacy) {
  const size_t n = g.nodes.size();
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < n; ++i)
    for (const auto& o : g.nodes[i].outputs)
      if (!o.empty()) producer[o] = i;
  std::set<std::string> graph_inputs;
  for (const auto& vi : g.inputs) graph_inputs.insert(vi.name);
  auto is_value = [&](const std::string& v) {
    return !v.empty() && (producer.count(v) || (graph_inputs.count(v) && !g.is_initializer(v)));
  };
  auto shape_of = [&](const std::string& v) -> const ValueShape& {
    auto it = shapes.find(v);
    if (it == shapes.end()) throw_error(ErrorCode::kInvalidArgument, "no measured shape for value '" + v + "'");
    return it->second;
  };

  // Values that must not leave the edge, with the rule that makes them private.
  std::map<std::string, std::string> private_values;
  size_t must_edge = 0;  // every cut < must_edge runs a private layer in the cloud
  std::string must_edge_layer;
  if (!privacy.allow_raw_inputs)
    for (const auto& v : graph_inputs)
      if (!g.is_initializer(v)) private_values[v] = "raw input '" + v + "' must stay on the edge";
  for (const auto& layer : privacy.private_layers) {
    size_t idx = n;
    for (size_t i = 0; i < n; ++i)
      if (g.nodes[i].name == layer) idx = i;
    if (idx == n) {
      std::string some;
      for (size_t i = 0; i < std::min<size_t>(n, 8); ++i) some += (i ? ", " : "") + g.nodes[i].name;
      throw_error(ErrorCode::kNotFound, "private layer '" + layer + "' is not a node of the model (nodes: " + some +
                                            (n > 8 ? ", ..." : "") + ")");
    }
    if (idx + 1 > must_edge) {
      must_edge = idx + 1;
      must_edge_layer = layer;
    }
    // The layer's outputs and all their ancestors.
    std::vector<std::string> stack(g.nodes[idx].outputs.begin(), g.nodes[idx].outputs.end());
    while (!stack.empty()) {
      std::string v = stack.back();
      stack.pop_back();
      if (!is_value(v) || private_values.count(v)) continue;
      private_values[v] = "'" + v + "' is (or feeds) private layer '" + layer + "'";
      auto p = producer.find(v);
      if (p != producer.end())
        for (const auto& in : g.nodes[p->second].inputs) stack.push_back(in);
    }
  }

  std::set<std::string> graph_outputs;
  for (const auto& o : g.outputs) graph_outputs.insert(o.name);
  std::vector<Cut> cuts;
  for (size_t k = 0; k <= n; ++k) {
    Cut c;
    c.index = k;
    c.after_node = k ? g.nodes[k - 1].name : "";
    std::set<std::string> seen;
    for (size_t i = k; i < n; ++i)
      for (const auto& in : g.nodes[i].inputs) {
        if (!is_value(in) || seen.count(in)) continue;
        auto p = producer.find(in);
        if (p != producer.end() && p->second >= k) continue;  // produced in the cloud
        seen.insert(in);
        const ValueShape& s = shape_of(in);
        c.crossing.push_back({in, s.dtype, s.shape, s.shape.numel(), graph_inputs.count(in) != 0, s.batched});
      }
    for (const auto& o : g.outputs) {
      auto p = producer.find(o.name);
      if (p != producer.end() && p->second >= k) {
        c.cloud_outputs.push_back(o.name);
        c.return_numel += shape_of(o.name).shape.numel();
      }
    }
    if (k < must_edge) {
      c.allowed = false;
      c.reason = "private layer '" + must_edge_layer + "' would run in the cloud";
    }
    for (const auto& t : c.crossing) {
      auto it = private_values.find(t.name);
      if (c.allowed && it != private_values.end()) {
        c.allowed = false;
        c.reason = it->second;
      }
    }
    cuts.push_back(std::move(c));
  }
  return cuts;
}

}  // namespace edgeopt::split

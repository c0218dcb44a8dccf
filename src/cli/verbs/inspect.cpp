// edgeopt inspect MODEL.onnx [--json]: what a model takes, returns, uses and costs.
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "cli/verbs/verbs.h"
#include "kernels/op_def.h"
#include "onnx/import.h"

namespace edgeopt::cli {

namespace {

struct Options {
  std::string model;
  bool json = false;
};

std::string shape_str(const ValueInfo& v) {
  if (v.shape.rank() == 0 && v.dim_params.size() == 1) return "[?]";  // unknown rank
  std::string s = "[";
  for (size_t i = 0; i < v.shape.rank(); ++i) {
    if (i) s += ",";
    if (v.shape[i] >= 0) s += std::to_string(v.shape[i]);
    else if (i < v.dim_params.size() && !v.dim_params[i].empty()) s += v.dim_params[i];
    else s += "?";
  }
  return s + "]";
}

nlohmann::json value_json(const ValueInfo& v) {
  nlohmann::json shape = nlohmann::json::array();
  for (size_t i = 0; i < v.shape.rank(); ++i) {
    if (v.shape[i] >= 0) shape.push_back(v.shape[i]);
    else if (i < v.dim_params.size() && !v.dim_params[i].empty()) shape.push_back(v.dim_params[i]);
    else shape.push_back(nullptr);
  }
  nlohmann::json j = {{"name", v.name}, {"dtype", dtype_name(v.dtype)}, {"shape", shape}};
  if (v.shape.rank() == 0 && v.dim_params.size() == 1) j["shape"] = nullptr;  // unknown rank
  return j;
}

std::string human_count(double v) {
  const char* units[] = {"", "K", "M", "G", "T"};
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u ? "%.2f%s" : "%.0f%s", v, units[u]);
  return buf;
}

struct NodeCost {
  const Node* node;
  int64_t flops;  // 2 * MACs; 0 when shapes are unknown
};

void run_inspect(const Options& o) {
  onnx::LoadOptions lo;
  lo.validate_ops = false;  // inspect works on any model; unsupported ops are listed, not fatal
  Graph g = onnx::load_model(o.model, lo);
  const auto file_size = std::filesystem::file_size(o.model);

  // Every value's shape: inputs, outputs, inferred intermediates, initializers.
  std::map<std::string, Shape> shapes;
  for (const auto& v : g.inputs) shapes[v.name] = v.shape;
  for (const auto& [k, v] : g.value_info) shapes[k] = v.shape;
  for (const auto& v : g.outputs) shapes[v.name] = v.shape;
  for (const auto& [k, t] : g.initializers) shapes[k] = t.shape();
  // FLOPs are per sample: dynamic dims (batch, sequence) count as 1, as `edgeopt bench` feeds them.
  auto shape_of = [&](const std::string& name) {
    auto it = shapes.find(name);
    if (it == shapes.end() || (it->second.rank() == 0 && !g.is_initializer(name) && g.value_info.count(name) == 0))
      return Shape{-1};  // unknown: node_macs returns 0
    Shape s = it->second;
    for (auto& d : s.dims())
      if (d < 0) d = 1;
    return s;
  };

  std::vector<NodeCost> costs;
  std::map<std::string, int> histogram;
  std::vector<std::string> unsupported;
  int64_t total = 0;
  for (const auto& n : g.nodes) {
    std::vector<Shape> in, out;
    for (const auto& i : n.inputs) in.push_back(i.empty() ? Shape{} : shape_of(i));
    for (const auto& i : n.outputs) out.push_back(i.empty() ? Shape{} : shape_of(i));
    int64_t flops = 2 * kernels::node_macs(n, in, out);
    costs.push_back({&n, flops});
    total += flops;
    histogram[n.domain.empty() ? n.op_type : n.domain + "." + n.op_type]++;
    if (!kernels::find_op(n.op_type) || !n.domain.empty()) unsupported.push_back(n.name + " (" + n.op_type + ")");
  }
  const int64_t params = g.parameter_count();

  if (o.json) {
    nlohmann::json j;
    j["model"] = o.model;
    j["opset"] = g.opset;
    j["inputs"] = nlohmann::json::array();
    for (const auto& v : g.inputs) j["inputs"].push_back(value_json(v));
    j["outputs"] = nlohmann::json::array();
    for (const auto& v : g.outputs) j["outputs"].push_back(value_json(v));
    j["ops"] = nlohmann::json::object();
    for (const auto& [op, c] : histogram) j["ops"][op] = c;
    j["parameters"] = params;
    j["flops"] = total;
    j["nodes"] = nlohmann::json::array();
    for (const auto& c : costs)
      j["nodes"].push_back({{"name", c.node->name}, {"op", c.node->op_type}, {"flops", c.flops}});
    j["file_size_bytes"] = file_size;
    j["unsupported_nodes"] = unsupported;
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }

  std::printf("model   %s  (opset %lld, %s bytes on disk)\n", o.model.c_str(), static_cast<long long>(g.opset),
              human_count(static_cast<double>(file_size)).c_str());
  std::printf("\n%-8s %-32s %-6s %s\n", "", "name", "dtype", "shape");
  for (const auto& v : g.inputs)
    std::printf("%-8s %-32s %-6s %s\n", "input", v.name.c_str(), dtype_name(v.dtype), shape_str(v).c_str());
  for (const auto& v : g.outputs)
    std::printf("%-8s %-32s %-6s %s\n", "output", v.name.c_str(), dtype_name(v.dtype), shape_str(v).c_str());

  std::printf("\n%-32s %8s\n", "op", "count");
  for (const auto& [op, c] : histogram) std::printf("%-32s %8d\n", op.c_str(), c);

  std::printf("\n%-40s %-20s %14s\n", "node", "op", "FLOPs");
  for (const auto& c : costs)
    std::printf("%-40s %-20s %14s\n", c.node->name.c_str(), c.node->op_type.c_str(),
                c.flops ? human_count(static_cast<double>(c.flops)).c_str() : "?");
  std::printf("\nparameters  %s (%lld)\nFLOPs       %s (%lld, 2 x MACs, from inferred shapes)\n",
              human_count(static_cast<double>(params)).c_str(), static_cast<long long>(params),
              human_count(static_cast<double>(total)).c_str(), static_cast<long long>(total));
  if (!unsupported.empty()) {
    std::printf("unsupported %zu node(s):", unsupported.size());
    for (const auto& u : unsupported) std::printf(" %s", u.c_str());
    std::printf("\n");
  }
}

}  // namespace

void add_inspect_verb(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand("inspect", "Show a model's inputs, outputs, op histogram, parameters and FLOPs");
  sub->add_option("model", opts->model, "ONNX model file")->required();
  sub->add_flag("--json", opts->json, "print one JSON object (keys: inputs, outputs, ops, parameters, flops, nodes, "
                                      "file_size_bytes) instead of tables");
  sub->footer(
      "Example:\n"
      "  edgeopt inspect mobilenet.onnx\n"
      "  edgeopt inspect mobilenet.onnx --json | jq .flops\n"
      "FLOPs are 2 x multiply-accumulates per node, computed from ONNX shape inference; nodes whose\n"
      "shapes are unknown (dynamic dims) count 0 and print '?'.");
  sub->callback([opts] { run_inspect(*opts); });
}

}  // namespace edgeopt::cli

#include "quantize/ptq.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "kernels/quant/requantize.h"
#include "quantize/calibrate.h"
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::quantize {

namespace q = kernels::quant;
namespace pd = runtime::passes::detail;

namespace {

bool is_pass_through(const std::string& op) {
  static const std::unordered_set<std::string> k = {"MaxPool", "Flatten", "Reshape", "Transpose", "Squeeze",
                                                    "Unsqueeze"};
  return k.count(op) != 0;
}

bool is_f32_initializer(const Graph& g, const std::string& v) {
  const Tensor* t = pd::constant_value(g, v);
  return t && t->dtype() == DType::kF32;
}

// Consumers of every value (node indices).
std::unordered_map<std::string, std::vector<size_t>> consumers(const Graph& g) {
  std::unordered_map<std::string, std::vector<size_t>> c;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (const auto& in : g.nodes[i].inputs)
      if (!in.empty()) c[in].push_back(i);
  return c;
}

}  // namespace

Graph prepare_float_graph(const Graph& g) {
  Graph f = g;
  runtime::passes::remove_identity_ops(f);
  runtime::passes::fold_batchnorm(f);
  runtime::passes::remove_dead_nodes(f);
  return f;
}

QuantPlan plan_quantization(const Graph& g, const QuantOptions& o) {
  EDGEOPT_CHECK(g.opset >= 10, ErrorCode::kUnimplemented,
                "the model's opset " + std::to_string(g.opset) + " has no QuantizeLinear (needs opset 10+); re-export it");
  EDGEOPT_CHECK(!o.per_channel || g.opset >= 13, ErrorCode::kUnimplemented,
                "per-channel weights need opset 13+ (per-axis DequantizeLinear), the model has opset " +
                    std::to_string(g.opset) + "; drop --per-channel or re-export it");
  QuantPlan plan;
  const auto cons = consumers(g);
  const auto prod = pd::producers(g);
  std::unordered_set<std::string> outputs;
  for (const auto& v : g.outputs) outputs.insert(v.name);
  std::unordered_set<std::string> acts;
  auto is_activation = [&](const std::string& v) {
    if (v.empty() || pd::constant_value(g, v)) return false;
    if (g.find_input(v)) return g.find_input(v)->dtype == DType::kF32;
    return prod.count(v) != 0;
  };
  auto add_act = [&](const std::string& v) {
    if (acts.insert(v).second) plan.activations.push_back(v);
  };
  for (size_t idx : g.topo_order()) {
    const Node& n = g.nodes[idx];
    if (o.exclude.count(n.name)) continue;
    QuantTarget t;
    t.node = n.name;
    t.index = idx;
    t.op_type = n.op_type;
    if (n.op_type == "LSTM" || n.op_type == "GRU") {
      if (!o.rnn_weights) continue;
      for (size_t i : {1, 2})
        if (n.has_input(i) && is_f32_initializer(g, n.inputs[i])) {
          t.weights.push_back(n.inputs[i]);
          t.weight_axes.push_back(o.per_channel ? 1 : -1);  // [dirs, gates*hidden, in]: one scale per row
        }
      t.weight_only = true;
      if (!t.weights.empty()) plan.targets.push_back(t);
      continue;
    }
    if (n.op_type != "Conv" && n.op_type != "Gemm" && n.op_type != "MatMul") continue;
    if (!n.has_input(0) || !n.has_input(1)) continue;
    // Weight: a constant second input (Gemm with transA is left alone: its rows are not samples).
    if (n.op_type == "Gemm" && n.attr_int("transA", 0) != 0) continue;
    if (is_f32_initializer(g, n.inputs[1])) {
      const Tensor* w = pd::constant_value(g, n.inputs[1]);
      int64_t axis = -1;
      if (o.per_channel) {
        if (n.op_type == "Conv") axis = 0;
        else if (n.op_type == "Gemm") axis = n.attr_int("transB", 0) ? 0 : 1;
        else if (w->rank() == 2) axis = 1;
      }
      t.weights.push_back(n.inputs[1]);
      t.weight_axes.push_back(axis);
    } else if (is_activation(n.inputs[1])) {
      t.act_inputs.push_back(n.inputs[1]);  // MatMul of two activations
    } else {
      continue;
    }
    if (!is_activation(n.inputs[0])) continue;
    t.act_inputs.insert(t.act_inputs.begin(), n.inputs[0]);
    if (n.op_type != "MatMul" && n.has_input(2) && !t.weights.empty() && is_f32_initializer(g, n.inputs[2])) {
      const Tensor* b = pd::constant_value(g, n.inputs[2]);
      const int64_t channels = pd::constant_value(g, t.weights[0])->shape()[n.op_type == "Conv" || n.attr_int("transB", 0) ? 0 : 1];
      if (b->rank() == 1 && b->numel() == channels) t.bias = n.inputs[2];
    }
    // The output after the activation chain the int8 kernel fuses (BN not folded, Relu, Clip).
    std::string y = n.outputs.empty() ? "" : n.outputs[0];
    for (;;) {
      auto it = cons.find(y);
      if (it == cons.end() || it->second.size() != 1 || outputs.count(y)) break;
      const Node& c = g.nodes[it->second[0]];
      if (o.exclude.count(c.name)) break;
      if (c.op_type != "Relu" && c.op_type != "Clip" && c.op_type != "BatchNormalization") break;
      if (c.op_type == "BatchNormalization" && c.outputs.size() > 1 && !c.outputs[1].empty()) break;
      y = c.outputs[0];
    }
    if (!y.empty() && !outputs.count(y)) t.output = y;
    for (const auto& a : t.act_inputs) add_act(a);
    if (!t.output.empty()) add_act(t.output);
    plan.targets.push_back(t);
  }
  // Inheritance: walk back from an activation through pass-through ops to another planned one.
  // The values in between (e.g. MaxPool's output in Conv -> MaxPool -> Flatten -> Gemm) get the
  // same Q -> DQ: exact (max and reshapes of quantized values are quantized values), and each
  // pass-through op is then wrapped alone, which the runtime's fuse_qdq runs in int8.
  const size_t planned = plan.activations.size();
  for (size_t ai = 0; ai < planned; ++ai) {
    const std::string a = plan.activations[ai];
    std::string v = a;
    std::vector<std::string> between;
    while (true) {
      auto p = prod.find(v);
      if (p == prod.end()) break;
      const Node& n = g.nodes[p->second];
      if (!is_pass_through(n.op_type) || !n.has_input(0) || o.exclude.count(n.name)) break;
      if (n.op_type == "MaxPool" && n.outputs.size() > 1 && !n.outputs[1].empty()) break;  // Indices output
      if (v != a) between.push_back(v);
      v = n.inputs[0];
      if (acts.count(v)) {
        plan.inherits[a] = v;
        for (const auto& b : between) {
          if (outputs.count(b) || acts.count(b)) continue;
          add_act(b);
          plan.inherits[b] = v;
        }
        break;
      }
    }
  }
  for (const auto& a : plan.activations) {
    if (!plan.inherits.count(a)) plan.calibrated.push_back(a);
  }
  // Chains of inheritance resolve to the calibrated root.
  for (auto& [a, src] : plan.inherits)
    while (plan.inherits.count(src)) src = plan.inherits.at(src);
  return plan;
}

std::map<std::string, QParam> activation_qparams(const QuantPlan& plan, const std::map<std::string, Range>& ranges,
                                                 const QuantOptions& o) {
  std::map<std::string, QParam> out;
  for (const auto& a : plan.calibrated) {
    auto it = ranges.find(a);
    EDGEOPT_CHECK_ARG(it != ranges.end(), "no calibrated range for tensor '" + a + "'");
    out[a] = choose_qparams(it->second, o.activations);
  }
  for (const auto& [a, src] : plan.inherits) out[a] = out.at(src);
  return out;
}

std::vector<float> weight_scales(const Tensor& w, int64_t axis) {
  const float* p = w.data<float>();
  if (axis < 0) {
    float m = 0.f;
    for (int64_t i = 0; i < w.numel(); ++i) m = std::max(m, std::abs(p[i]));
    return {weight_scale(m)};
  }
  const int64_t c = w.shape()[static_cast<size_t>(axis)];
  int64_t inner = 1;
  for (size_t d = static_cast<size_t>(axis) + 1; d < w.rank(); ++d) inner *= w.shape()[d];
  std::vector<float> m(static_cast<size_t>(c), 0.f);
  for (int64_t i = 0; i < w.numel(); ++i) {
    const auto ch = static_cast<size_t>((i / inner) % c);
    m[ch] = std::max(m[ch], std::abs(p[i]));
  }
  for (auto& v : m) v = weight_scale(v);
  return m;
}

namespace {

Tensor scale_tensor(const std::vector<float>& s, bool per_axis) {
  return per_axis ? Tensor::from_vector<float>({static_cast<int64_t>(s.size())}, s) : Tensor::scalar_f32(s[0]);
}

template <typename T>
Tensor zero_points(size_t n, bool per_axis, T v = 0) {
  return per_axis ? Tensor::from_vector<T>({static_cast<int64_t>(n)}, std::vector<T>(n, v))
                  : Tensor::from_vector<T>({}, {v});
}

// Codes of w with per-channel scales (same channel layout as weight_scales).
template <typename T>
Tensor quantize_tensor(const Tensor& w, const std::vector<float>& s, int64_t axis, int32_t qmin, int32_t qmax) {
  Tensor out(dtype_of<T>(), w.shape());
  int64_t inner = 1;
  const int64_t c = axis < 0 ? 1 : w.shape()[static_cast<size_t>(axis)];
  if (axis >= 0)
    for (size_t d = static_cast<size_t>(axis) + 1; d < w.rank(); ++d) inner *= w.shape()[d];
  for (int64_t i = 0; i < w.numel(); ++i) {
    const size_t ch = axis < 0 ? 0 : static_cast<size_t>((i / inner) % c);
    out.data<T>()[i] = static_cast<T>(q::quantize_f32(w.data<float>()[i], s[ch], 0, qmin, qmax));
  }
  return out;
}

std::string fresh(Graph& g, const std::string& base) {
  std::string n = base;
  for (int k = 1; g.initializers.count(n) || g.find_input(n); ++k) n = base + "_" + std::to_string(k);
  return n;
}

}  // namespace

Graph emit_qdq(const Graph& src, const QuantPlan& plan, const std::map<std::string, QParam>& act,
               const QuantOptions& o) {
  (void)o;
  Graph g = src;
  std::vector<Node> new_nodes;  // Q/DQ nodes, placed before the first consumer by a topo sort at the end
  std::map<std::string, std::string> dq_of;        // quantized value -> its DequantizeLinear output
  std::map<std::string, std::vector<float>> wscale;  // weight -> scales
  std::map<std::string, std::string> weight_dq;
  std::unordered_set<std::string> replaced_weights;
  auto add_init = [&](const std::string& base, Tensor t) {
    std::string n = fresh(g, base);
    g.initializers[n] = std::move(t);
    return n;
  };
  // Activations: one Q -> DQ per tensor; every consumer reads the DQ output.
  for (const auto& a : plan.activations) {
    const QParam& p = act.at(a);
    const bool u8 = p.qmin == 0;
    std::string s = add_init(a + "_scale", Tensor::scalar_f32(p.scale));
    std::string zp = add_init(a + "_zero_point", u8 ? Tensor::from_vector<uint8_t>({}, {static_cast<uint8_t>(p.zero_point)})
                                                    : Tensor::from_vector<int8_t>({}, {static_cast<int8_t>(p.zero_point)}));
    Node qn;
    qn.op_type = "QuantizeLinear";
    qn.name = a + "_QuantizeLinear";
    qn.inputs = {a, s, zp};
    qn.outputs = {a + "_quantized"};
    Node dq;
    dq.op_type = "DequantizeLinear";
    dq.name = a + "_DequantizeLinear";
    dq.inputs = {qn.outputs[0], s, zp};
    dq.outputs = {a + "_dequantized"};
    dq_of[a] = dq.outputs[0];
    new_nodes.push_back(qn);
    new_nodes.push_back(dq);
  }
  for (auto& n : g.nodes)
    for (auto& in : n.inputs)
      if (dq_of.count(in)) in = dq_of.at(in);
  // Weights and biases.
  for (const auto& t : plan.targets) {
    EDGEOPT_CHECK(t.index < g.nodes.size() && g.nodes[t.index].name == t.node, ErrorCode::kInternal,
                  "planned node '" + t.node + "' is not in the graph (plan made for another graph?)");
    Node* node = &g.nodes[t.index];
    for (size_t k = 0; k < t.weights.size(); ++k) {
      const std::string& w = t.weights[k];
      const int64_t axis = t.weight_axes[k];
      if (!weight_dq.count(w)) {
        const Tensor& wt = src.initializers.at(w);
        std::vector<float> s = weight_scales(wt, axis);
        wscale[w] = s;
        std::string wq = add_init(w + "_quantized", quantize_tensor<int8_t>(wt, s, axis, -127, 127));
        std::string sn = add_init(w + "_scale", scale_tensor(s, axis >= 0));
        std::string zn = add_init(w + "_zero_point", zero_points<int8_t>(s.size(), axis >= 0));
        Node dq;
        dq.op_type = "DequantizeLinear";
        dq.name = w + "_DequantizeLinear";
        dq.inputs = {wq, sn, zn};
        dq.outputs = {w + "_dequantized"};
        if (axis >= 0) dq.set_attr("axis", axis);
        weight_dq[w] = dq.outputs[0];
        new_nodes.push_back(dq);
      }
      for (auto& in : node->inputs)
        if (in == w) in = weight_dq.at(w);
      replaced_weights.insert(w);
    }
    if (!t.bias.empty() && !t.act_inputs.empty()) {
      const QParam& px = act.at(t.act_inputs[0]);
      const std::vector<float>& sw = wscale.at(t.weights[0]);
      const Tensor& b = src.initializers.at(t.bias);
      std::vector<float> sb(static_cast<size_t>(b.numel()));
      for (size_t c = 0; c < sb.size(); ++c) sb[c] = px.scale * sw[sw.size() == 1 ? 0 : c];
      const bool per_axis = sw.size() > 1;
      if (!per_axis) sb.resize(1);
      // The int32 bias codes: full int32 range (the accumulator type), zero point 0.
      Tensor bq = quantize_tensor<int32_t>(b, sb, per_axis ? 0 : -1, std::numeric_limits<int32_t>::min() + 1,
                                           std::numeric_limits<int32_t>::max());
      std::string bqn = add_init(t.bias + "_quantized", bq);
      std::string sn = add_init(t.bias + "_scale", scale_tensor(sb, per_axis));
      std::string zn = add_init(t.bias + "_zero_point", zero_points<int32_t>(sb.size(), per_axis));
      Node dq;
      dq.op_type = "DequantizeLinear";
      dq.name = g.unique_name(t.node + "_bias_DequantizeLinear");
      dq.inputs = {bqn, sn, zn};
      dq.outputs = {dq.name + "_out"};
      if (per_axis) dq.set_attr("axis", int64_t{0});
      node->inputs[2] = dq.outputs[0];
      replaced_weights.insert(t.bias);
      new_nodes.push_back(dq);
    }
  }
  for (auto& n : new_nodes) g.nodes.push_back(std::move(n));
  // Keep producers before consumers in the node list (ONNX requires a topological order).
  std::vector<Node> ordered;
  for (size_t i : g.topo_order()) ordered.push_back(g.nodes[i]);
  g.nodes = std::move(ordered);
  // Drop f32 initializers nothing reads any more (the int8 copies replace them in the file).
  std::unordered_set<std::string> used;
  for (const auto& n : g.nodes)
    for (const auto& in : n.inputs) used.insert(in);
  for (const auto& w : replaced_weights)
    if (!used.count(w)) g.initializers.erase(w);
  g.metadata["edgeopt.quantized"] = "qdq-int8";
  return g;
}

PtqResult quantize_ptq(const Graph& model, const Tensor& calib_x, const QuantOptions& o) {
  PtqResult r;
  Graph f = prepare_float_graph(model);
  r.plan = plan_quantization(f, o);
  std::map<std::string, Range> ranges = calibrate(f, r.plan.calibrated, calib_x, o);
  r.act = activation_qparams(r.plan, ranges, o);
  r.graph = emit_qdq(f, r.plan, r.act, o);
  return r;
}

int64_t initializer_bytes(const Graph& g) {
  int64_t b = 0;
  for (const auto& [n, t] : g.initializers) b += static_cast<int64_t>(t.nbytes());
  return b;
}

}  // namespace edgeopt::quantize

#include "quantize/qat.h"

#include <limits>
#include <unordered_set>

#include "kernels/op_def.h"
#include "kernels/quant/qparams.h"
#include "kernels/quant/requantize.h"
#include "quantize/calibrate.h"
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::quantize {

namespace q = kernels::quant;
namespace pd = runtime::passes::detail;

namespace {

constexpr int64_t kI32Min = std::numeric_limits<int32_t>::min() + 1;
constexpr int64_t kI32Max = std::numeric_limits<int32_t>::max();

std::string fresh_init(const Graph& g, const std::string& base) {
  std::string n = base;
  for (int k = 1; g.initializers.count(n) || g.find_input(n); ++k) n = base + "_" + std::to_string(k);
  return n;
}

Node fq_node(const std::string& name, std::vector<std::string> in, const std::string& out, int64_t qmin, int64_t qmax,
             int64_t axis) {
  Node n;
  n.op_type = "FakeQuantize";
  n.name = name;
  n.inputs = std::move(in);
  n.outputs = {out};
  n.set_attr("qmin", qmin);
  n.set_attr("qmax", qmax);
  n.set_attr("axis", axis);
  return n;
}

}  // namespace

Graph emit_fake_quant(const Graph& src, const QuantPlan& plan, const std::map<std::string, QParam>& act,
                      std::set<std::string>* scales) {
  Graph g = src;
  std::vector<Node> added;
  std::map<std::string, std::string> fq_of, act_scale, w_scale;
  auto add_init = [&](const std::string& base, Tensor t) {
    std::string n = fresh_init(g, base);
    g.initializers[n] = std::move(t);
    return n;
  };
  for (const auto& a : plan.activations) {
    const QParam& p = act.at(a);
    std::string s = add_init(a + "_scale", Tensor::scalar_f32(p.scale));
    std::string zp = add_init(a + "_zero_point", Tensor::from_vector<int32_t>({}, {p.zero_point}));
    if (scales) scales->insert(s);
    act_scale[a] = s;
    fq_of[a] = a + "_fakequant";
    added.push_back(fq_node(a + "_FakeQuantize", {a, s, zp}, fq_of[a], p.qmin, p.qmax, 0));
  }
  for (auto& n : g.nodes)
    for (auto& in : n.inputs)
      if (fq_of.count(in)) in = fq_of.at(in);
  for (const auto& t : plan.targets) {
    EDGEOPT_CHECK(t.index < g.nodes.size() && g.nodes[t.index].name == t.node, ErrorCode::kInternal,
                  "planned node '" + t.node + "' is not in the graph (plan made for another graph?)");
    Node* node = &g.nodes[t.index];
    for (size_t k = 0; k < t.weights.size(); ++k) {
      const std::string& w = t.weights[k];
      const std::string out = w + "_fakequant";
      if (!w_scale.count(w)) {
        std::vector<float> s = weight_scales(src.initializers.at(w), t.weight_axes[k]);
        Tensor st = t.weight_axes[k] >= 0 ? Tensor::from_vector<float>({static_cast<int64_t>(s.size())}, s)
                                          : Tensor::scalar_f32(s[0]);
        w_scale[w] = add_init(w + "_scale", st);
        if (scales) scales->insert(w_scale[w]);
        added.push_back(fq_node(w + "_FakeQuantize", {w, w_scale[w]}, out, -127, 127, std::max<int64_t>(t.weight_axes[k], 0)));
      }
      for (auto& in : node->inputs)
        if (in == w) in = out;
    }
    if (!t.bias.empty() && !t.act_inputs.empty()) {
      const std::string bs = g.unique_name(t.bias + "_scale");
      Node mul;
      mul.op_type = "Mul";
      mul.name = bs + "_Mul";
      mul.inputs = {act_scale.at(t.act_inputs[0]), w_scale.at(t.weights[0])};
      mul.outputs = {bs};
      added.push_back(mul);
      const std::string out = t.bias + "_fakequant";
      added.push_back(fq_node(t.bias + "_FakeQuantize", {t.bias, bs}, out, kI32Min, kI32Max, 0));
      node->inputs[2] = out;
    }
  }
  for (auto& n : added) g.nodes.push_back(std::move(n));
  std::vector<Node> ordered;
  for (size_t i : g.topo_order()) ordered.push_back(g.nodes[i]);
  g.nodes = std::move(ordered);
  return g;
}

namespace {

// The value of a constant input: an initializer, or the output of a node whose inputs are all
// initializers (the bias scale's Mul), computed with that node's reference kernel.
Tensor constant_input(const Graph& g, const std::string& v, const Node& user) {
  if (const Tensor* t = pd::constant_value(g, v)) return *t;
  for (const auto& n : g.nodes) {
    if (n.outputs.empty() || n.outputs[0] != v) continue;
    std::vector<Tensor> in;
    for (const auto& i : n.inputs) {
      const Tensor* t = i.empty() ? nullptr : pd::constant_value(g, i);
      EDGEOPT_CHECK_ARG(t || i.empty(), user.describe() + ": scale input '" + v + "' is not constant");
      in.push_back(t ? *t : Tensor());
    }
    std::vector<Tensor> out(n.outputs.size());
    const kernels::OpDef* op = kernels::find_op(n.op_type);
    EDGEOPT_CHECK_ARG(op != nullptr, user.describe() + ": unknown op computing scale '" + v + "'");
    kernels::ForwardCtx ctx{n, in, out, false, nullptr, 0, g.opset};
    kernels::select_forward(*op)(ctx);  // the kernel training ran
    return out[0];
  }
  throw_error(ErrorCode::kInvalidArgument, user.describe() + ": scale input '" + v + "' is not constant");
}

}  // namespace

// base, or base_1, base_2 ... when a value or initializer already has that name.
std::string fresh_value(const Graph& g, const std::string& base) {
  auto used = [&](const std::string& n) {
    if (g.initializers.count(n) || g.find_input(n)) return true;
    for (const auto& node : g.nodes)
      for (const auto& o : node.outputs)
        if (o == n) return true;
    return false;
  };
  std::string n = base;
  for (int k = 1; used(n); ++k) n = base + "_" + std::to_string(k);
  return n;
}

Graph fake_quant_to_qdq(const Graph& fq) {
  Graph g = fq;
  std::vector<Node> nodes;
  for (const auto& n : fq.nodes) {
    if (n.op_type != "FakeQuantize") {
      nodes.push_back(n);
      continue;
    }
    const int64_t qmin = n.attr_int("qmin", -128), qmax = n.attr_int("qmax", 127), axis = n.attr_int("axis", 0);
    const Tensor scale = constant_input(fq, n.inputs[1], n);
    const Tensor zp = n.has_input(2) ? constant_input(fq, n.inputs[2], n) : Tensor();
    const bool per_axis = scale.numel() != 1 || scale.rank() > 1;
    std::string sname = fresh_value(g, n.inputs[0] + "_scale_q");
    g.initializers[sname] = scale;
    const Tensor* x = pd::constant_value(fq, n.inputs[0]);
    DType qt;
    if (qmin == 0 && qmax == 255) qt = DType::kU8;
    else if (qmin >= -128 && qmax <= 127) qt = DType::kI8;
    else if (qmin >= kI32Min - 1 && qmax <= kI32Max && x) qt = DType::kI32;
    else throw_error(ErrorCode::kInvalidArgument, n.describe() + ": range [" + std::to_string(qmin) + ", " +
                                                      std::to_string(qmax) + "] has no QuantizeLinear type");
    Tensor zpt = zp.defined() ? zp.cast(qt) : Tensor::zeros(qt, per_axis ? scale.shape() : Shape{});
    std::string zname = fresh_value(g, n.inputs[0] + "_zero_point_q");
    g.initializers[zname] = zpt;
    Node dq;
    dq.op_type = "DequantizeLinear";
    dq.name = n.name + "_DequantizeLinear";
    dq.outputs = n.outputs;  // consumers keep reading the same name
    if (per_axis) dq.set_attr("axis", axis);
    if (x) {  // a weight or bias: stored quantized
      const q::QParams qp = q::read_qparams(x->shape(), scale, zp, axis, 17, "scale");
      Tensor codes(qt, x->shape());
      for (int64_t i = 0; i < x->numel(); ++i) {
        const size_t c = qp.channel(i);
        const int32_t v = q::quantize_f32(x->data<float>()[i], qp.scales[c], qp.zero_points[c],
                                          static_cast<int32_t>(qmin), static_cast<int32_t>(qmax));
        if (qt == DType::kI8) codes.data<int8_t>()[i] = static_cast<int8_t>(v);
        else if (qt == DType::kU8) codes.data<uint8_t>()[i] = static_cast<uint8_t>(v);
        else codes.data<int32_t>()[i] = v;
      }
      std::string cname = fresh_value(g, n.inputs[0] + "_quantized");
      g.initializers[cname] = codes;
      dq.inputs = {cname, sname, zname};
    } else {
      Node qn;
      qn.op_type = "QuantizeLinear";
      qn.name = n.name + "_QuantizeLinear";
      qn.inputs = {n.inputs[0], sname, zname};
      qn.outputs = {fresh_value(g, n.inputs[0] + "_quantized")};
      if (per_axis) qn.set_attr("axis", axis);
      nodes.push_back(qn);
      dq.inputs = {qn.outputs[0], sname, zname};
    }
    nodes.push_back(dq);
  }
  g.nodes = std::move(nodes);
  runtime::passes::remove_dead_nodes(g);  // the bias-scale Mul nodes and the f32 weights
  g.metadata["edgeopt.quantized"] = "qdq-int8 (qat)";
  return g;
}

namespace {

// One QAT phase on f: calibrate, build the fake-quant graph, train, copy the weights back into f.
Graph qat_phase(Graph& f, const train::DataSplits& d, const QatOptions& o, int epochs, std::vector<train::TrainReport>& reps) {
  QuantPlan plan = plan_quantization(f, o.quant);
  Tensor x = calibration_samples(d.train, o.quant.calib_samples, o.quant.seed);
  auto ranges = calibrate(f, plan.calibrated, x, o.quant);
  std::set<std::string> scales;
  Graph fq = emit_fake_quant(f, plan, activation_qparams(plan, ranges, o.quant), &scales);
  train::TrainOptions to;
  to.epochs = epochs;
  to.lr = o.lr;
  to.batch = o.batch;
  to.seed = o.quant.seed;
  to.progress = o.quant.progress;
  to.max_steps_per_epoch = o.max_steps_per_epoch;
  to.warmup_steps = 0;
  to.weight_decay = 0.f;
  if (!o.learn_scales) to.frozen = scales;
  reps.push_back(train::train_model(fq, d, to));
  for (auto& [name, t] : f.initializers)
    if (fq.initializers.count(name)) t = fq.initializers.at(name);
  return fq;
}

}  // namespace

QatResult quantize_qat(const Graph& model, const train::DataSplits& d, const QatOptions& o) {
  EDGEOPT_CHECK_ARG(o.epochs >= 1, "QAT needs --epochs >= 1, got " + std::to_string(o.epochs));
  EDGEOPT_CHECK_ARG(o.freeze_bn_epoch >= 0 && (o.freeze_bn_epoch == 0 || o.freeze_bn_epoch < o.epochs),
                    "--freeze-bn-epoch " + std::to_string(o.freeze_bn_epoch) + " must be < --epochs " +
                        std::to_string(o.epochs) + " (the deployed model folds BatchNorm: the last epochs must train it folded)");
  QatResult r;
  Graph f = model;
  // Training updates weights in place and Graph copies share tensor storage: clone, so the
  // caller's model keeps its weights.
  for (auto& [name, t] : f.initializers) t = t.clone();
  runtime::passes::remove_identity_ops(f);
  runtime::passes::remove_dead_nodes(f);
  int left = o.epochs;
  if (o.freeze_bn_epoch > 0) {
    qat_phase(f, d, o, o.freeze_bn_epoch, r.phases);
    left -= o.freeze_bn_epoch;
  }
  f = prepare_float_graph(f);  // BN folded with its (now frozen) running statistics
  r.fake_quant = qat_phase(f, d, o, left, r.phases);
  r.qdq = fake_quant_to_qdq(r.fake_quant);
  return r;
}

}  // namespace edgeopt::quantize

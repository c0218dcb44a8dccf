// fuse_qdq: runs QDQ models (QuantizeLinear/DequantizeLinear around f32 ops, as written by
// `edgeopt quantize`, onnxruntime.quantization.quantize_static, TensorRT/PyTorch exporters) in
// int8. Each f32 op whose inputs all come from DequantizeLinear and whose output (through an
// optional Relu/Clip) only feeds one QuantizeLinear becomes one integer op reading the quantized
// tensors and writing the quantized output directly, so consecutive int8 ops never pass through
// f32 (ORT's QDQ selectors, TFLite's converter do the same):
//
//   DQ(x) , DQ(w const) [, bias]  -> Conv          [-> Relu/Clip] -> Q  =>  QLinearConv
//   DQ(a) , DQ(b const 2-D) [, C] -> MatMul/Gemm   [-> Relu/Clip] -> Q  =>  QLinearMatMul (+ i32 bias)
//   DQ(a) , DQ(b)                 -> Add           [-> Relu/Clip] -> Q  =>  QLinearAdd
//   DQ(x)                         -> GlobalAveragePool             -> Q  =>  QLinearGlobalAveragePool
//   DQ(x) (, DQ(...)) -> MaxPool/Flatten/Reshape/Transpose/Squeeze/Unsqueeze/Concat -> Q with the
//        same scale and zero point everywhere                          =>  the same op on the codes
//   (also a chain of single-input data-movement ops between the DQ and the Q, e.g. MaxPool -> Flatten)
//
// Semantics: the integer ops equal DequantizeLinear -> f32 op -> QuantizeLinear within one
// quantization step (the f32 result can sit within float rounding of a .5 boundary; an f32 bias is rounded to i32
// at scale s_x * s_w), QLinearAdd and the data-movement rewrites exactly. The activation folds
// into the output range (Q is monotonic: Q(clamp(v)) == clamp(Q(v))).
// The DequantizeLinear nodes left without readers are removed by remove_dead_nodes.
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_set>

#include "kernels/quant/requantize.h"
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

bool is_onnx(const Node& n) { return n.domain.empty() || n.domain == "ai.onnx"; }
bool is_q8(DType t) { return t == DType::kU8 || t == DType::kI8; }

// A DequantizeLinear / QuantizeLinear with constant f32 scale and a constant 8-bit zero point.
struct QdqInfo {
  const Node* node = nullptr;
  std::string data;  // DQ: the quantized input; Q: the quantized output
  const Tensor* scale = nullptr;
  const Tensor* zp = nullptr;
  int64_t axis = 1;
  bool per_tensor() const { return scale->numel() == 1; }
};

bool read_qdq(const Graph& g, const Node& n, const char* op, QdqInfo* info) {
  if (n.op_type != op || !is_onnx(n) || !n.has_input(0) || !n.has_input(1) || !n.has_input(2) ||
      n.outputs.size() != 1)
    return false;
  info->node = &n;
  info->data = std::string(op) == "DequantizeLinear" ? n.inputs[0] : n.outputs[0];
  info->scale = detail::constant_value(g, n.inputs[1]);
  info->zp = detail::constant_value(g, n.inputs[2]);
  info->axis = n.attr_int("axis", 1);
  if (!info->scale || !info->zp || info->scale->dtype() != DType::kF32 || !is_q8(info->zp->dtype())) return false;
  if (info->scale->numel() != info->zp->numel()) return false;
  for (float s : info->scale->to_f32_vector())
    if (!(std::isfinite(s) && s > 0.f)) return false;
  return true;
}

bool same_qparams(const QdqInfo& a, const QdqInfo& b) {
  return a.per_tensor() && b.per_tensor() && a.zp->dtype() == b.zp->dtype() &&
         a.scale->to_f32_vector() == b.scale->to_f32_vector() && a.zp->to_i64_vector() == b.zp->to_i64_vector();
}

class Fuser {
 public:
  explicit Fuser(Graph& g) : g_(g), uses_(detail::use_counts(g)), producer_(detail::producers(g)) {
    for (size_t i = 0; i < g.nodes.size(); ++i)
      for (const auto& in : g.nodes[i].inputs)
        if (!in.empty()) consumers_[in].push_back(i);
    erase_.assign(g.nodes.size(), false);
  }

  int64_t run() {
    int64_t changed = 0;
    for (size_t i = 0; i < g_.nodes.size(); ++i) {
      if (erase_[i] || !is_onnx(g_.nodes[i])) continue;
      const std::string& op = g_.nodes[i].op_type;
      bool done = false;
      if (op == "Conv") done = fuse_conv(i);
      else if (op == "MatMul" || op == "Gemm") done = fuse_matmul(i);
      else if (op == "Add") done = fuse_add(i);
      else if (op == "GlobalAveragePool") done = fuse_global_average_pool(i);
      else if (kCodeOps.count(op)) done = fuse_code_op(i);
      changed += done ? 1 : 0;
    }
    detail::erase_nodes(g_, erase_);
    return changed;
  }

 private:
  // Ops that only move or select values: on codes with one scale they commute with Q/DQ exactly.
  inline static const std::unordered_set<std::string> kCodeOps = {"MaxPool", "Flatten",   "Reshape", "Transpose",
                                                                  "Squeeze", "Unsqueeze", "Concat"};

  bool dq_input(const Node& n, size_t i, QdqInfo* info) const {
    if (!n.has_input(i)) return false;
    auto p = producer_.find(n.inputs[i]);
    return p != producer_.end() && !erase_[p->second] && read_qdq(g_, g_.nodes[p->second], "DequantizeLinear", info);
  }

  // The only reader of v (not a graph output), or -1.
  int64_t sole_consumer(const std::string& v) const {
    auto it = consumers_.find(v);
    if (it == consumers_.end() || it->second.size() != 1 || detail::is_graph_output(g_, v)) return -1;
    auto u = uses_.find(v);
    if (u == uses_.end() || u->second != 1 || erase_[it->second[0]]) return -1;
    return static_cast<int64_t>(it->second[0]);
  }

  // From `y`: an optional Relu/Clip then a per-tensor QuantizeLinear; fills the nodes to erase.
  struct Tail {
    QdqInfo q;
    std::string kind;
    float lo = 0, hi = 0;
    std::vector<size_t> nodes;
  };
  bool read_tail(const std::string& y, bool allow_activation, Tail* t) const {
    int64_t c = sole_consumer(y);
    if (c < 0) return false;
    const Node* n = &g_.nodes[c];
    if (allow_activation && detail::activation_bounds(g_, *n, &t->kind, &t->lo, &t->hi)) {
      t->nodes.push_back(static_cast<size_t>(c));
      c = sole_consumer(n->outputs[0]);
      if (c < 0) return false;
      n = &g_.nodes[c];
    }
    if (!read_qdq(g_, *n, "QuantizeLinear", &t->q) || !t->q.per_tensor()) return false;
    t->nodes.push_back(static_cast<size_t>(c));
    return true;
  }

  std::string fresh_name(const std::string& base) const {
    std::string name = base;
    for (int i = 1; g_.initializers.count(name) || producer_.count(name); ++i) name = base + "_" + std::to_string(i);
    return name;
  }

  // The bias as i32 at scale s_x * s_w[c] (c < channels): from DQ(i32) or a constant f32 [channels].
  bool quantized_bias(const Node& n, size_t i, float sx, const std::vector<float>& sw, int64_t channels,
                      std::string* name) {
    const Tensor* bias_q = nullptr;
    std::vector<float> bscale, bias_f;
    if (dq_input_i32(n, i, &bias_q, &bscale)) {
      if (bias_q->numel() != channels) return false;
    } else if (const Tensor* c = detail::constant_value(g_, n.inputs[i])) {
      if (c->dtype() != DType::kF32 || c->numel() != channels) return false;
      bias_f = c->to_f32_vector();
    } else {
      return false;
    }
    Tensor q(DType::kI32, Shape({channels}));
    int32_t* pq = q.data<int32_t>();
    const std::vector<int64_t> raw = bias_q ? bias_q->to_i64_vector() : std::vector<int64_t>{};
    for (int64_t c = 0; c < channels; ++c) {
      const float target = sx * sw[sw.size() == 1 ? 0 : c];
      float value;
      if (bias_q) {
        const float bs = bscale[bscale.size() == 1 ? 0 : c];
        if (bs == target) {  // quantize_static writes exactly s_x * s_w: keep the codes
          pq[c] = static_cast<int32_t>(raw[c]);
          continue;
        }
        value = kernels::quant::dequantize_f32(static_cast<int32_t>(raw[c]), bs, 0);
      } else {
        value = bias_f[c];
      }
      // Round half to even in double (the default FP mode), as quantizers round biases (np.round).
      const double v = std::nearbyint(static_cast<double>(value) / target);
      pq[c] = static_cast<int32_t>(std::clamp(v, -2147483648.0, 2147483647.0));
    }
    *name = fresh_name((n.name.empty() ? n.outputs[0] : n.name) + "_bias_i32");
    g_.initializers[*name] = q;
    return true;
  }

  // DQ(constant i32 [channels or 1], zero point 0 or absent): the int32 bias layout.
  bool dq_input_i32(const Node& n, size_t i, const Tensor** q, std::vector<float>* scale) const {
    if (!n.has_input(i)) return false;
    auto p = producer_.find(n.inputs[i]);
    if (p == producer_.end()) return false;
    const Node& dq = g_.nodes[p->second];
    if (dq.op_type != "DequantizeLinear" || !is_onnx(dq) || !dq.has_input(1)) return false;
    const Tensor* data = detail::constant_value(g_, dq.inputs[0]);
    const Tensor* s = detail::constant_value(g_, dq.inputs[1]);
    if (!data || !s || data->dtype() != DType::kI32 || s->dtype() != DType::kF32) return false;
    if (dq.has_input(2)) {
      const Tensor* z = detail::constant_value(g_, dq.inputs[2]);
      if (!z) return false;
      for (int64_t v : z->to_i64_vector())
        if (v != 0) return false;
    }
    if (s->numel() != 1 && s->numel() != data->numel()) return false;
    *q = data;
    *scale = s->to_f32_vector();
    return true;
  }

  void set_activation(Node& n, const Tail& t) {
    n.attrs.erase("activation");
    n.attrs.erase("activation_min");
    n.attrs.erase("activation_max");
    if (t.kind.empty()) return;
    n.set_attr("activation", t.kind);
    if (t.kind == "Clip") {
      n.set_attr("activation_min", t.lo);
      n.set_attr("activation_max", t.hi);
    }
  }

  void finish(size_t i, const Tail& t, Node replacement) {
    replacement.outputs = {t.q.data};
    set_activation(replacement, t);
    g_.nodes[i] = std::move(replacement);
    for (size_t e : t.nodes) erase_[e] = true;
  }

  bool fuse_conv(size_t i) {
    const Node& conv = g_.nodes[i];
    QdqInfo dx, dw;
    Tail tail;
    if (conv.has_attr("activation") || conv.outputs.size() != 1 || !dq_input(conv, 0, &dx) || !dq_input(conv, 1, &dw))
      return false;
    const Tensor* w = detail::constant_value(g_, dw.data);
    if (!dx.per_tensor() || !w || !is_q8(w->dtype()) || w->rank() < 3 || w->dtype() != dw.zp->dtype()) return false;
    const int64_t m = w->shape()[0];
    if (!dw.per_tensor() && !(dw.scale->numel() == m && (dw.axis == 0 || dw.axis == -static_cast<int64_t>(w->rank()))))
      return false;
    if (!read_tail(conv.outputs[0], true, &tail)) return false;
    std::string bias;
    if (conv.has_input(2) &&
        !quantized_bias(conv, 2, dx.scale->to_f32_vector()[0], dw.scale->to_f32_vector(), m, &bias))
      return false;
    Node q = conv;
    q.op_type = "QLinearConv";
    q.inputs = {dx.data, dx.node->inputs[1], dx.node->inputs[2], dw.data, dw.node->inputs[1], dw.node->inputs[2],
                tail.q.node->inputs[1], tail.q.node->inputs[2]};
    if (!bias.empty()) q.inputs.push_back(bias);
    finish(i, tail, std::move(q));
    return true;
  }

  bool fuse_matmul(size_t i) {
    const Node& mm = g_.nodes[i];
    const bool gemm = mm.op_type == "Gemm";
    QdqInfo da, db;
    Tail tail;
    if (mm.has_attr("activation") || mm.outputs.size() != 1 || !dq_input(mm, 0, &da) || !dq_input(mm, 1, &db))
      return false;
    const Tensor* b = detail::constant_value(g_, db.data);
    if (!da.per_tensor() || !b || !is_q8(b->dtype()) || b->rank() != 2 || b->dtype() != db.zp->dtype()) return false;
    const bool trans_b = gemm && mm.attr_int("transB", 0) != 0;
    if (gemm && (mm.attr_int("transA", 0) != 0 || mm.attr_float("alpha", 1.f) != 1.f ||
                 (mm.has_input(2) && mm.attr_float("beta", 1.f) != 1.f)))
      return false;
    const int64_t n = trans_b ? b->shape()[0] : b->shape()[1];
    const int64_t col_axis = trans_b ? 0 : 1;
    if (!db.per_tensor() && !(db.scale->numel() == n && (db.axis == col_axis || db.axis == col_axis - 2)))
      return false;
    if (!read_tail(mm.outputs[0], true, &tail)) return false;
    std::string bias;
    if (gemm && mm.has_input(2) &&
        !quantized_bias(mm, 2, da.scale->to_f32_vector()[0], db.scale->to_f32_vector(), n, &bias))
      return false;
    std::string b_name = db.data, b_zp = db.node->inputs[2];
    if (trans_b) {  // QLinearMatMul reads B as [K, N]: a transposed copy under a fresh name
      const int64_t k = b->shape()[1];
      Tensor t(b->dtype(), Shape({k, n}));
      const auto* src = static_cast<const uint8_t*>(b->raw());
      auto* dst = static_cast<uint8_t*>(t.raw());
      for (int64_t r = 0; r < n; ++r)
        for (int64_t c = 0; c < k; ++c) dst[c * n + r] = src[r * k + c];
      b_name = fresh_name(db.data + "_kn");
      g_.initializers[b_name] = t;
    }
    Node q;
    q.name = mm.name;
    q.op_type = "QLinearMatMul";
    q.inputs = {da.data, da.node->inputs[1], da.node->inputs[2], b_name, db.node->inputs[1], b_zp,
                tail.q.node->inputs[1], tail.q.node->inputs[2]};
    if (!bias.empty()) q.inputs.push_back(bias);
    finish(i, tail, std::move(q));
    return true;
  }

  bool fuse_add(size_t i) {
    const Node& add = g_.nodes[i];
    QdqInfo da, db;
    Tail tail;
    if (add.outputs.size() != 1 || !dq_input(add, 0, &da) || !dq_input(add, 1, &db)) return false;
    if (!da.per_tensor() || !db.per_tensor() || !read_tail(add.outputs[0], true, &tail)) return false;
    Node q;
    q.name = add.name;
    q.op_type = "QLinearAdd";
    q.inputs = {da.data, da.node->inputs[1], da.node->inputs[2], db.data, db.node->inputs[1], db.node->inputs[2],
                tail.q.node->inputs[1], tail.q.node->inputs[2]};
    finish(i, tail, std::move(q));
    return true;
  }

  bool fuse_global_average_pool(size_t i) {
    const Node& gap = g_.nodes[i];
    QdqInfo dx;
    Tail tail;
    if (gap.outputs.size() != 1 || !dq_input(gap, 0, &dx) || !dx.per_tensor() ||
        !read_tail(gap.outputs[0], false, &tail))
      return false;
    Node q;
    q.name = gap.name;
    q.op_type = "QLinearGlobalAveragePool";
    q.inputs = {dx.data, dx.node->inputs[1], dx.node->inputs[2], tail.q.node->inputs[1], tail.q.node->inputs[2]};
    finish(i, tail, std::move(q));
    return true;
  }

  bool fuse_code_op(size_t i) {
    Node& n = g_.nodes[i];
    if (n.outputs.empty() || (n.outputs.size() > 1 && !n.outputs[1].empty())) return false;  // MaxPool Indices
    const size_t data_inputs = n.op_type == "Concat" ? n.inputs.size() : 1;
    std::vector<QdqInfo> dqs(data_inputs);
    for (size_t k = 0; k < data_inputs; ++k)
      if (!dq_input(n, k, &dqs[k])) return false;
    // A chain DQ -> n -> (single-input code ops, each the sole reader of the last) -> Q, as
    // quantize_static writes MaxPool -> Flatten: every op of the chain runs on the codes.
    std::vector<size_t> chain{i};
    Tail tail;
    while (!read_tail(g_.nodes[chain.back()].outputs[0], false, &tail)) {
      const int64_t c = sole_consumer(g_.nodes[chain.back()].outputs[0]);
      if (c < 0 || chain.size() >= 16) return false;
      const Node& next = g_.nodes[static_cast<size_t>(c)];
      if (!is_onnx(next) || !kCodeOps.count(next.op_type) || next.op_type == "Concat" || next.outputs.size() != 1 ||
          next.inputs.empty() || next.inputs[0] != g_.nodes[chain.back()].outputs[0])
        return false;
      chain.push_back(static_cast<size_t>(c));
      tail = Tail{};
    }
    for (const QdqInfo& d : dqs)
      if (!same_qparams(d, tail.q)) return false;
    for (size_t k = 0; k < data_inputs; ++k) n.inputs[k] = dqs[k].data;
    // Intermediate values now hold codes: their inferred f32 type no longer applies.
    for (size_t c = 0; c + 1 < chain.size(); ++c) g_.value_info.erase(g_.nodes[chain[c]].outputs[0]);
    g_.nodes[chain.back()].outputs[0] = tail.q.data;
    for (size_t e : tail.nodes) erase_[e] = true;
    return true;
  }

  Graph& g_;
  std::unordered_map<std::string, int> uses_;
  std::unordered_map<std::string, size_t> producer_;
  std::unordered_map<std::string, std::vector<size_t>> consumers_;
  std::vector<bool> erase_;
};

}  // namespace

PassReport fuse_qdq(Graph& g) { return PassReport{"fuse_qdq", Fuser(g).run()}; }

PassReport split_qlinear_global_average_pool(Graph& g) {
  auto expand = [](Node& n, const detail::FreshName& fresh, std::vector<Node>& out) {
    if (n.op_type != "QLinearGlobalAveragePool" || !n.domain.empty() || n.outputs.size() != 1 || n.inputs.size() < 4)
      return false;
    const std::string dq_out = fresh(n.outputs[0] + "/dequantized"), gap_out = fresh(n.outputs[0] + "/pooled");
    Node dq;
    dq.name = n.name + "/dequantize";
    dq.op_type = "DequantizeLinear";
    dq.inputs = {n.inputs[0], n.inputs[1], n.inputs[2]};
    dq.outputs = {dq_out};
    Node gap;
    gap.name = n.name;
    gap.op_type = "GlobalAveragePool";
    gap.inputs = {dq_out};
    gap.outputs = {gap_out};
    Node q;
    q.name = n.name + "/quantize";
    q.op_type = "QuantizeLinear";
    q.inputs = {gap_out, n.inputs[3]};
    if (n.inputs.size() > 4) q.inputs.push_back(n.inputs[4]);
    q.outputs = n.outputs;
    out.push_back(std::move(dq));
    out.push_back(std::move(gap));
    out.push_back(std::move(q));
    return true;
  };
  return PassReport{"split_qlinear_global_average_pool", detail::expand_nodes(g, expand)};
}

}  // namespace edgeopt::runtime::passes

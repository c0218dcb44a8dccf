// fuse_dq_recurrent: an int8 LSTM or GRU from a QDQ model runs in int8. `edgeopt quantize` (and
// ORT's quantize_static) write their W and R as INT8 initializers behind DequantizeLinear; left
// alone, fold_constants turns those into f32 weights and the recurrence runs in f32 with 4x the
// weight bytes. This pass hands the codes and scales to LSTMDynamicInt8 / GRUDynamicInt8
// (kernels/ops/lstm/lstm_int8.h, kernels/ops/gru/gru_int8.h), which keep them, packed once, and run
// the gate products with gemm_int8 on activations quantized per call (ORT's DynamicQuantizeLSTM):
//
//   DQ(W i8 const, s_W, 0) , DQ(R i8 const, s_R, 0) -> LSTM   =>   LSTMDynamicInt8(X, W, R, ..., P, s_W, s_R)
//                                                    -> GRU    =>   GRUDynamicInt8(X, W, R, B, lens, h0, s_W, s_R)
//
// Semantics: not bit-equal to the QDQ graph; X and h are rounded to u8 codes on the way in (half a
// code step per value), which is what the int8 path costs (docs/quantization.md measures it). The
// DequantizeLinear nodes left without readers are removed by remove_dead_nodes.
#include <cmath>

#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

// The recurrent ops this pass rewrites: ONNX op, its int8 form, and its input count before the scales.
struct Rewrite {
  const char* op;
  const char* int8_op;
  size_t inputs;
};
constexpr Rewrite kRewrites[] = {{"LSTM", "LSTMDynamicInt8", 8},  // X, W, R, B, sequence_lens, initial_h, initial_c, P
                                 {"GRU", "GRUDynamicInt8", 6}};   // X, W, R, B, sequence_lens, initial_h

bool is_onnx(const Node& n) { return n.domain.empty() || n.domain == "ai.onnx"; }

// The codes and scale of `v` when it is DequantizeLinear(constant i8 [dirs, rows, cols], constant
// f32 scale with 1 value or one per row on axis 1 (finite, > 0), zero point absent or all 0).
bool int8_weight(const Graph& g, const std::unordered_map<std::string, size_t>& producers, const std::string& v,
                 std::string* codes, std::string* scale) {
  auto p = producers.find(v);
  if (p == producers.end()) return false;
  const Node& dq = g.nodes[p->second];
  if (dq.op_type != "DequantizeLinear" || !is_onnx(dq) || !dq.has_input(0) || !dq.has_input(1)) return false;
  const Tensor* w = detail::constant_value(g, dq.inputs[0]);
  const Tensor* s = detail::constant_value(g, dq.inputs[1]);
  if (!w || !s || w->dtype() != DType::kI8 || w->rank() != 3 || s->dtype() != DType::kF32) return false;
  const int64_t axis = dq.attr_int("axis", 1);
  const bool per_row = s->rank() == 1 && s->numel() == w->shape()[1] && (axis == 1 || axis == -2);
  if (s->numel() != 1 && !per_row) return false;
  for (float f : s->to_f32_vector())
    if (!(std::isfinite(f) && f > 0.f)) return false;
  if (dq.has_input(2)) {
    const Tensor* zp = detail::constant_value(g, dq.inputs[2]);
    if (!zp || zp->dtype() != DType::kI8) return false;
    for (int64_t z : zp->to_i64_vector())
      if (z != 0) return false;
  }
  *codes = dq.inputs[0];
  *scale = dq.inputs[1];
  return true;
}

}  // namespace

PassReport fuse_dq_recurrent(Graph& g) {
  PassReport r{"fuse_dq_recurrent", 0};
  const auto producers = detail::producers(g);
  for (Node& n : g.nodes) {
    for (const Rewrite& rw : kRewrites) {
      if (n.op_type != rw.op || !is_onnx(n) || n.inputs.size() > rw.inputs) continue;
      std::string w, w_scale, rr, r_scale;
      if (!n.has_input(1) || !n.has_input(2) || !int8_weight(g, producers, n.inputs[1], &w, &w_scale) ||
          !int8_weight(g, producers, n.inputs[2], &rr, &r_scale))
        continue;
      n.op_type = rw.int8_op;
      n.domain.clear();
      n.inputs.resize(rw.inputs);
      n.inputs[1] = w;
      n.inputs[2] = rr;
      n.inputs.push_back(w_scale);
      n.inputs.push_back(r_scale);
      ++r.nodes_changed;
      break;
    }
  }
  return r;
}

PassReport split_dq_recurrent(Graph& g) {
  auto expand = [](Node& n, const detail::FreshName& fresh, std::vector<Node>& out) {
    const Rewrite* rw = nullptr;
    for (const Rewrite& c : kRewrites)
      if (n.op_type == c.int8_op && n.domain.empty() && n.inputs.size() == c.inputs + 2) rw = &c;
    if (!rw) return false;
    const std::string base = n.name.empty() ? n.outputs[0] : n.name;
    for (size_t i : {size_t{1}, size_t{2}}) {
      Node dq;
      dq.name = base + (i == 1 ? "/W_dequantize" : "/R_dequantize");
      dq.op_type = "DequantizeLinear";
      dq.inputs = {n.inputs[i], n.inputs[rw->inputs + i - 1]};
      dq.outputs = {fresh(base + (i == 1 ? "/W" : "/R"))};
      dq.set_attr("axis", int64_t{1});  // per gate row when the scale has one value per row
      n.inputs[i] = dq.outputs[0];
      out.push_back(std::move(dq));
    }
    n.op_type = rw->op;
    n.inputs.resize(rw->inputs);
    while (!n.inputs.empty() && n.inputs.back().empty()) n.inputs.pop_back();
    out.push_back(std::move(n));
    return true;
  };
  return PassReport{"split_dq_recurrent", detail::expand_nodes(g, expand)};
}

}  // namespace edgeopt::runtime::passes

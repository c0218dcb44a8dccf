// fuse_dq_lstm: an int8 LSTM from a QDQ model runs in int8. `edgeopt quantize` (and ORT's
// quantize_static) write an LSTM's W and R as INT8 initializers behind DequantizeLinear; left alone,
// fold_constants turns those into f32 weights and the recurrence runs in f32 with 4x the weight
// bytes. This pass hands the codes and scales to LSTMDynamicInt8 (kernels/ops/lstm/lstm_int8.h),
// which keeps them, packed once, and runs the gate products with gemm_int8 on activations quantized
// per call (ORT's DynamicQuantizeLSTM):
//
//   DQ(W i8 const, s_W, 0) , DQ(R i8 const, s_R, 0) -> LSTM   =>   LSTMDynamicInt8(X, W, R, ..., s_W, s_R)
//
// Semantics: not bit-equal to the QDQ graph; X and h are rounded to u8 codes on the way in (half a
// code step per value), which is what the int8 path costs (docs/quantization.md measures it). The
// DequantizeLinear nodes left without readers are removed by remove_dead_nodes.
#include <cmath>

#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

constexpr const char* kInt8Op = "LSTMDynamicInt8";
constexpr size_t kLstmInputs = 8;  // X, W, R, B, sequence_lens, initial_h, initial_c, P; then the scales

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

PassReport fuse_dq_lstm(Graph& g) {
  PassReport r{"fuse_dq_lstm", 0};
  const auto producers = detail::producers(g);
  for (Node& n : g.nodes) {
    if (n.op_type != "LSTM" || !is_onnx(n) || n.inputs.size() > kLstmInputs) continue;
    std::string w, w_scale, rr, r_scale;
    if (!n.has_input(1) || !n.has_input(2) || !int8_weight(g, producers, n.inputs[1], &w, &w_scale) ||
        !int8_weight(g, producers, n.inputs[2], &rr, &r_scale))
      continue;
    n.op_type = kInt8Op;
    n.domain.clear();
    n.inputs.resize(kLstmInputs);
    n.inputs[1] = w;
    n.inputs[2] = rr;
    n.inputs.push_back(w_scale);
    n.inputs.push_back(r_scale);
    ++r.nodes_changed;
  }
  return r;
}

PassReport split_dq_lstm(Graph& g) {
  auto expand = [](Node& n, const detail::FreshName& fresh, std::vector<Node>& out) {
    if (n.op_type != kInt8Op || !n.domain.empty() || n.inputs.size() != kLstmInputs + 2) return false;
    const std::string base = n.name.empty() ? n.outputs[0] : n.name;
    for (size_t i : {size_t{1}, size_t{2}}) {
      Node dq;
      dq.name = base + (i == 1 ? "/W_dequantize" : "/R_dequantize");
      dq.op_type = "DequantizeLinear";
      dq.inputs = {n.inputs[i], n.inputs[kLstmInputs + i - 1]};
      dq.outputs = {fresh(base + (i == 1 ? "/W" : "/R"))};
      dq.set_attr("axis", int64_t{1});  // per gate row when the scale has one value per row
      n.inputs[i] = dq.outputs[0];
      out.push_back(std::move(dq));
    }
    n.op_type = "LSTM";
    n.inputs.resize(kLstmInputs);
    while (!n.inputs.empty() && n.inputs.back().empty()) n.inputs.pop_back();
    out.push_back(std::move(n));
    return true;
  };
  return PassReport{"split_dq_lstm", detail::expand_nodes(g, expand)};
}

}  // namespace edgeopt::runtime::passes

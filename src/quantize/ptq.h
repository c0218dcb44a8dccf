// Post-training quantization to QDQ ONNX: Conv, Gemm and MatMul (and the tensors between them) get
// QuantizeLinear/DequantizeLinear, LSTM/GRU get int8 weights. The result is standard ONNX that any
// runtime runs (edgeopt's reference Q/DQ ops exactly, ONNX Runtime, and edgeopt's int8 kernels via
// the QDQ fusion pass), and its int8 weights are stored as int8 in the file.
//
//   Graph f = prepare_float_graph(onnx::load_model("cnn.onnx"));    // BN folded, Dropout removed
//   QuantPlan plan = plan_quantization(f, opts);                      // what gets quantized
//   auto ranges = calibrate(f, plan.calibrated, calib_x, opts);       // calibrate.h
//   Graph q = emit_qdq(f, plan, activation_qparams(plan, ranges, opts), opts);
//   // or in one call: Graph q = quantize_ptq(model, calib_x, opts).graph;
//
// The pattern per quantizable node (weights W, bias B, input activation X, output Y):
//   X -> Q -> DQ -> Conv(DQ(W_int8, s_w per channel, axis), DQ(B_int32, s_x * s_w)) [-> Relu/Clip] -> Q -> DQ
// - Activations: per-tensor, asymmetric u8 (default) or symmetric i8, scales from calibration.
// - ReLU/Clip-aware: the output Q sits after a following BatchNormalization/Relu/Clip (what the
//   int8 kernels fuse), so a ReLU output uses the whole u8 range for [0, max].
// - Pass-through ops (MaxPool, Flatten, Reshape, Transpose, Squeeze, Unsqueeze) between quantized
//   tensors reuse their input's scale and zero point: max and reshapes commute with quantization,
//   so no requantization is needed in int8.
// - Weights: symmetric int8 codes -127..127, per output channel (Conv axis 0, Gemm axis 0 with
//   transB else 1, MatMul axis 1) when per_channel, else per tensor.
// - Bias: int32 with scale s_x * s_w[c] and zero point 0 (the int8 kernels add it to the int32
//   accumulator directly).
// - Graph outputs stay f32 (the logits are not re-quantized), as do nodes in `exclude`
//   (mixed precision) and everything the plan does not name.
// Rounding and saturation are kernels/quant/requantize.h's, as in QuantizeLinear and QAT.
#pragma once
#include <map>
#include <set>
#include <string>
#include <vector>

#include "core/graph.h"
#include "quantize/observers.h"

namespace edgeopt::quantize {

struct QuantOptions {
  CalibMethod calib = CalibMethod::kMinMax;
  double percentile = 99.99;
  ActScheme activations = ActScheme::kAsymmetricU8;
  bool per_channel = false;
  int64_t calib_samples = 512;
  int64_t batch = 64;
  uint64_t seed = 1;
  bool progress = false;
  bool rnn_weights = true;            // LSTM/GRU: int8 W and R (weight-only)
  std::set<std::string> exclude;      // node names kept in f32 (mixed precision)
};

// One node the plan quantizes.
struct QuantTarget {
  std::string node;                   // node name (for reports and `exclude`)
  size_t index = 0;                   // node index in the planned graph (names need not be unique)
  std::string op_type;
  std::vector<std::string> act_inputs;   // activations quantized in front of it
  std::vector<std::string> weights;      // f32 initializers quantized to int8 (W; LSTM/GRU: W and R)
  std::vector<int64_t> weight_axes;      // per-channel axis of each weight (-1: per tensor)
  std::string bias;                      // f32 initializer quantized to int32 ("" when none)
  std::string output;                    // activation quantized after it ("" when none)
  bool weight_only = false;              // LSTM/GRU
};

struct QuantPlan {
  std::vector<QuantTarget> targets;
  std::vector<std::string> activations;          // every tensor that gets Q -> DQ, in graph order
  std::vector<std::string> calibrated;           // the subset whose range is measured
  std::map<std::string, std::string> inherits;   // pass-through tensor -> tensor whose qparams it reuses
};

// A copy of g ready to quantize: Identity/inference Dropout removed and BatchNormalization folded
// into the preceding Conv/Gemm (runtime/passes), dead nodes dropped.
Graph prepare_float_graph(const Graph& g);

// Throws Unimplemented for opset < 10 (no QuantizeLinear) and for per-channel before opset 13.
QuantPlan plan_quantization(const Graph& g, const QuantOptions& o);

// Scale/zero point of every planned activation from the calibrated ranges (inherited tensors get
// their source's). Throws InvalidArgument naming a calibrated tensor without a range.
std::map<std::string, QParam> activation_qparams(const QuantPlan& plan, const std::map<std::string, Range>& ranges,
                                                 const QuantOptions& o);

// Per-channel (or per-tensor when axis < 0) symmetric int8 scales of a weight.
std::vector<float> weight_scales(const Tensor& w, int64_t axis);

// The QDQ graph (a new Graph; g is not modified). Int8 weights replace the f32 initializers.
Graph emit_qdq(const Graph& g, const QuantPlan& plan, const std::map<std::string, QParam>& act,
               const QuantOptions& o);

struct PtqResult {
  Graph graph;
  QuantPlan plan;
  std::map<std::string, QParam> act;
};

// prepare_float_graph + plan + calibrate on calib_x (the samples, [N, ...]) + emit_qdq.
PtqResult quantize_ptq(const Graph& model, const Tensor& calib_x, const QuantOptions& o);

// Bytes of all initializers (what the weights cost in the model file, before protobuf framing).
int64_t initializer_bytes(const Graph& g);

}  // namespace edgeopt::quantize

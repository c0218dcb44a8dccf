// Quantization-aware training: the model is fine-tuned with FakeQuantize nodes (kernels/ops/
// fake_quantize) wherever PTQ would put QuantizeLinear/DequantizeLinear, then converted to the same
// QDQ graph emit_qdq produces. FakeQuantize uses requantize.h's rounding and saturation, so the
// converted model makes exactly the QAT model's predictions (tested).
//
//   QatOptions o;  o.quant.per_channel = true;  o.epochs = 2;
//   QatResult r = quantize_qat(model, splits, o);     // r.qdq: the int8 model; r.fake_quant: the trained one
//
// - Scales: activations calibrated first (o.quant.calib on o.quant.calib_samples training samples),
//   weights from max|w| per channel; frozen during training unless learn_scales (LSQ: the scale
//   gets FakeQuantize's gradient, Esser et al. 2020).
// - Gradients: straight-through inside the clip range, zero outside.
// - BatchNorm: with freeze_bn_epoch = 0 it is folded into the conv before training (statistics
//   frozen from the start). With K > 0 the first K epochs train Conv -> BatchNorm (batch statistics,
//   fake-quantized unfolded weights); then BN is folded with its running statistics, the scales are
//   re-calibrated, and the remaining epochs train the folded weights (Jacob et al. 2018, sec. 3.2).
//   K must be < epochs so that what is trained last is what is deployed.
#pragma once
#include <map>
#include <set>
#include <string>

#include "core/graph.h"
#include "quantize/ptq.h"
#include "train/data/dataset.h"
#include "train/loop/trainer.h"

namespace edgeopt::quantize {

struct QatOptions {
  QuantOptions quant;
  int epochs = 2;
  float lr = 1e-4f;
  int64_t batch = 128;
  int freeze_bn_epoch = 0;
  bool learn_scales = false;
  int64_t max_steps_per_epoch = 0;  // 0: full epochs (tests cap it)
};

struct QatResult {
  Graph fake_quant;   // the trained QAT graph (FakeQuantize nodes; runs in edgeopt, not ONNX)
  Graph qdq;          // its QDQ conversion (ONNX)
  std::vector<train::TrainReport> phases;
};

// The training graph: FakeQuantize on planned activations (per tensor), weights (per channel when
// planned) and biases (int32, scale = s_x * s_w computed by a Mul so learned scales stay consistent).
// `scales` receives the names of the scale initializers (what to freeze without LSQ).
Graph emit_fake_quant(const Graph& g, const QuantPlan& plan, const std::map<std::string, QParam>& act,
                      std::set<std::string>* scales);

// FakeQuantize nodes -> QuantizeLinear/DequantizeLinear (activations) or int8/int32 initializers +
// DequantizeLinear (constant inputs), with the same scales, zero points and ranges; the FakeQuantize
// outputs keep their names, so every consumer is unchanged. Throws InvalidArgument naming a
// FakeQuantize whose scale is not constant or whose range is neither u8, i8 nor int32.
Graph fake_quant_to_qdq(const Graph& fq);

// Throws InvalidArgument for freeze_bn_epoch >= epochs (when > 0) or epochs < 1.
QatResult quantize_qat(const Graph& model, const train::DataSplits& d, const QatOptions& o);

}  // namespace edgeopt::quantize

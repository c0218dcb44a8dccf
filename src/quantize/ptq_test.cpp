#include "quantize/ptq.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "kernels/quant/requantize.h"
#include "onnx/export.h"
#include "onnx/import.h"
#include "quantize/calibrate.h"
#include "quantize/lowp_weights.h"
#include "quantize/sensitivity.h"
#include "quantize/test_models.h"
#include "runtime/session.h"

namespace edgeopt::quantize {
namespace {

using testing::synthetic_splits;
using testing::trained_cnn;

struct Fixture {
  train::DataSplits d = synthetic_splits();
  Graph fp = trained_cnn(d);
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

const Node* producer(const Graph& g, const std::string& v) {
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs)
      if (o == v) return &n;
  return nullptr;
}

std::vector<int64_t> argmax_rows(const Tensor& logits) {
  std::vector<int64_t> out;
  const int64_t n = logits.shape()[0], c = logits.shape()[1];
  for (int64_t i = 0; i < n; ++i) {
    const float* p = logits.data<float>() + i * c;
    out.push_back(std::max_element(p, p + c) - p);
  }
  return out;
}

}  // namespace

// Every Conv/Gemm reads DequantizeLinear outputs: int8 weights (per channel, axis 0), int32 bias
// with scale s_x * s_w, and a Q->DQ activation; ReLU outputs are u8 with zero point 0; MaxPool's
// output reuses its input's scale.
TEST(Ptq, QdqStructure) {
  const auto& fx = fixture();
  QuantOptions o;
  o.per_channel = true;
  Tensor x = calibration_samples(fx.d.train, 128, 1);
  PtqResult r = quantize_ptq(fx.fp, x, o);
  const Graph& g = r.graph;
  int convs = 0, gemms = 0;
  for (const auto& n : g.nodes) {
    if (n.op_type != "Conv" && n.op_type != "Gemm") continue;
    (n.op_type == "Conv" ? convs : gemms)++;
    const Node* xdq = producer(g, n.inputs[0]);
    const Node* wdq = producer(g, n.inputs[1]);
    const Node* bdq = producer(g, n.inputs[2]);
    ASSERT_TRUE(xdq && wdq && bdq) << n.name;
    EXPECT_EQ(xdq->op_type, "DequantizeLinear") << n.name;
    ASSERT_EQ(wdq->op_type, "DequantizeLinear") << n.name;
    ASSERT_EQ(bdq->op_type, "DequantizeLinear") << n.name;
    const Tensor& wq = g.initializers.at(wdq->inputs[0]);
    const Tensor& ws = g.initializers.at(wdq->inputs[1]);
    EXPECT_EQ(wq.dtype(), DType::kI8) << n.name;
    EXPECT_EQ(ws.numel(), wq.shape()[0]) << n.name << ": one scale per output channel";
    EXPECT_EQ(wdq->attr_int("axis", 1), 0) << n.name;
    for (int64_t i = 0; i < wq.numel(); ++i) ASSERT_GE(wq.data<int8_t>()[i], -127) << n.name;
    const Tensor& bq = g.initializers.at(bdq->inputs[0]);
    const Tensor& bs = g.initializers.at(bdq->inputs[1]);
    const float sx = g.initializers.at(xdq->inputs[1]).data<float>()[0];
    EXPECT_EQ(bq.dtype(), DType::kI32) << n.name;
    for (int64_t c = 0; c < bs.numel(); ++c) EXPECT_EQ(bs.data<float>()[c], sx * ws.data<float>()[c]) << n.name;
  }
  EXPECT_EQ(convs, 2);
  EXPECT_EQ(gemms, 2);
  for (const auto& n : g.nodes) {
    if (n.op_type == "QuantizeLinear") {
      const Node* p = producer(g, n.inputs[0]);
      if (p && p->op_type == "Relu") {
        EXPECT_EQ(g.initializers.at(n.inputs[2]).dtype(), DType::kU8);
        EXPECT_EQ(g.initializers.at(n.inputs[2]).data<uint8_t>()[0], 0) << "ReLU output " << n.inputs[0];
      }
    }
    if (n.op_type == "MaxPool" && std::count(r.plan.activations.begin(), r.plan.activations.end(), n.outputs[0])) {
      const Node* in_dq = producer(g, n.inputs[0]);
      ASSERT_TRUE(in_dq && in_dq->op_type == "DequantizeLinear");
      EXPECT_EQ(r.plan.inherits.count(n.outputs[0]), 1u) << n.outputs[0] << " reuses its input's qparams";
    }
    EXPECT_NE(n.op_type, "BatchNormalization");  // folded before quantization
  }
  for (const auto& [name, t] : g.initializers)
    EXPECT_FALSE(t.dtype() == DType::kF32 && t.numel() > 64) << name << " is still an f32 weight";
}

// The QDQ graph passes ONNX's checker and shape inference, reloads, and stays close to fp32.
TEST(Ptq, ValidOnnxAndCloseToFp32) {
  const auto& fx = fixture();
  for (bool per_channel : {false, true}) {
    for (CalibMethod m : {CalibMethod::kMinMax, CalibMethod::kPercentile, CalibMethod::kEntropy, CalibMethod::kMse}) {
      QuantOptions o;
      o.per_channel = per_channel;
      o.calib = m;
      PtqResult r = quantize_ptq(fx.fp, calibration_samples(fx.d.train, 128, 1), o);
      const std::string bytes = onnx::save_model_to_bytes(r.graph);  // runs onnx::checker + shape inference
      Graph back = onnx::load_model_from_bytes(bytes, "qdq.onnx");
      const double acc_fp = measure_quality(fx.fp, fx.d, "test").value;
      const double acc_q = measure_quality(back, fx.d, "test").value;
      EXPECT_GT(acc_fp, 90.0);
      EXPECT_LE(acc_fp - acc_q, 2.0) << calib_method_name(m) << " per_channel=" << per_channel;
      const auto pf = argmax_rows(train::predict(fx.fp, fx.d.test));
      const auto pq = argmax_rows(train::predict(back, fx.d.test));
      int64_t same = 0;
      for (size_t i = 0; i < pf.size(); ++i) same += pf[i] == pq[i];
      EXPECT_GE(same, static_cast<int64_t>(pf.size() * 97 / 100)) << calib_method_name(m);
    }
  }
}

TEST(Ptq, SymmetricActivationsAndPerTensorWeights) {
  const auto& fx = fixture();
  QuantOptions o;
  o.activations = ActScheme::kSymmetricI8;
  PtqResult r = quantize_ptq(fx.fp, calibration_samples(fx.d.train, 64, 1), o);
  for (const auto& n : r.graph.nodes) {
    if (n.op_type == "QuantizeLinear") {
      const Tensor& zp = r.graph.initializers.at(n.inputs[2]);
      EXPECT_EQ(zp.dtype(), DType::kI8);
      EXPECT_EQ(zp.data<int8_t>()[0], 0);
    }
    if (n.op_type == "DequantizeLinear" && r.graph.initializers.count(n.inputs[0]))
      EXPECT_EQ(r.graph.initializers.at(n.inputs[1]).numel(), 1) << n.name << " per tensor";
  }
}

// Weights are stored as int8 codes: dequantizing them reproduces the f32 weight within half a step.
TEST(Ptq, WeightCodesRoundTrip) {
  Tensor w = Tensor::from_vector<float>({2, 3}, {0.5f, -1.f, 0.25f, 0.01f, 0.02f, -0.03f});
  auto s = weight_scales(w, 0);
  ASSERT_EQ(s.size(), 2u);
  EXPECT_FLOAT_EQ(s[0], 1.f / 127.f);
  EXPECT_FLOAT_EQ(s[1], 0.03f / 127.f);
  EXPECT_EQ(weight_scales(w, -1).size(), 1u);
}

// LSTM/GRU: int8 W and R (weight-only DQ, one scale per gate row). The session runs them as
// LSTMDynamicInt8 / GRUDynamicInt8 (int8 products, dynamic u8 activations): within 5 %.
TEST(Ptq, RecurrentWeightsOnly) {
  for (const char* zoo : {"env_lstm", "env_gru"}) {
    const std::string cell = std::string(zoo) == "env_lstm" ? "LSTM" : "GRU";
    Graph g = train::build_zoo_model(zoo, {.input_shape = {6, 3}, .num_outputs = 1, .width = 8, .depth = 1});
    QuantOptions o;
    o.per_channel = true;
    train::Dataset ds;
    ds.x = Tensor(DType::kF32, {32, 6, 3});
    for (int64_t i = 0; i < ds.x.numel(); ++i) ds.x.data<float>()[i] = std::sin(0.37f * static_cast<float>(i));
    PtqResult r = quantize_ptq(g, ds.x, o);
    int rnn_dq = 0;
    for (const auto& n : r.graph.nodes)
      if (n.op_type == cell)
        for (size_t i : {1, 2}) {
          const Node* p = producer(r.graph, n.inputs[i]);
          ASSERT_TRUE(p && p->op_type == "DequantizeLinear") << zoo;
          EXPECT_EQ(r.graph.initializers.at(p->inputs[0]).dtype(), DType::kI8);
          EXPECT_EQ(p->attr_int("axis", 0), 1);
          ++rnn_dq;
        }
    EXPECT_EQ(rnn_dq, 2) << zoo;
    onnx::save_model_to_bytes(r.graph);
    runtime::Session a(g), b(r.graph);
    Tensor ya = a.run({{"input", ds.x}}).at("output"), yb = b.run({{"input", ds.x}}).at("output");
    double err = 0, ref = 0;
    for (int64_t i = 0; i < ya.numel(); ++i) {
      err += std::pow(ya.data<float>()[i] - yb.data<float>()[i], 2);
      ref += std::pow(ya.data<float>()[i], 2);
    }
    EXPECT_LT(std::sqrt(err / (ref + 1e-12)), 0.05) << zoo;
  }
}

TEST(LowpWeights, HalfTheBytesAndCloseOutputs) {
  const auto& fx = fixture();
  Graph f = prepare_float_graph(fx.fp);
  for (DType dt : {DType::kF16, DType::kBF16}) {
    LowpReport rep;
    Graph h = store_weights_lowp(f, dt, &rep);
    EXPECT_GE(rep.converted, 4);  // 2 conv weights, 2 gemm weights (and biases of >= 16 elements)
    EXPECT_LT(initializer_bytes(h), initializer_bytes(f) * 0.56);
    // bf16 asks the runtime for bf16 compute (use_bf16_compute), and the request survives a save.
    const Graph loaded = onnx::load_model_from_bytes(onnx::save_model_to_bytes(h));
    EXPECT_EQ(loaded.metadata.count("edgeopt.compute") ? loaded.metadata.at("edgeopt.compute") : "",
              dt == DType::kBF16 ? "bf16" : "")
        << dtype_name(dt);
    Tensor a = train::predict(f, fx.d.test), b = train::predict(h, fx.d.test);
    for (int64_t i = 0; i < a.numel(); ++i)
      ASSERT_NEAR(a.data<float>()[i], b.data<float>()[i], (dt == DType::kF16 ? 0.01 : 0.08) * (1 + std::abs(a.data<float>()[i])))
          << dtype_name(dt) << " at " << i;
  }
  EXPECT_THROW(store_weights_lowp(f, DType::kI8), Error);
}

TEST(MixedPrecision, KeepsSensitiveLayersUntilTheBudgetHolds) {
  const auto& fx = fixture();
  Graph f = prepare_float_graph(fx.fp);
  QuantOptions o;
  QuantPlan plan = plan_quantization(f, o);
  auto ranges = calibrate(f, plan.activations, calibration_samples(fx.d.train, 64, 1), o);
  auto sens = layer_sensitivity(f, plan, ranges, o, fx.d, "val");
  ASSERT_EQ(sens.size(), 4u);
  // A budget nothing meets: every layer ends in f32 and the graph has no QuantizeLinear.
  MixedPrecision none = choose_mixed_precision(f, ranges, o, fx.d, -1.0, "val");
  EXPECT_EQ(none.kept_float.size(), 4u);
  for (const auto& n : none.graph.nodes) EXPECT_NE(n.op_type, "QuantizeLinear");
  EXPECT_NEAR(none.drop, 0.0, 1e-9);
  // The layers kept out of int8 can still store their weights in fp16.
  Graph h = store_weights_lowp(none.graph, DType::kF16);
  EXPECT_LT(initializer_bytes(h), initializer_bytes(none.graph) * 0.56);
  // A generous budget: everything int8.
  MixedPrecision all = choose_mixed_precision(f, ranges, o, fx.d, 100.0, "val");
  EXPECT_TRUE(all.kept_float.empty());
}

// ONNX does not require unique node names: two Gemms both called "fc" are both quantized.
TEST(Ptq, DuplicateNodeNames) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape{-1, 4}});
  g.initializers["w1"] = Tensor::from_vector<float>({4, 4}, std::vector<float>(16, 0.25f));
  g.initializers["w2"] = Tensor::from_vector<float>({4, 2}, {1.f, -1.f, 0.5f, 2.f, 1.f, 0.f, -3.f, 1.f});
  g.add_node("Gemm", {"x", "w1"}, {"h"}, "fc");
  g.add_node("Relu", {"h"}, {"r"}, "act");
  g.add_node("Gemm", {"r", "w2"}, {"y"}, "fc");
  g.outputs.push_back({"y", DType::kF32, Shape{-1, 2}});
  Tensor x = Tensor::from_vector<float>({2, 4}, {1.f, 2.f, -1.f, 0.5f, 0.f, 1.f, 3.f, -2.f});
  PtqResult r = quantize_ptq(g, x, {});
  int gemms_with_int8 = 0;
  for (const auto& n : r.graph.nodes)
    if (n.op_type == "Gemm") {
      const Node* p = producer(r.graph, n.inputs[1]);
      gemms_with_int8 += p && p->op_type == "DequantizeLinear";
    }
  EXPECT_EQ(gemms_with_int8, 2);
  Tensor ya = runtime::Session(g).run({{"x", x}}).at("y"), yb = runtime::Session(r.graph).run({{"x", x}}).at("y");
  for (int64_t i = 0; i < ya.numel(); ++i) EXPECT_NEAR(ya.data<float>()[i], yb.data<float>()[i], 0.05) << i;
}

// The runner observes graph inputs and intermediates exactly as the model computes them.
TEST(Calibrate, RangesOfInputsAndIntermediates) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, Shape{-1, 3}});
  g.add_node("Relu", {"x"}, {"r"}, "relu");
  g.add_node("Neg", {"r"}, {"y"}, "neg");
  g.outputs.push_back({"y", DType::kF32, Shape{-1, 3}});
  Tensor x = Tensor::from_vector<float>({4, 3}, {-5.f, 1.f, 2.f, 0.5f, -0.25f, 7.f, 3.f, 3.f, -1.f, 0.f, 6.5f, -2.f});
  QuantOptions o;
  o.batch = 3;  // two batches, the second partial
  auto r = calibrate(g, {"x", "r", "y"}, x, o);
  EXPECT_EQ(r.at("x").lo, -5.f);
  EXPECT_EQ(r.at("x").hi, 7.f);
  EXPECT_EQ(r.at("r").lo, 0.f);
  EXPECT_EQ(r.at("r").hi, 7.f);
  EXPECT_EQ(r.at("y").lo, -7.f);
  EXPECT_EQ(r.at("y").hi, 0.f);
}

TEST(Ptq, Errors) {
  const auto& fx = fixture();
  Graph old = fx.fp;
  old.opset = 9;
  EXPECT_THROW(plan_quantization(old, {}), Error);
  old.opset = 12;
  QuantOptions pc;
  pc.per_channel = true;
  EXPECT_THROW(plan_quantization(old, pc), Error);
  try {
    calibrate(fx.fp, {"no_such_tensor"}, calibration_samples(fx.d.train, 4, 1), {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_tensor"), std::string::npos);
  }
  EXPECT_THROW(calibration_samples(fx.d.train, 0, 1), Error);
}

}  // namespace edgeopt::quantize

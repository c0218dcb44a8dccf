#include "quantize/qat.h"

#include <gtest/gtest.h>

#include "onnx/export.h"
#include "quantize/calibrate.h"
#include "quantize/sensitivity.h"
#include "quantize/test_models.h"

namespace edgeopt::quantize {
namespace {

const train::DataSplits& splits() {
  static const train::DataSplits d = testing::synthetic_splits();
  return d;
}
const Graph& model() {
  static const Graph g = testing::trained_cnn(splits());
  return g;
}

QatOptions quick() {
  QatOptions o;
  o.quant.per_channel = true;
  o.quant.calib_samples = 128;
  o.epochs = 1;
  o.lr = 1e-3f;
  o.batch = 32;
  o.max_steps_per_epoch = 10;
  return o;
}

// The int8 model must make every prediction the QAT model made: FakeQuantize and Q->DQ share
// requantize.h, so the logits are equal bit for bit (ties included: both round half to even).
void expect_same_predictions(const QatResult& r) {
  for (const auto* ds : {&splits().test, &splits().val}) {
    Tensor a = train::predict(r.fake_quant, *ds), b = train::predict(r.qdq, *ds);
    ASSERT_EQ(a.shape(), b.shape());
    int64_t differ = 0;
    for (int64_t i = 0; i < a.numel(); ++i) differ += a.data<float>()[i] != b.data<float>()[i];
    EXPECT_EQ(differ, 0) << "logits of the QAT model and its QDQ conversion differ";
  }
  for (const auto& n : r.qdq.nodes) EXPECT_NE(n.op_type, "FakeQuantize");
  onnx::save_model_to_bytes(r.qdq);  // valid ONNX
}

}  // namespace

TEST(Qat, ConversionToQdqChangesNoPrediction) {
  const Tensor before = model().initializers.at("head.fc1.weight").clone();
  QatResult r = quantize_qat(model(), splits(), quick());
  expect_same_predictions(r);
  const Tensor& after = model().initializers.at("head.fc1.weight");
  for (int64_t i = 0; i < before.numel(); ++i)
    ASSERT_EQ(before.data<float>()[i], after.data<float>()[i]) << "QAT changed the caller's model";
  const Quality fp = measure_quality(model(), splits(), "test");
  const Quality q = measure_quality(r.qdq, splits(), "test");
  EXPECT_LE(fp.value - q.value, 2.0);
  ASSERT_EQ(r.phases.size(), 1u);
}

// BatchNorm trained unfolded for the first epoch, then folded with frozen statistics.
TEST(Qat, FreezeBatchNormAfterAnEpoch) {
  QatOptions o = quick();
  o.epochs = 2;
  o.freeze_bn_epoch = 1;
  QatResult r = quantize_qat(model(), splits(), o);
  ASSERT_EQ(r.phases.size(), 2u);
  for (const auto& n : r.fake_quant.nodes) EXPECT_NE(n.op_type, "BatchNormalization");
  expect_same_predictions(r);
}

// Without LSQ the scales stay put; with it they move.
TEST(Qat, LearnedScalesMoveFrozenOnesDoNot) {
  for (bool learn : {false, true}) {
    QatOptions o = quick();
    o.learn_scales = learn;
    Graph f = prepare_float_graph(model());
    QuantPlan plan = plan_quantization(f, o.quant);
    QatResult r = quantize_qat(model(), splits(), o);
    int moved = 0, total = 0;
    // Scales in the trained graph vs. the same graph rebuilt from the trained weights' calibration
    // are not comparable; compare each activation scale with the value it was calibrated to.
    auto ranges = calibrate(f, plan.calibrated, calibration_samples(splits().train, 128, 1), o.quant);
    auto act = activation_qparams(plan, ranges, o.quant);
    for (const auto& [name, p] : act) {
      const Tensor& s = r.fake_quant.initializers.at(name + "_scale");
      ++total;
      moved += s.data<float>()[0] != p.scale;
      if (!learn) EXPECT_EQ(s.data<float>()[0], p.scale) << name;
    }
    EXPECT_GT(total, 0);
    if (learn) EXPECT_GT(moved, 0);
    else EXPECT_EQ(moved, 0);
    expect_same_predictions(r);
  }
}

TEST(Qat, Errors) {
  QatOptions o = quick();
  o.freeze_bn_epoch = 1;  // == epochs
  EXPECT_THROW(quantize_qat(model(), splits(), o), Error);
  o = quick();
  o.epochs = 0;
  EXPECT_THROW(quantize_qat(model(), splits(), o), Error);
}

}  // namespace edgeopt::quantize

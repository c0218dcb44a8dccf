#include "train/metrics/classification.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace edgeopt::train {
namespace {

TEST(ClassificationMetrics, HandComputed) {
  // truth:     0 0 0 1 1 2 2 2 2 2
  // predicted: 0 0 1 1 2 2 2 2 0 0
  const std::vector<int64_t> truth = {0, 0, 0, 1, 1, 2, 2, 2, 2, 2};
  const std::vector<int64_t> pred = {0, 0, 1, 1, 2, 2, 2, 2, 0, 0};
  ClassificationMetrics m = classification_metrics(pred, truth, 3, {"a", "b", "c"});
  EXPECT_EQ(m.count, 10);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.6);
  EXPECT_EQ(m.confusion, (std::vector<std::vector<int64_t>>{{2, 1, 0}, {0, 1, 1}, {2, 0, 3}}));
  // class 0: tp 2, predicted 4, support 3; class 1: tp 1, pred 2, sup 2; class 2: tp 3, pred 4, sup 5.
  EXPECT_DOUBLE_EQ(m.precision[0], 0.5);
  EXPECT_DOUBLE_EQ(m.recall[0], 2.0 / 3);
  EXPECT_DOUBLE_EQ(m.f1[0], 2 * 0.5 * (2.0 / 3) / (0.5 + 2.0 / 3));
  EXPECT_DOUBLE_EQ(m.precision[1], 0.5);
  EXPECT_DOUBLE_EQ(m.recall[1], 0.5);
  EXPECT_DOUBLE_EQ(m.f1[1], 0.5);
  EXPECT_DOUBLE_EQ(m.precision[2], 0.75);
  EXPECT_DOUBLE_EQ(m.recall[2], 0.6);
  EXPECT_NEAR(m.macro_f1, (4.0 / 7 + 0.5 + 2 * 0.75 * 0.6 / 1.35) / 3, 1e-12);
  auto flat = m.to_map();
  EXPECT_DOUBLE_EQ(flat.at("accuracy"), 0.6);
  EXPECT_DOUBLE_EQ(flat.at("recall/c"), 0.6);
  EXPECT_DOUBLE_EQ(flat.at("support/b"), 2);
}

TEST(ClassificationMetrics, FromLogitsAndAccumulation) {
  Tensor logits = Tensor::from_vector<float>(Shape{3, 2}, {0.1f, 0.9f, 2.f, -1.f, 0.5f, 0.5f});
  Tensor labels = Tensor::from_vector<int64_t>(Shape{3}, {1, 0, 1});
  EXPECT_EQ(argmax_rows(logits), (std::vector<int64_t>{1, 0, 0}));  // ties: the first maximum
  ConfusionMatrix cm(2);
  cm.add_logits(logits, labels);
  cm.add({1}, {1});
  ClassificationMetrics m = cm.metrics();
  EXPECT_EQ(m.count, 4);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.75);
  EXPECT_DOUBLE_EQ(classification_metrics_from_logits(logits, labels).accuracy, 2.0 / 3);
}

TEST(ClassificationMetrics, AbsentClassesAndErrors) {
  // Class 2 never occurs: it does not dilute macro-F1.
  ClassificationMetrics m = classification_metrics({0, 1}, {0, 1}, 3);
  EXPECT_DOUBLE_EQ(m.macro_f1, 1.0);
  EXPECT_EQ(m.f1[2], 0);
  EXPECT_THROW(classification_metrics({0, 3}, {0, 1}, 3), Error);
  EXPECT_THROW(classification_metrics({0}, {0, 1}, 3), Error);
  EXPECT_THROW(classification_metrics({0}, {-1}, 3), Error);
  EXPECT_THROW(ConfusionMatrix(0), Error);
  ConfusionMatrix cm(2);
  EXPECT_THROW(cm.add_logits(Tensor::zeros(DType::kF32, Shape{2, 3}), Tensor::zeros(DType::kI64, Shape{2})), Error);
}

}  // namespace
}  // namespace edgeopt::train

#include "monitor/feedback.h"

#include <gtest/gtest.h>

#include <cmath>

namespace edgeopt::monitor {
namespace {

// One-row logits with the argmax at `cls` (of `k` classes).
Tensor logits(int64_t cls, int64_t k = 3) {
  Tensor t(DType::kF32, Shape({1, k}));
  for (int64_t i = 0; i < k; ++i) t.data<float>()[i] = i == cls ? 2.f : 0.f;
  return t;
}

Tensor image(float v) {
  Tensor t(DType::kF32, Shape({1, 1, 2, 2}));
  for (int i = 0; i < 4; ++i) t.data<float>()[i] = v;
  return t;
}

TEST(Feedback, AccuracyAndMacroScoresMatchAHandCount) {
  FeedbackStore fb;
  // predictions 0,0,1,2 ; labels 0,1,1,1: correct 2/4.
  const int64_t pred[] = {0, 0, 1, 2}, lab[] = {0, 1, 1, 1};
  std::vector<Label> labels;
  for (int i = 0; i < 4; ++i) {
    fb.record("r" + std::to_string(i), "m", 1, nullptr, logits(pred[i]));
    labels.push_back({.id = "r" + std::to_string(i), .label = lab[i]});
  }
  ApplyResult a = fb.apply("m", labels);
  EXPECT_EQ(a.matched, 4u);
  EXPECT_EQ(a.unknown, 0u);
  auto m = fb.rolling("m", 1);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->n, 4u);
  EXPECT_DOUBLE_EQ(m->accuracy, 0.5);
  // class 0: tp1 fp1 fn0 -> p .5 r 1 ; class 1: tp1 fp0 fn2 -> p 1 r 1/3 ; class 2: tp0 fp1 -> 0, 0.
  EXPECT_NEAR(m->precision, (0.5 + 1 + 0) / 3, 1e-12);
  EXPECT_NEAR(m->recall, (1 + 1.0 / 3 + 0) / 3, 1e-12);
  const double f0 = 2 * 0.5 * 1 / 1.5, f1 = 2 * 1 * (1.0 / 3) / (4.0 / 3);
  EXPECT_NEAR(m->f1, (f0 + f1) / 3, 1e-12);
}

TEST(Feedback, UnknownDuplicateAndWrongModelAreCountedNotFatal) {
  FeedbackStore fb;
  fb.record("a", "m", 1, nullptr, logits(1));
  fb.record("b", "other", 1, nullptr, logits(1));
  ApplyResult r = fb.apply("m", {{.id = "a", .label = 1}, {.id = "nope", .label = 0}, {.id = "a", .label = 1},
                                 {.id = "b", .label = 1}, {.id = "a", .row = 3, .label = 1}});
  EXPECT_EQ(r.matched, 1u);
  EXPECT_EQ(r.unknown, 1u);
  EXPECT_EQ(r.duplicate, 1u);
  EXPECT_EQ(r.rejected, 2u);
  ASSERT_EQ(r.unknown_ids.size(), 1u);
  EXPECT_EQ(r.unknown_ids[0], "nope");
  EXPECT_EQ(fb.unknown_total("m"), 1u);
  EXPECT_DOUBLE_EQ(fb.rolling("m", 1)->accuracy, 1.0);
}

TEST(Feedback, RingForgetsTheOldestAndWindowKeepsTheLast) {
  FeedbackStore fb({.capacity = 3, .window = 2});
  for (int i = 0; i < 5; ++i) fb.record("r" + std::to_string(i), "m", 1, nullptr, logits(0));
  ApplyResult r = fb.apply("m", {{.id = "r0", .label = 0}, {.id = "r1", .label = 0}, {.id = "r2", .label = 1},
                                 {.id = "r3", .label = 0}, {.id = "r4", .label = 0}});
  EXPECT_EQ(r.unknown, 2u);  // r0, r1 left the ring
  EXPECT_EQ(r.matched, 3u);
  auto m = fb.rolling("m", 1);
  EXPECT_EQ(m->n, 2u);                 // the window holds r3 and r4
  EXPECT_EQ(m->labels_total, 3u);
  EXPECT_DOUBLE_EQ(m->accuracy, 1.0);  // r2's miss fell out of the window
}

TEST(Feedback, RegressionMaeRmsePerVersion) {
  FeedbackStore fb;
  Tensor y(DType::kF32, Shape({2, 1}));
  y.data<float>()[0] = 1.f;
  y.data<float>()[1] = 4.f;
  fb.record("x", "m", 7, nullptr, y);  // two rows
  ApplyResult r = fb.apply("m", {{.id = "x", .row = 0, .value = {2.f}}, {.id = "x", .row = 1, .value = {1.f}}});
  EXPECT_EQ(r.matched, 2u);
  auto m = fb.rolling("m", 7);
  ASSERT_TRUE(m);
  EXPECT_EQ(m->task, "regression");
  EXPECT_DOUBLE_EQ(m->mae, 2.0);
  EXPECT_DOUBLE_EQ(m->rmse, std::sqrt(5.0));
  EXPECT_FALSE(fb.rolling("m", 1));
  // A class label on a model with regression labels is refused, not mixed in.
  fb.record("z", "m", 7, nullptr, y);
  EXPECT_EQ(fb.apply("m", {{.id = "z", .label = 1}}).rejected, 1u);
}

TEST(Feedback, LabelledSamplesCarryTheKeptInputs) {
  FeedbackStore fb({.input_capacity = 2});
  for (int i = 0; i < 3; ++i) fb.record("r" + std::to_string(i), "m", 1, nullptr, logits(0));
  for (int i = 0; i < 3; ++i) {
    Tensor x = image(static_cast<float>(i));
    fb.record("i" + std::to_string(i), "m", 2, &x, logits(i));
  }
  // i0's input is no longer kept (input_capacity 2): its label counts but yields no sample.
  fb.apply("m", {{.id = "i0", .label = 0}, {.id = "i1", .label = 1}, {.id = "i2", .label = 0}, {.id = "r0", .label = 0}});
  LabelledSamples s = fb.labelled("m", 10);
  ASSERT_EQ(s.size(), 2);
  EXPECT_EQ(s.x.shape().dims(), (std::vector<int64_t>{2, 1, 2, 2}));
  EXPECT_FLOAT_EQ(s.x.data<float>()[0], 1.f);
  EXPECT_FLOAT_EQ(s.x.data<float>()[4], 2.f);
  EXPECT_EQ(s.y.data<int64_t>()[0], 1);
  EXPECT_EQ(s.y.data<int64_t>()[1], 0);
  EXPECT_EQ(s.ids, (std::vector<std::string>{"i1", "i2"}));
  Tensor x = fb.recent_inputs("m", 10);
  ASSERT_TRUE(x.defined());
  EXPECT_EQ(x.shape()[0], 2);
  EXPECT_EQ(fb.rolling("m", 2)->labels_total, 3u);
  EXPECT_EQ(fb.labelled_total("m"), 2u);
  EXPECT_EQ(fb.labelled_total("other"), 0u);
}

// Slots are overwritten in place and evicted inputs' buffers recycled (feedback.cpp): after the ring
// has gone round many times with batches of 1 and 2 rows, requests without inputs and evictions, every
// remembered request still carries exactly its own outputs and inputs, and no evicted input survives.
TEST(Feedback, ReusedSlotsKeepOnlyEachRequestsOwnRows) {
  FeedbackStore fb({.capacity = 4, .window = 100, .input_capacity = 3});
  auto batch = [](int i, int64_t rows) {
    Tensor t(DType::kF32, Shape({rows, 1, 2, 2}));
    for (int64_t r = 0; r < rows; ++r)
      for (int k = 0; k < 4; ++k) t.data<float>()[r * 4 + k] = static_cast<float>(100 * i + 10 * r + k);
    return t;
  };
  auto out = [](int i, int64_t rows) {
    Tensor t(DType::kF32, Shape({rows, 3}));
    for (int64_t r = 0; r < rows; ++r)
      for (int k = 0; k < 3; ++k) t.data<float>()[r * 3 + k] = k == (i + r) % 3 ? 2.f : 0.f;
    return t;
  };
  for (int i = 0; i < 50; ++i) {
    const int64_t rows = 1 + i % 2;
    Tensor x = batch(i, rows);
    fb.record("q" + std::to_string(i), "m", 1, i % 5 == 0 ? nullptr : &x, out(i, rows));
  }
  // Ring: q46..q49; q46 (1 row), q47 (2 rows), q48 (1 row), q49 (2 rows) all had inputs, but only
  // the last 3 requests' inputs are kept, so q46 has none. Labels are each row's predicted class.
  fb.apply("m", {{.id = "q46", .label = 1}, {.id = "q47", .row = 1, .label = 0}, {.id = "q48", .label = 0},
                 {.id = "q49", .row = 1, .label = 2}, {.id = "q45", .label = 0}});
  LabelledSamples s = fb.labelled("m", 10);
  ASSERT_EQ(s.size(), 3);
  EXPECT_EQ(s.ids, (std::vector<std::string>{"q47", "q48", "q49"}));
  const float expect_first[3] = {4710.f, 4800.f, 4910.f};
  for (int n = 0; n < 3; ++n)
    for (int k = 0; k < 4; ++k) EXPECT_FLOAT_EQ(s.x.data<float>()[n * 4 + k], expect_first[n] + k) << n << "," << k;
  const RollingMetrics m = *fb.rolling("m", 1);
  EXPECT_EQ(m.labels_total, 4u);                // q45 is no longer remembered
  EXPECT_DOUBLE_EQ(m.accuracy, 1.0);            // each label is its own row's predicted class
  Tensor recent = fb.recent_inputs("m", 10);
  ASSERT_TRUE(recent.defined());
  EXPECT_EQ(recent.shape()[0], 5);              // q47 (2 rows) + q48 (1) + q49 (2)
}

}  // namespace
}  // namespace edgeopt::monitor

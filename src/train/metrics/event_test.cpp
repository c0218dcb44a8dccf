#include "train/metrics/event.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace edgeopt::train {
namespace {

TEST(EventMetrics, HandComputed) {
  // labels: 0 0 1 1 1 0 0 0 1 0 0 0   (two events)
  // scores flag rows 1, 3, 4, 10, 11 at threshold 0.5: alarms {1} false, {3,4} true, {10,11} false.
  const std::vector<int64_t> labels = {0, 0, 1, 1, 1, 0, 0, 0, 1, 0, 0, 0};
  const std::vector<double> scores = {0, .6, .4, .9, .5, 0, 0, 0, .1, 0, .7, .8};
  EventMetrics m = event_metrics(scores, labels, 0.5, 300);  // 12 rows x 5 min = 1 hour
  EXPECT_EQ(m.tp, 2);
  EXPECT_EQ(m.fp, 3);
  EXPECT_EQ(m.fn, 2);
  EXPECT_EQ(m.tn, 5);
  EXPECT_DOUBLE_EQ(m.precision, 0.4);
  EXPECT_DOUBLE_EQ(m.recall, 0.5);
  EXPECT_DOUBLE_EQ(m.f1, 2 * 0.4 * 0.5 / 0.9);
  EXPECT_EQ(m.events, 2);
  EXPECT_EQ(m.events_detected, 1);
  EXPECT_DOUBLE_EQ(m.event_recall, 0.5);
  EXPECT_EQ(m.alarms, 3);
  EXPECT_EQ(m.false_alarms, 2);
  EXPECT_DOUBLE_EQ(m.hours, 1.0);
  EXPECT_DOUBLE_EQ(m.false_alarms_per_hour, 2.0);
  EXPECT_DOUBLE_EQ(m.to_map().at("false_alarms_per_hour"), 2.0);
}

TEST(EventMetrics, GroupsAndStepsSplitRuns) {
  // Two motes; the label-1 run spans the group boundary, so it counts as two events.
  const std::vector<int64_t> labels = {0, 1, 1, 1, 0};
  const std::vector<double> scores = {0, 0, 1, 0, 0};
  EventMetrics m = event_metrics(scores, labels, 0.5, 5, {1, 1, 1, 2, 2}, {7, 8, 9, 1, 2});
  EXPECT_EQ(m.events, 2);
  EXPECT_EQ(m.events_detected, 1);
  // A step break inside one group splits too.
  EventMetrics s = event_metrics(scores, labels, 0.5, 5, {}, {1, 2, 3, 10, 11});
  EXPECT_EQ(s.events, 2);
}

TEST(EventMetrics, Errors) {
  EXPECT_THROW(event_metrics({0}, {0, 1}, 0.5, 5), Error);
  EXPECT_THROW(event_metrics({0}, {2}, 0.5, 5), Error);
  EXPECT_THROW(event_metrics({0}, {0}, 0.5, 0), Error);
  EXPECT_THROW(event_metrics({0, 1}, {0, 1}, 0.5, 5, {1}), Error);
  EventMetrics none = event_metrics({}, {}, 0.5, 5);
  EXPECT_EQ(none.events, 0);
  EXPECT_EQ(none.false_alarms_per_hour, 0);
}

}  // namespace
}  // namespace edgeopt::train

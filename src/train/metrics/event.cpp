#include "train/metrics/event.h"

#include "core/error.h"

namespace edgeopt::train {

std::map<std::string, double> EventMetrics::to_map() const {
  return {{"threshold", threshold},
          {"tp", static_cast<double>(tp)},
          {"fp", static_cast<double>(fp)},
          {"fn", static_cast<double>(fn)},
          {"tn", static_cast<double>(tn)},
          {"precision", precision},
          {"recall", recall},
          {"f1", f1},
          {"events", static_cast<double>(events)},
          {"events_detected", static_cast<double>(events_detected)},
          {"event_recall", event_recall},
          {"alarms", static_cast<double>(alarms)},
          {"false_alarms", static_cast<double>(false_alarms)},
          {"hours", hours},
          {"false_alarms_per_hour", false_alarms_per_hour}};
}

EventMetrics event_metrics(const std::vector<double>& scores, const std::vector<int64_t>& labels, double threshold,
                           double sample_period_s, const std::vector<int32_t>& group, const std::vector<int64_t>& step) {
  const size_t n = labels.size();
  EDGEOPT_CHECK_ARG(scores.size() == n, "event_metrics: " + std::to_string(scores.size()) + " scores but " +
                                            std::to_string(n) + " labels");
  EDGEOPT_CHECK_ARG(group.empty() || group.size() == n, "event_metrics: group has " + std::to_string(group.size()) +
                                                            " entries for " + std::to_string(n) + " rows");
  EDGEOPT_CHECK_ARG(step.empty() || step.size() == n, "event_metrics: step has " + std::to_string(step.size()) +
                                                          " entries for " + std::to_string(n) + " rows");
  EDGEOPT_CHECK_ARG(sample_period_s > 0, "event_metrics: sample_period_s must be > 0, got " + std::to_string(sample_period_s));
  EventMetrics m;
  m.threshold = threshold;
  bool in_event = false, event_hit = false, in_alarm = false, alarm_true = false;
  auto close_event = [&] {
    if (in_event) {
      ++m.events;
      if (event_hit) ++m.events_detected;
    }
    in_event = event_hit = false;
  };
  auto close_alarm = [&] {
    if (in_alarm) {
      ++m.alarms;
      if (!alarm_true) ++m.false_alarms;
    }
    in_alarm = alarm_true = false;
  };
  for (size_t i = 0; i < n; ++i) {
    EDGEOPT_CHECK_ARG(labels[i] == 0 || labels[i] == 1,
                      "event_metrics: label " + std::to_string(labels[i]) + " at index " + std::to_string(i) + " is not 0 or 1");
    const bool new_stretch = i > 0 && ((!group.empty() && group[i] != group[i - 1]) || (!step.empty() && step[i] != step[i - 1] + 1));
    if (new_stretch) {
      close_event();
      close_alarm();
    }
    const bool flag = scores[i] >= threshold, truth = labels[i] == 1;
    if (flag && truth) ++m.tp;
    if (flag && !truth) ++m.fp;
    if (!flag && truth) ++m.fn;
    if (!flag && !truth) ++m.tn;
    if (truth) {
      in_event = true;
      event_hit = event_hit || flag;
    } else {
      close_event();
    }
    if (flag) {
      in_alarm = true;
      alarm_true = alarm_true || truth;
    } else {
      close_alarm();
    }
  }
  close_event();
  close_alarm();
  m.precision = m.tp + m.fp > 0 ? static_cast<double>(m.tp) / static_cast<double>(m.tp + m.fp) : 0;
  m.recall = m.tp + m.fn > 0 ? static_cast<double>(m.tp) / static_cast<double>(m.tp + m.fn) : 0;
  m.f1 = m.precision + m.recall > 0 ? 2 * m.precision * m.recall / (m.precision + m.recall) : 0;
  m.event_recall = m.events > 0 ? static_cast<double>(m.events_detected) / static_cast<double>(m.events) : 0;
  m.hours = static_cast<double>(n) * sample_period_s / 3600.0;
  m.false_alarms_per_hour = m.hours > 0 ? static_cast<double>(m.false_alarms) / m.hours : 0;
  return m;
}

}  // namespace edgeopt::train

// Event-detection metrics for a stream of scores (e.g. P(event) or a forecast error) against 0/1
// labels: per-row precision/recall/F1 at a threshold, per-event recall, and false alarms per hour.
//
//   EventMetrics m = event_metrics(scores, labels, /*threshold=*/0.5, /*sample_period_s=*/5,
//                                  d.test.group, d.test.step);
//
// A row is flagged when score >= threshold. Rows are a time series in order; with `group`/`step`
// given, a new stretch starts where the group changes or step is not the previous step + 1.
// An event is a maximal run of label-1 rows within a stretch; it is detected when any of its rows
// is flagged. An alarm is a maximal run of flagged rows; a false alarm is an alarm that touches
// no label-1 row. Monitored hours = rows x sample_period_s / 3600.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace edgeopt::train {

struct EventMetrics {
  double threshold = 0;
  int64_t tp = 0, fp = 0, fn = 0, tn = 0;      // per row
  double precision = 0, recall = 0, f1 = 0;    // per row (0 when undefined)
  int64_t events = 0, events_detected = 0;
  double event_recall = 0;
  int64_t alarms = 0, false_alarms = 0;
  double hours = 0, false_alarms_per_hour = 0;
  std::map<std::string, double> to_map() const;
};

// Throws InvalidArgument when the lengths differ, a label is not 0/1, or sample_period_s <= 0.
EventMetrics event_metrics(const std::vector<double>& scores, const std::vector<int64_t>& labels, double threshold,
                           double sample_period_s, const std::vector<int32_t>& group = {},
                           const std::vector<int64_t>& step = {});

}  // namespace edgeopt::train

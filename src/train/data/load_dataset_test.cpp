#include "train/data/load_dataset.h"

#include <gtest/gtest.h>

#include <functional>

#include "core/error.h"
#include "train/data/test_files.h"
#include "train/metrics/event.h"

namespace edgeopt::train {
namespace {

std::string error_of(const std::function<void()>& f, ErrorCode* code = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "(no error)";
}

TEST(LoadDataset, SpecErrors) {
  ErrorCode code{};
  std::string e = error_of([] { load_dataset("imagenet"); }, &code);
  EXPECT_EQ(code, ErrorCode::kNotFound);
  EXPECT_NE(e.find("unknown dataset 'imagenet'"), std::string::npos) << e;
  EXPECT_NE(e.find("fashion-mnist, seattle-weather, wsn-temperature, wsn-events"), std::string::npos) << e;
  e = error_of([] { load_dataset("/no/such/file.csv"); }, &code);
  EXPECT_EQ(code, ErrorCode::kNotFound);
  EXPECT_NE(e.find("'/no/such/file.csv' not found"), std::string::npos) << e;
  e = error_of([] { load_dataset("x.npy"); });
  EXPECT_NE(e.find("x.npy,y.npy"), std::string::npos) << e;
  testing::TempDir dir("spec");
  const std::string p = dir.write("a.csv", "t,v\n1,2\n");
  e = error_of([&] { load_dataset(p); });
  EXPECT_NE(e.find("set `label`"), std::string::npos) << e;
}

TEST(LoadDataset, CsvSpecPicksSeriesOrTable) {
  testing::TempDir dir("spec_csv");
  std::string csv = "date,v,k\n";
  for (int i = 1; i <= 28; ++i) csv += "2022-02-" + std::string(i < 10 ? "0" : "") + std::to_string(i) + "," + std::to_string(i) + "," + (i % 2 ? "odd" : "even") + "\n";
  const std::string p = dir.write("s.csv", csv);
  DatasetOptions o;
  o.target = "v";
  o.date_column = "date";
  o.window = 3;
  DataSplits s = load_dataset(p, o);
  EXPECT_EQ(s.task, "regression");
  EXPECT_EQ(s.train.x.shape()[1], 3);
  DatasetOptions t;
  t.label = "k";
  t.features = {"v"};
  DataSplits c = load_dataset(p, t);
  EXPECT_EQ(c.class_names, (std::vector<std::string>{"even", "odd"}));
}

TEST(LoadDataset, RealWsnEvents) {
  if (find_wsn_dir().empty()) FAIL() << "WSN data absent: it is bundled in data/suthaharan-wsn/ (or set EDGEOPT_DATA_DIR)";
  DataSplits d = load_dataset("wsn-events", {});
  // One sample per reading with 11 earlier readings of the same mote: 18,914 - 4*11 and 18,760 - 4*11.
  EXPECT_EQ(d.train.size() + d.val.size(), 18914 - 44);
  EXPECT_EQ(d.test.size(), 18760 - 44);
  EXPECT_EQ(d.train.x.shape()[1], 10);
  EXPECT_EQ(d.num_classes, 2);
  int64_t train_events = 0, test_events = 0;
  for (int64_t v : d.train.y.to_i64_vector()) train_events += v;
  for (int64_t v : d.val.y.to_i64_vector()) train_events += v;
  for (int64_t v : d.test.y.to_i64_vector()) test_events += v;
  EXPECT_EQ(train_events, 149);  // the README's event rows; none falls in a window's first 11 readings
  EXPECT_EQ(test_events, 158);
  // With the labels as scores every event is found and there is no false alarm.
  std::vector<double> scores;
  std::vector<int64_t> labels = d.test.y.to_i64_vector();
  for (int64_t v : labels) scores.push_back(static_cast<double>(v));
  EventMetrics m = event_metrics(scores, labels, 0.5, d.sample_period_s, d.test.group, d.test.step);
  EXPECT_EQ(m.events, 2);
  EXPECT_EQ(m.events_detected, 2);
  EXPECT_EQ(m.false_alarms, 0);
  std::cout << d.describe() << "wsn-events: " << m.hours << " h of test readings\n";
}

}  // namespace
}  // namespace edgeopt::train

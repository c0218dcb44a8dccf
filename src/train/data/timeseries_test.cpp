#include "train/data/timeseries.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <sstream>

#include "core/error.h"
#include "train/data/load_dataset.h"
#include "train/data/test_files.h"
#include "train/metrics/regression.h"

namespace edgeopt::train {
namespace {

using testing::TempDir;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// Two groups of 10 daily rows: A has val = 1..10, B has val = 101..110; other = 10 * val.
std::string two_groups_csv() {
  std::ostringstream o;
  o << "date,g,val,other\n";
  for (const char* g : {"A", "B"})
    for (int i = 1; i <= 10; ++i) {
      const int v = (g[0] == 'A' ? 0 : 100) + i;
      o << "2020-01-" << (i < 10 ? "0" : "") << i << "," << g << "," << v << "," << 10 * v << "\n";
    }
  return o.str();
}

SeriesOptions small_opts() {
  SeriesOptions o;
  o.target = "val";
  o.features = {"val", "other"};
  o.date_column = "date";
  o.group_column = "g";
  o.window = 3;
  o.horizon = 2;
  o.test_fraction = 0.2;  // last 2 rows of each group
  o.val_fraction = 0.25;  // 2 of the remaining 8
  return o;
}

TEST(Series, WindowsTargetsAndPerGroupChronologicalSplit) {
  TempDir dir("series");
  SeriesOptions o = small_opts();
  o.standardize = false;
  DataSplits d = load_csv_series(dir.write("s.csv", two_groups_csv()), o);
  EXPECT_EQ(d.task, "regression");
  EXPECT_EQ(d.layout, "NTF");
  // Per group: windows end at rows 2..7, targets at rows 4..9; rows 0-5 train, 6-7 val, 8-9 test.
  EXPECT_EQ(d.train.x.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(d.val.x.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(d.test.x.shape(), (Shape{4, 3, 2}));
  EXPECT_EQ(d.train.y.shape(), (Shape{4, 1}));
  // First train window of A: val 1,2,3 (other 10,20,30) -> val at row 4 = 5.
  EXPECT_EQ(d.train.x.to_f32_vector()[0], 1);
  EXPECT_EQ(d.train.x.to_f32_vector()[1], 10);
  EXPECT_EQ(d.train.x.to_f32_vector()[4], 3);
  EXPECT_EQ(d.train.y.to_f32_vector(), (std::vector<float>{5, 6, 105, 106}));
  EXPECT_EQ(d.val.y.to_f32_vector(), (std::vector<float>{7, 8, 107, 108}));
  EXPECT_EQ(d.test.y.to_f32_vector(), (std::vector<float>{9, 10, 109, 110}));
  // The last test window of B reads rows 5..7 = 106,107,108: never values of group A.
  const auto tx = d.test.x.to_f32_vector();
  EXPECT_EQ(tx[tx.size() - 2], 108);
  EXPECT_EQ(d.test.group, (std::vector<int32_t>{0, 0, 1, 1}));
  EXPECT_EQ(d.target_feature_index, 0);
  EXPECT_EQ(d.sample_period_s, 86400);
}

TEST(Series, StandardizesWithTrainRowsOnlyAndInvertsTargets) {
  TempDir dir("series_std");
  DataSplits d = load_csv_series(dir.write("s.csv", two_groups_csv()), small_opts());
  // Train rows: A 1..6 and B 101..106.
  EXPECT_NEAR(d.feature_mean[0], 53.5, 1e-4);
  EXPECT_NEAR(d.target_mean[0], 53.5, 1e-4);
  EXPECT_NEAR(d.feature_mean[1], 535, 1e-3);
  EXPECT_EQ(d.target_std[0], d.feature_std[0]);
  const std::vector<float> y = d.inverse_target(d.test.y).to_f32_vector();
  EXPECT_NEAR(y[0], 9, 1e-4);
  EXPECT_NEAR(y[3], 110, 1e-4);
  // Persistence = last value of the window: test targets 9,10,109,110 from windows ending 7,8,107,108.
  RegressionMetrics p = regression_metrics_std(persistence_forecast(d.test.x, d), d.test.y, d);
  EXPECT_NEAR(p.rmse, 2, 1e-3);
  EXPECT_NEAR(p.mae, 2, 1e-3);
}

TEST(Series, GapsAndMissingValuesEndSegments) {
  TempDir dir("series_gap");
  std::ostringstream o;
  o << "date,val\n";
  for (int i = 1; i <= 20; ++i) {
    if (i == 8) continue;  // a missing day
    o << "2021-03-" << (i < 10 ? "0" : "") << i << "," << (i == 15 ? "" : std::to_string(i)) << "\n";
  }
  SeriesOptions s;
  s.target = "val";
  s.date_column = "date";
  s.window = 2;
  s.horizon = 1;
  s.test_fraction = 0.25;
  s.val_fraction = 0;
  s.allow_missing = true;
  s.standardize = false;
  DataSplits d = load_csv_series(dir.write("gap.csv", o.str()), s);
  // Segments: days 1-7, 9-14, 16-20 (day 15 is empty). Windows need 3 consecutive rows: 5 + 4 + 3.
  EXPECT_EQ(d.train.size() + d.val.size() + d.test.size(), 12);
  for (const Dataset* ds : {&d.train, &d.test})
    for (int64_t i = 0; i < ds->size(); ++i) {
      const float* x = ds->x.data<float>() + i * 2;
      EXPECT_EQ(x[1], x[0] + 1);
      EXPECT_EQ(ds->y.data<float>()[i], x[1] + 1);
    }
  s.allow_missing = false;
  const std::string e = error_of([&] { load_csv_series(dir.file("gap.csv"), s); });
  EXPECT_NE(e.find("gap.csv:15:2: column 'val': cannot parse ''"), std::string::npos) << e;
}

TEST(Series, SequenceColumnBreaksAndExcludedRows) {
  std::string csv = "reading,flag,t\n";
  for (int i = 1; i <= 12; ++i) csv += std::to_string(i == 7 ? 70 : i) + "," + (i == 4 ? "1" : "0") + "," + std::to_string(i) + "\n";
  SeriesOptions s;
  s.target = "t";
  s.features = {"t"};
  s.sequence_column = "reading";
  s.exclude_flag_column = "flag";
  s.window = 1;
  s.horizon = 1;
  s.test_fraction = 0.25;
  s.val_fraction = 0;
  s.standardize = false;
  DataSplits d = load_series_table(parse_csv(csv, "seq.csv"), s);
  // Segments: rows 1-3, 5-6, 7(70), 8-12 -> pairs: 2 + 1 + 0 + 4 = 7 windows; row 8 has reading 8
  // after 70, so it starts another segment: 1-3, 5-6, [70], 8-12.
  EXPECT_EQ(d.train.size() + d.val.size() + d.test.size(), 7);
}

TEST(Series, SplitByDateAndCalendarFeatures) {
  std::ostringstream o;
  o << "date,v\n";
  for (int m = 1; m <= 12; ++m)
    for (int day = 1; day <= 28; ++day) o << "2019/" << (m < 10 ? "0" : "") << m << "/" << (day < 10 ? "0" : "") << day << "," << m * 100 + day << "\n";
  for (int day = 1; day <= 28; ++day) o << "2020/01/" << (day < 10 ? "0" : "") << day << "," << 1300 + day << "\n";
  SeriesOptions s;
  s.target = "v";
  s.date_column = "date";
  s.day_of_year = true;
  s.hour_of_day = true;
  s.window = 2;
  s.horizon = 1;
  s.test_start = "2020-01-01";
  s.val_fraction = 0.1;
  s.max_gap_s = 5 * 86400;  // month ends (29th-31st missing) are not gaps here
  s.standardize = false;
  DataSplits d = load_series_table(parse_csv(o.str(), "cal.csv"), s);
  EXPECT_EQ(d.feature_names, (std::vector<std::string>{"v", "doy_sin", "doy_cos", "hour_sin", "hour_cos"}));
  EXPECT_EQ(d.test.size(), 28);
  EXPECT_EQ(d.test.y.data<float>()[0], 1301);
  // 2020-01-01 target, window = 2019-12-27, 2019-12-28. First train window: 2019-01-01, 01-02.
  const float* x = d.train.x.data<float>();
  EXPECT_NEAR(x[1], 0, 1e-6);  // sin(2 pi * 0 / 365)
  EXPECT_NEAR(x[2], 1, 1e-6);
  EXPECT_NEAR(x[3], 0, 1e-6);  // hour 0
  EXPECT_NEAR(x[4], 1, 1e-6);
  EXPECT_NEAR(x[6], std::sin(2 * M_PI / 365), 1e-6);
  EXPECT_EQ(d.val.size(), static_cast<int64_t>(std::llround(336 * 0.1)));
}

TEST(Series, Errors) {
  TempDir dir("series_err");
  const std::string p = dir.write("s.csv", two_groups_csv());
  SeriesOptions o = small_opts();
  o.features = {"val", "nope"};
  std::string e = error_of([&] { load_csv_series(p, o); });
  EXPECT_NE(e.find("has no column 'nope' (columns: date, g, val, other)"), std::string::npos) << e;
  o = small_opts();
  o.target = "missing_target";
  EXPECT_NE(error_of([&] { load_csv_series(p, o); }).find("no column 'missing_target'"), std::string::npos);
  EXPECT_NE(error_of([&] { load_csv_series(dir.file("absent.csv"), small_opts()); }).find("absent.csv"), std::string::npos);
  // Bad date and out-of-order rows name file:line:column.
  const std::string bad = dir.write("bad.csv", "date,val\n2020-01-01,1\n2020-13-01,2\n");
  SeriesOptions b;
  b.target = "val";
  b.date_column = "date";
  e = error_of([&] { load_csv_series(bad, b); });
  EXPECT_NE(e.find("bad.csv:3:1: column 'date': cannot parse '2020-13-01' as a date"), std::string::npos) << e;
  const std::string order = dir.write("order.csv", "date,val\n2020-01-02,1\n2020-01-01,2\n");
  e = error_of([&] { load_csv_series(order, b); });
  EXPECT_NE(e.find("order.csv:3:1"), std::string::npos) << e;
  // Too short for a window.
  o = small_opts();
  o.window = 9;
  EXPECT_THROW(load_csv_series(p, o), Error);
  o = small_opts();
  o.horizon = 0;
  EXPECT_THROW(load_csv_series(p, o), Error);
}

TEST(DateTime, Parses) {
  DateTime t;
  ASSERT_TRUE(parse_datetime("1970-01-02", t));
  EXPECT_EQ(t.epoch_s, 86400);
  ASSERT_TRUE(parse_datetime("2016/12/31 12:30", t));
  EXPECT_EQ(t.day_of_year, 366);
  EXPECT_DOUBLE_EQ(t.hour, 12.5);
  ASSERT_TRUE(parse_datetime("20150301T01:02:03", t));
  EXPECT_EQ(t.day_of_year, 60);
  EXPECT_FALSE(parse_datetime("2015-02-29", t));
  EXPECT_FALSE(parse_datetime("2015-1-3", t));
  EXPECT_FALSE(parse_datetime("2015-01-03 25:00", t));
  EXPECT_FALSE(parse_datetime("", t));
}

TEST(Series, RealSeattleWeather) {
  if (find_seattle_weather_csv().empty()) FAIL() << "seattle-weather.csv absent (scripts/install-deps.sh installs python3-vega-datasets)";
  DataSplits d = load_dataset("seattle-weather", {});
  // 1,461 days; test = targets in 2015 (365), val = last 20% of 2012-2014 (219 rows), and the
  // first train target is day 14 + 3 - 1 = row 16.
  EXPECT_EQ(d.test.size(), 365);
  EXPECT_EQ(d.val.size(), 219);
  EXPECT_EQ(d.train.size(), 1096 - 219 - 16);
  EXPECT_EQ(d.train.x.shape(), (Shape{861, 14, 6}));
  ForecastBaselines b = forecast_baselines(d);
  std::cout << d.describe() << "seattle-weather temp_max h=3 w=14: persistence RMSE " << b.persistence.rmse
            << " MAE " << b.persistence.mae << ", ridge RMSE " << b.ridge.rmse << " MAE " << b.ridge.mae << " (lambda "
            << b.ridge_lambda << "), ratio " << b.ridge.rmse / b.persistence.rmse << "\n";
  EXPECT_GT(b.persistence.rmse, 2.0);
  EXPECT_LT(b.persistence.rmse, 6.0);
  EXPECT_LT(b.ridge.rmse, b.persistence.rmse);
}

TEST(Series, RealWsnTemperature) {
  if (find_wsn_dir().empty()) FAIL() << "WSN data absent: it is bundled in data/suthaharan-wsn/ (or set EDGEOPT_DATA_DIR)";
  DataSplits d = load_dataset("wsn-temperature", {});
  EXPECT_EQ(d.train.x.shape()[1], 24);
  EXPECT_EQ(d.train.x.shape()[2], 2);
  EXPECT_EQ(d.horizon, 12);
  EXPECT_EQ(d.test.group.size(), static_cast<size_t>(d.test.size()));
  // 37,674 rows, 8 series; the test part is the last 20% of each series.
  EXPECT_GT(d.test.size(), 7000);
  EXPECT_GT(d.train.size(), 24000);
  ForecastBaselines b = forecast_baselines(d);
  std::cout << d.describe() << "wsn-temperature h=12 w=24: persistence RMSE " << b.persistence.rmse << " MAE "
            << b.persistence.mae << ", ridge RMSE " << b.ridge.rmse << " MAE " << b.ridge.mae << " (lambda "
            << b.ridge_lambda << "), ratio " << b.ridge.rmse / b.persistence.rmse << "\n";
  EXPECT_GT(b.persistence.rmse, 0.0);
}

}  // namespace
}  // namespace edgeopt::train

// CSV time series -> sliding windows for forecasting (LSTM/GRU, batch-first).
//
//   SeriesOptions o;
//   o.target = "temp_max"; o.features = {"precipitation", "temp_max", "temp_min", "wind"};
//   o.date_column = "date"; o.day_of_year = true; o.window = 14; o.horizon = 3;
//   o.test_start = "2015-01-01"; o.val_fraction = 0.15;
//   DataSplits d = load_csv_series("seattle-weather.csv", o);
//   // d.train.x f32 [N,14,6], d.train.y f32 [N,1] = standardized temp_max 3 days after the window
//
// Windowing. Rows are split into segments: a new segment starts at a change of `group_column`, at
// a missing value (when missing values are allowed), at a break in `sequence_column` (not previous
// + 1) and at a time step longer than `max_gap_s`. A window is the `window` rows t-window+1 .. t of
// one segment, and its target is the target column at row t+horizon of the same segment, so no
// window crosses a group or a gap. Rows must be in time order within a group.
//
// Split, chronological and per group: each window belongs to the split of its target row. The
// test rows are those with date >= test_start (or the last test_fraction of each group's rows);
// of the rows before, the last val_fraction are val and the rest train. A val/test window's inputs
// may reach back into earlier rows (never later ones), as in deployment.
//
// Standardization: feature and target mean/std come from the train rows only (all groups) and are
// applied to every split. The target shares the statistics of its feature column when it is one.
#pragma once
#include <string>
#include <vector>

#include "train/data/csv.h"
#include "train/data/dataset.h"

namespace edgeopt::train {

struct SeriesOptions {
  std::string target;                 // required: the column to forecast
  std::vector<std::string> features;  // empty: every numeric column except date/group/sequence
  std::string date_column;            // optional; needed for test_start and calendar features
  std::string group_column;           // optional; e.g. "mote_id"
  std::string sequence_column;        // optional; e.g. "reading" (consecutive integers per group)
  bool day_of_year = false;           // add doy_sin, doy_cos from date_column
  bool hour_of_day = false;           // add hour_sin, hour_cos from date_column
  int window = 14;
  int horizon = 1;
  std::string test_start;             // "YYYY-MM-DD[ HH:MM[:SS]]"; empty: use test_fraction
  std::string test_end;               // optional, exclusive: rows from here on are dropped
  double test_fraction = 0.2;         // per group, when test_start is empty
  double val_fraction = 0.1;          // of each group's pre-test rows (the last ones)
  double max_gap_s = 0;               // 0: 1.5 x the median step of the date column
  bool allow_missing = false;         // empty fields end a segment instead of throwing
  std::string exclude_flag_column;    // optional; rows where it is non-zero are left out (a gap)
  bool standardize = true;
  double sample_period_s = 0;         // recorded in DataSplits (0: the median date step if any)
  int64_t max_rows = 0;               // 0: all; otherwise the first max_rows rows (for tests)
};

// Throws NotFound for a missing file or column (listing the available ones), InvalidArgument with
// file:line:column, the column name and the text for a bad number or date, rows out of time order,
// or a split left empty.
DataSplits load_csv_series(const std::string& path, const SeriesOptions& opts);
DataSplits load_series_table(const CsvTable& table, const SeriesOptions& opts);

// A parsed date/time: seconds since 1970-01-01 00:00 (no time zone), plus its day of year (1-based)
// and hour of day. Accepts YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD, each optionally followed by
// ' ' or 'T' and HH:MM or HH:MM:SS.
struct DateTime {
  double epoch_s = 0;
  int day_of_year = 1;
  int days_in_year = 365;
  double hour = 0;  // fractional hour of day
};
bool parse_datetime(const std::string& text, DateTime& out);

}  // namespace edgeopt::train

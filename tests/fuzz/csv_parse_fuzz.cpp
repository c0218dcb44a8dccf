// libFuzzer target: arbitrary bytes as a CSV file -> parse_csv -> every column as numbers and
// dates -> the time-series windowing (load_series_table) and the tabular loader on the table.
//
// The contract: whatever the text, each step yields a value or throws edgeopt::Error; any other
// exception escapes and aborts, any memory error or UB trips ASan/UBSan. Loader options are taken
// from the input's size and header so the fuzzer reaches windows, dates, groups and gaps.
#include <cstddef>
#include <cstdint>
#include <string>

#include "core/error.h"
#include "train/data/csv.h"
#include "train/data/tabular.h"
#include "train/data/timeseries.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeopt;
  using namespace edgeopt::train;
  std::string text(reinterpret_cast<const char*>(data), size);
  CsvTable t;
  try {
    t = parse_csv(text, "<fuzz>");
  } catch (const Error&) {
    return 0;
  }
  for (size_t c = 0; c < t.header.size(); ++c) {
    (void)t.is_numeric_column(c);
    try {
      (void)t.numeric_column(c, /*allow_empty=*/(c & 1) != 0);
    } catch (const Error&) {
    }
    for (size_t r = 0; r < t.num_rows() && r < 64; ++r) {
      (void)parse_number(t.rows[r][c]);
      DateTime dt;
      (void)parse_datetime(t.rows[r][c], dt);
      (void)t.where(r, c);
    }
  }
  if (t.header.empty() || t.num_rows() == 0) return 0;

  SeriesOptions s;
  s.target = t.header.back();
  s.window = 1 + static_cast<int>(size % 4);
  s.horizon = 1 + static_cast<int>((size / 4) % 3);
  s.allow_missing = (size & 1) != 0;
  DateTime dt;
  if (t.header.size() >= 2 && parse_datetime(t.rows[0][0], dt)) {
    s.date_column = t.header[0];
    s.day_of_year = true;
    s.hour_of_day = (size & 2) != 0;
    // A chronological split at a row's date (and sometimes an end bound), as `--data` specs use.
    if (size & 8) s.test_start = t.rows[t.num_rows() / 2][0];
    if (size & 16) s.test_end = t.rows[t.num_rows() - 1][0];
    if (size & 32) s.max_gap_s = 1.5;
  }
  if (t.header.size() >= 3 && !t.header[t.header.size() - 2].empty() && t.header[t.header.size() - 2][0] == 'x')
    s.exclude_flag_column = t.header[t.header.size() - 2];
  if (t.header.size() >= 3 && !t.header[1].empty() && t.header[1][0] == 'g') s.group_column = t.header[1];
  if (t.header.size() >= 4 && !t.header[2].empty() && t.header[2][0] == 's') s.sequence_column = t.header[2];
  try {
    (void)load_series_table(t, s);
  } catch (const Error&) {
  }
  TabularOptions o;
  o.label = t.header[0];
  o.task = (size & 4) ? "regression" : "classification";
  try {
    (void)load_tabular_table(t, o);
  } catch (const Error&) {
  }
  return 0;
}

#include "train/data/timeseries.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numbers>

#include "core/error.h"

namespace edgeopt::train {

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, int64_t m, int64_t d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

bool leap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool digits(const std::string& s, size_t pos, size_t n, int64_t& out) {
  if (pos + n > s.size()) return false;
  out = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    out = out * 10 + (s[i] - '0');
  }
  return true;
}

std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) return "";
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

struct Segment {
  size_t begin, end;  // positions in the group's row list, end exclusive
};

}  // namespace

bool parse_datetime(const std::string& text, DateTime& out) {
  const std::string s = trim(text);
  int64_t y, m, d;
  size_t pos;
  if (s.size() >= 10 && (s[4] == '-' || s[4] == '/') && s[7] == s[4]) {
    if (!digits(s, 0, 4, y) || !digits(s, 5, 2, m) || !digits(s, 8, 2, d)) return false;
    pos = 10;
  } else if (s.size() >= 8 && digits(s, 0, 4, y) && digits(s, 4, 2, m) && digits(s, 6, 2, d)) {
    pos = 8;
  } else {
    return false;
  }
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (m < 1 || m > 12 || d < 1 || d > kDays[m - 1] + (m == 2 && leap(y) ? 1 : 0)) return false;
  int64_t hh = 0, mm = 0, ss = 0;
  if (pos < s.size()) {
    if (s[pos] != ' ' && s[pos] != 'T') return false;
    if (!digits(s, pos + 1, 2, hh) || pos + 3 >= s.size() || s[pos + 3] != ':' || !digits(s, pos + 4, 2, mm))
      return false;
    size_t end = pos + 6;
    if (end < s.size()) {
      if (s[end] != ':' || !digits(s, end + 1, 2, ss)) return false;
      end += 3;
    }
    if (end != s.size() || hh > 23 || mm > 59 || ss > 60) return false;
  }
  const int64_t days = days_from_civil(y, m, d);
  out.epoch_s = static_cast<double>(days) * 86400.0 + static_cast<double>(hh * 3600 + mm * 60 + ss);
  out.day_of_year = static_cast<int>(days - days_from_civil(y, 1, 1) + 1);
  out.days_in_year = leap(y) ? 366 : 365;
  out.hour = static_cast<double>(hh) + static_cast<double>(mm) / 60.0 + static_cast<double>(ss) / 3600.0;
  return true;
}

DataSplits load_csv_series(const std::string& path, const SeriesOptions& opts) {
  return load_series_table(read_csv(path), opts);
}

DataSplits load_series_table(const CsvTable& tin, const SeriesOptions& opts) {
  const std::string& path = tin.path;
  EDGEOPT_CHECK_ARG(!opts.target.empty(), "time series '" + path + "': no target column given");
  EDGEOPT_CHECK_ARG(opts.window >= 1, "time series: window must be >= 1, got " + std::to_string(opts.window));
  EDGEOPT_CHECK_ARG(opts.horizon >= 1, "time series: horizon must be >= 1, got " + std::to_string(opts.horizon));
  EDGEOPT_CHECK_ARG(opts.val_fraction >= 0 && opts.val_fraction < 1,
                    "time series: val_fraction must be in [0, 1), got " + std::to_string(opts.val_fraction));
  EDGEOPT_CHECK_ARG(!opts.test_start.empty() || (opts.test_fraction > 0 && opts.test_fraction < 1),
                    "time series: test_fraction must be in (0, 1), got " + std::to_string(opts.test_fraction));
  EDGEOPT_CHECK_ARG(opts.date_column.size() || (opts.test_start.empty() && opts.test_end.empty() &&
                                                !opts.day_of_year && !opts.hour_of_day),
                    "time series '" + path + "': test_start, test_end and calendar features need a date column");

  CsvTable truncated;
  const CsvTable* tp = &tin;
  if (opts.max_rows > 0 && static_cast<size_t>(opts.max_rows) < tin.num_rows()) {
    truncated = tin;
    truncated.rows.resize(static_cast<size_t>(opts.max_rows));
    truncated.line.resize(static_cast<size_t>(opts.max_rows));
    tp = &truncated;
  }
  const CsvTable& t = *tp;
  const size_t nrows = t.num_rows();

  const int64_t date_c = opts.date_column.empty() ? -1 : static_cast<int64_t>(t.column_index(opts.date_column));
  const int64_t group_c = opts.group_column.empty() ? -1 : static_cast<int64_t>(t.column_index(opts.group_column));
  const int64_t seq_c = opts.sequence_column.empty() ? -1 : static_cast<int64_t>(t.column_index(opts.sequence_column));
  const size_t target_c = t.column_index(opts.target);

  std::vector<size_t> feat_c;
  std::vector<std::string> names;
  if (opts.features.empty()) {
    for (size_t c = 0; c < t.header.size(); ++c) {
      if (static_cast<int64_t>(c) == date_c || static_cast<int64_t>(c) == group_c || static_cast<int64_t>(c) == seq_c ||
          t.header[c] == opts.exclude_flag_column)
        continue;
      if (t.is_numeric_column(c)) {
        feat_c.push_back(c);
        names.push_back(t.header[c]);
      }
    }
  } else {
    for (const auto& f : opts.features) {
      feat_c.push_back(t.column_index(f));
      names.push_back(f);
    }
  }
  std::vector<std::vector<double>> cols;
  for (size_t c : feat_c) cols.push_back(t.numeric_column(c, opts.allow_missing));
  int target_fi = -1;
  for (size_t i = 0; i < feat_c.size(); ++i)
    if (feat_c[i] == target_c) target_fi = static_cast<int>(i);
  const std::vector<double> target =
      target_fi >= 0 ? cols[static_cast<size_t>(target_fi)] : t.numeric_column(target_c, opts.allow_missing);

  std::vector<DateTime> dates(nrows);
  if (date_c >= 0)
    for (size_t r = 0; r < nrows; ++r)
      if (!parse_datetime(t.rows[r][static_cast<size_t>(date_c)], dates[r]))
        throw_error(ErrorCode::kInvalidArgument, t.where(r, static_cast<size_t>(date_c)) + ": column '" +
                                                     opts.date_column + "': cannot parse '" +
                                                     t.rows[r][static_cast<size_t>(date_c)] +
                                                     "' as a date (YYYY-MM-DD, YYYY/MM/DD or YYYYMMDD, optional HH:MM[:SS])");
  auto parse_bound = [&](const std::string& s, const char* what) {
    DateTime dt;
    EDGEOPT_CHECK_ARG(parse_datetime(s, dt), std::string("time series: ") + what + " '" + s + "' is not a date");
    return dt.epoch_s;
  };
  const bool by_date = !opts.test_start.empty();
  const double test_start = by_date ? parse_bound(opts.test_start, "test_start") : 0;
  const double test_end = opts.test_end.empty() ? 0 : parse_bound(opts.test_end, "test_end");

  std::vector<double> seq, excluded;
  if (seq_c >= 0) seq = t.numeric_column(static_cast<size_t>(seq_c));
  if (!opts.exclude_flag_column.empty()) excluded = t.numeric_column(t.column_index(opts.exclude_flag_column));

  // Calendar features are appended after the column features.
  const size_t n_col_feat = feat_c.size();
  if (opts.day_of_year) names.insert(names.end(), {"doy_sin", "doy_cos"});
  if (opts.hour_of_day) names.insert(names.end(), {"hour_sin", "hour_cos"});
  const size_t nf = names.size();
  EDGEOPT_CHECK_ARG(nf > 0, "time series '" + path + "': no numeric feature columns");
  auto feature = [&](size_t r, size_t f) -> double {
    if (f < n_col_feat) return cols[f][r];
    size_t k = f - n_col_feat;
    if (!opts.day_of_year) k += 2;
    const double two_pi = 2 * std::numbers::pi;
    switch (k) {
      case 0: return std::sin(two_pi * (dates[r].day_of_year - 1) / dates[r].days_in_year);
      case 1: return std::cos(two_pi * (dates[r].day_of_year - 1) / dates[r].days_in_year);
      case 2: return std::sin(two_pi * dates[r].hour / 24.0);
      default: return std::cos(two_pi * dates[r].hour / 24.0);
    }
  };

  // Groups in order of first appearance; rows keep file order inside a group.
  std::map<std::string, int> group_id;
  std::vector<std::string> group_names;
  std::vector<std::vector<size_t>> groups;
  for (size_t r = 0; r < nrows; ++r) {
    if (test_end != 0 && dates[r].epoch_s >= test_end) continue;
    const std::string key = group_c >= 0 ? trim(t.rows[r][static_cast<size_t>(group_c)]) : "";
    auto [it, inserted] = group_id.emplace(key, static_cast<int>(groups.size()));
    if (inserted) {
      groups.emplace_back();
      group_names.push_back(key);
    }
    groups[static_cast<size_t>(it->second)].push_back(r);
  }

  // Time order and the typical step.
  std::vector<double> steps;
  if (date_c >= 0)
    for (const auto& g : groups)
      for (size_t i = 1; i < g.size(); ++i) {
        const double dt = dates[g[i]].epoch_s - dates[g[i - 1]].epoch_s;
        if (dt < 0)
          throw_error(ErrorCode::kInvalidArgument,
                      t.where(g[i], static_cast<size_t>(date_c)) + ": column '" + opts.date_column + "': '" +
                          t.rows[g[i]][static_cast<size_t>(date_c)] + "' is earlier than the previous row of its " +
                          (group_c >= 0 ? "group" : "file") + " (rows must be in time order)");
        steps.push_back(dt);
      }
  double median_step = 0;
  if (!steps.empty()) {
    std::nth_element(steps.begin(), steps.begin() + static_cast<std::ptrdiff_t>(steps.size() / 2), steps.end());
    median_step = steps[steps.size() / 2];
  }
  const double max_gap = opts.max_gap_s > 0 ? opts.max_gap_s : 1.5 * median_step;

  auto row_ok = [&](size_t r) {
    if (std::isnan(target[r])) return false;
    if (!excluded.empty() && excluded[r] != 0) return false;
    for (size_t f = 0; f < n_col_feat; ++f)
      if (std::isnan(cols[f][r])) return false;
    return true;
  };

  // Region per row (0 train, 1 val, 2 test) and segments per group.
  std::vector<std::vector<int>> region(groups.size());
  std::vector<std::vector<Segment>> segments(groups.size());
  for (size_t gi = 0; gi < groups.size(); ++gi) {
    const auto& g = groups[gi];
    const size_t n = g.size();
    size_t pre = 0;
    if (by_date) {
      while (pre < n && dates[g[pre]].epoch_s < test_start) ++pre;
    } else {
      pre = n - static_cast<size_t>(std::llround(static_cast<double>(n) * opts.test_fraction));
    }
    const size_t val_begin = pre - static_cast<size_t>(std::llround(static_cast<double>(pre) * opts.val_fraction));
    region[gi].resize(n);
    for (size_t i = 0; i < n; ++i) region[gi][i] = i >= pre ? 2 : (i >= val_begin ? 1 : 0);

    size_t begin = 0;
    for (size_t i = 0; i <= n; ++i) {
      bool cut = i == n || !row_ok(g[i]);
      bool restart_here = false;
      if (!cut && i > begin) {
        if (seq_c >= 0 && seq[g[i]] != seq[g[i - 1]] + 1) cut = restart_here = true;
        if (date_c >= 0 && max_gap > 0 && dates[g[i]].epoch_s - dates[g[i - 1]].epoch_s > max_gap) cut = restart_here = true;
      }
      if (!cut) continue;
      if (i > begin) segments[gi].push_back({begin, i});
      begin = restart_here ? i : i + 1;
    }
  }

  // Train statistics (train rows that enter some segment).
  std::vector<double> sum(nf, 0), sq(nf, 0);
  double tsum = 0, tsq = 0, cnt = 0;
  for (size_t gi = 0; gi < groups.size(); ++gi)
    for (const Segment& s : segments[gi])
      for (size_t i = s.begin; i < s.end; ++i) {
        if (region[gi][i] != 0) continue;
        const size_t r = groups[gi][i];
        for (size_t f = 0; f < nf; ++f) {
          const double v = feature(r, f);
          sum[f] += v;
          sq[f] += v * v;
        }
        tsum += target[r];
        tsq += target[r] * target[r];
        cnt += 1;
      }
  EDGEOPT_CHECK_ARG(cnt > 0, "time series '" + path + "': the train split has no rows (check test_start / fractions)");
  DataSplits d;
  d.name = path;
  d.task = "regression";
  d.layout = "NTF";
  d.feature_names = names;
  d.target_names = {opts.target + "(t+" + std::to_string(opts.horizon) + ")"};
  d.window = opts.window;
  d.horizon = opts.horizon;
  d.target_feature_index = target_fi;
  d.sample_period_s = opts.sample_period_s > 0 ? opts.sample_period_s : median_step;
  auto stdev = [](double s, double q, double n) {
    const double m = s / n;
    const double var = std::max(0.0, q / n - m * m);
    return var > 1e-12 ? std::sqrt(var) : 1.0;
  };
  for (size_t f = 0; f < nf; ++f) {
    d.feature_mean.push_back(opts.standardize ? static_cast<float>(sum[f] / cnt) : 0.0f);
    d.feature_std.push_back(opts.standardize ? static_cast<float>(stdev(sum[f], sq[f], cnt)) : 1.0f);
  }
  if (target_fi >= 0) {
    d.target_mean = {d.feature_mean[static_cast<size_t>(target_fi)]};
    d.target_std = {d.feature_std[static_cast<size_t>(target_fi)]};
  } else {
    d.target_mean = {opts.standardize ? static_cast<float>(tsum / cnt) : 0.0f};
    d.target_std = {opts.standardize ? static_cast<float>(stdev(tsum, tsq, cnt)) : 1.0f};
  }

  // Windows, per split.
  struct Win {
    int group;
    size_t last, target_pos;  // positions in the group's row list
  };
  std::vector<Win> wins[3];
  const size_t W = static_cast<size_t>(opts.window), H = static_cast<size_t>(opts.horizon);
  for (size_t gi = 0; gi < groups.size(); ++gi)
    for (const Segment& s : segments[gi])
      for (size_t last = s.begin + W - 1; last + H < s.end; ++last)
        wins[region[gi][last + H]].push_back({static_cast<int>(gi), last, last + H});
  const char* split_names[] = {"train", "val", "test"};
  for (int k = 0; k < 3; ++k)
    EDGEOPT_CHECK_ARG(!wins[k].empty() || (k == 1 && opts.val_fraction == 0),
                      "time series '" + path + "': the " + split_names[k] + " split has no windows of " +
                          std::to_string(W) + " rows + horizon " + std::to_string(H) +
                          " (too few rows, or gaps too frequent)");
  Dataset* out[3] = {&d.train, &d.val, &d.test};
  for (int k = 0; k < 3; ++k) {
    const int64_t n = static_cast<int64_t>(wins[k].size());
    Dataset& ds = *out[k];
    ds.x = Tensor(DType::kF32, Shape{n, static_cast<int64_t>(W), static_cast<int64_t>(nf)});
    ds.y = Tensor(DType::kF32, Shape{n, 1});
    float* x = ds.x.data<float>();
    float* y = ds.y.data<float>();
    for (size_t j = 0; j < wins[k].size(); ++j) {
      const Win& w = wins[k][j];
      const auto& g = groups[static_cast<size_t>(w.group)];
      for (size_t s = 0; s < W; ++s) {
        const size_t r = g[w.last + 1 - W + s];
        for (size_t f = 0; f < nf; ++f)
          x[(j * W + s) * nf + f] = static_cast<float>((feature(r, f) - d.feature_mean[f]) / d.feature_std[f]);
      }
      y[j] = static_cast<float>((target[g[w.target_pos]] - d.target_mean[0]) / d.target_std[0]);
      ds.group.push_back(w.group);
      ds.step.push_back(static_cast<int64_t>(w.target_pos));
    }
  }
  size_t nseg = 0;
  for (const auto& s : segments) nseg += s.size();
  d.notes = std::to_string(groups.size()) + " group(s), " + std::to_string(nseg) +
            " contiguous segment(s); windows never cross a group or gap; split by the target row " +
            (by_date ? "(test from " + opts.test_start + ")" : "(last " + std::to_string(opts.test_fraction) + " of each group is test)") +
            ", val = last " + std::to_string(opts.val_fraction) + " of the rest; statistics from train rows only";
  return d;
}

}  // namespace edgeopt::train

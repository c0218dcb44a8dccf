// Small helpers for hand-written SVG charts: escaping, axis scales and tick choice. Internal to
// edgeopt_report.
#pragma once
#include <string>
#include <string_view>
#include <vector>

namespace edgeopt::report::detail {

// Escapes &, <, >, " and ' for text and attribute values.
std::string esc(std::string_view s);

// A coordinate with 2 decimals ("123.45"): enough for a screen, short in the file.
std::string px(double v);

// Maps [d0, d1] to [r0, r1], linearly or in log10 (then d0, d1 > 0).
struct Scale {
  double d0 = 0, d1 = 1, r0 = 0, r1 = 1;
  bool log = false;
  double operator()(double v) const;
};

// "Nice" ticks (1, 2, 5 x 10^k) covering [lo, hi], about `target` of them.
std::vector<double> nice_ticks(double lo, double hi, int target = 5);
// Powers of ten (and 2x, 5x when few decades) within [lo, hi], for log axes.
std::vector<double> log_ticks(double lo, double hi);

// Whether values spanning [lo, hi] (both > 0) read better on a log axis (ratio above 50).
bool wants_log(double lo, double hi);

}  // namespace edgeopt::report::detail

// report.html: one self-contained document. Charts are SVG written here (no chart library, no
// script, no network), and every plotted mark carries its number as the exact JSON text in a
// data-* attribute, so tests and scrapers can read the charts back.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <sstream>

#include "report/report.h"
#include "report/report_data.h"
#include "report/svg.h"

namespace edgeopt::report {
namespace {

using namespace detail;

constexpr const char* kCss = R"css(
:root{--fg:#1f2937;--muted:#6b7280;--grid:#e5e7eb;--base:#6b7280;--best:#d97706;--acc:#2563eb;--rej:#dc2626;
--pareto:#059669;--budget:#7c3aed;--ort:#9ca3af}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);margin:0 auto;max-width:1180px;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--grid);padding-bottom:4px}
.meta{color:var(--muted);margin:0 0 16px}
.cards{display:flex;flex-wrap:wrap;gap:12px}
.card{border:1px solid var(--grid);border-radius:8px;padding:10px 14px;min-width:170px}
.card .k{color:var(--muted);font-size:12px}.card .v{font-size:20px;font-weight:600}.card .d{font-size:12px}
.est{display:inline-block;font-size:10px;font-weight:600;text-transform:uppercase;letter-spacing:.03em;color:#92400e;
background:#fef3c7;border:1px solid #fcd34d;border-radius:3px;padding:0 3px;margin-left:4px;vertical-align:middle}
.meas{color:var(--muted);font-size:11px;margin-left:4px}
table{border-collapse:collapse;width:100%;margin:8px 0;font-size:13px}
th,td{border-bottom:1px solid var(--grid);padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f9fafb;font-weight:600}td.n{text-align:right;white-space:nowrap;font-variant-numeric:tabular-nums}
tr.status-best td{background:#fffbeb}tr.status-baseline td{background:#f3f4f6}tr.status-rejected td{color:#7f1d1d}
.reasons{color:var(--rej);font-size:12px}
svg{font:12px system-ui,sans-serif;max-width:100%;height:auto}
svg .grid{stroke:var(--grid)}svg .axis{stroke:var(--fg)}svg .tick{fill:var(--muted)}svg .title{font-weight:600}
svg .pareto-front{fill:none;stroke:var(--pareto);stroke-width:2}
svg .budget-line{stroke:var(--budget);stroke-width:1.5;stroke-dasharray:6 4}
svg .floor-line{stroke:var(--budget);stroke-width:1;stroke-dasharray:2 3}
svg .pt.status-accepted{fill:var(--acc)}svg .pt.status-rejected{fill:#fff;stroke:var(--rej);stroke-width:1.5}
svg .pt.status-best{fill:var(--best);stroke:#78350f;stroke-width:1.5}svg .pt.status-baseline{fill:var(--base)}
svg .pt.estimate{stroke-dasharray:2 2;stroke:#111;stroke-width:1}
svg .bar.variant-baseline{fill:var(--base)}svg .bar.variant-best{fill:var(--best)}svg .bar.variant-ort{fill:var(--ort)}
svg .bar.estimate{fill-opacity:.55;stroke:#111;stroke-dasharray:3 2}
svg .est-label{fill:#92400e;font-weight:600}
.legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12px;color:var(--muted);margin:4px 0}
.sw{display:inline-block;width:12px;height:12px;border-radius:50%;margin-right:4px;vertical-align:middle}
.grid2{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:12px}
.note{color:var(--muted);font-size:12px}
footer{margin-top:32px;color:var(--muted);font-size:12px}
#run th{width:30%}
)css";

std::string est_badge() { return "<span class=\"est\" title=\"roofline estimate from the hardware profile, not measured\">estimate</span>"; }

std::string num_cell(const std::string& text, const std::string& raw, const std::string& extra = "") {
  std::string s = "<td class=\"n\"";
  if (!raw.empty()) s += " data-value=\"" + esc(raw) + "\"";
  return s + ">" + esc(text) + extra + "</td>";
}

// `step` is the tick spacing: percent labels get just enough decimals to tell ticks apart.
std::string tick_label(double v, bool percent, double step) {
  if (percent) {
    const int decimals = step > 0 ? std::clamp(static_cast<int>(std::ceil(-std::log10(step * 100.0) - 1e-9)), 0, 4) : 1;
    char buf[32];
    std::snprintf(buf, sizeof(buf), "%.*f%%", decimals, v * 100.0);
    return buf;
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// Axis ticks and grid lines for one axis of a chart body [x0,x1] x [y0,y1].
void draw_axis(std::ostringstream& o, const Scale& s, bool horizontal, double x0, double y0, double x1, double y1,
               bool percent) {
  // About one tick per 70 px, so labels of long numbers do not collide on narrow charts.
  const int target = std::max(2, static_cast<int>(std::fabs(s.r1 - s.r0) / 70));
  const std::vector<double> ticks = s.log ? log_ticks(std::min(s.d0, s.d1), std::max(s.d0, s.d1))
                                          : nice_ticks(std::min(s.d0, s.d1), std::max(s.d0, s.d1), target);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : 0;
  for (double t : ticks) {
    const double p = s(t);
    if (horizontal) {
      o << "<line class=\"grid\" x1=\"" << px(p) << "\" y1=\"" << px(y0) << "\" x2=\"" << px(p) << "\" y2=\"" << px(y1)
        << "\"/><text class=\"tick\" x=\"" << px(p) << "\" y=\"" << px(y1 + 16) << "\" text-anchor=\"middle\">"
        << esc(tick_label(t, percent, step)) << "</text>";
    } else {
      o << "<line class=\"grid\" x1=\"" << px(x0) << "\" y1=\"" << px(p) << "\" x2=\"" << px(x1) << "\" y2=\"" << px(p)
        << "\"/><text class=\"tick\" x=\"" << px(x0 - 6) << "\" y=\"" << px(p + 4) << "\" text-anchor=\"end\">"
        << esc(tick_label(t, percent, step)) << "</text>";
    }
  }
  if (horizontal)
    o << "<line class=\"axis\" x1=\"" << px(x0) << "\" y1=\"" << px(y1) << "\" x2=\"" << px(x1) << "\" y2=\"" << px(y1) << "\"/>";
  else
    o << "<line class=\"axis\" x1=\"" << px(x0) << "\" y1=\"" << px(y0) << "\" x2=\"" << px(x0) << "\" y2=\"" << px(y1) << "\"/>";
}

// Every card shown in the scatter: the candidates plus baseline and best when the candidate list
// does not already hold a card with their id.
std::vector<Card> plotted_cards(const ReportData& r) {
  std::vector<Card> cards = r.candidates;
  std::set<std::string> ids;
  for (const auto& c : cards) ids.insert(c.id);
  for (const auto* extra : {&r.baseline, &r.best}) {
    if (!*extra) continue;
    Card c = **extra;
    if (c.status.empty()) c.status = extra == &r.baseline ? "baseline" : "best";
    if (c.id.empty() || !ids.count(c.id)) cards.push_back(c);
  }
  // The best card keeps its status even when the candidate list marks it "accepted".
  if (r.best && !r.best->id.empty())
    for (auto& c : cards)
      if (c.id == r.best->id) c.status = "best";
  return cards;
}

std::string status_class(const std::string& s) {
  if (s == "best" || s == "baseline" || s == "rejected") return s;
  return "accepted";
}

// (a) quality vs latency.
std::string pareto_chart(const ReportData& r) {
  const bool rmse = r.rmse_metric();
  const std::string metric = rmse ? "rmse" : "accuracy";
  std::vector<Card> cards;
  for (auto& c : plotted_cards(r))
    if (c.latency_ms && c.metric(rmse) && c.latency_ms.v > 0) cards.push_back(c);
  if (cards.empty()) return "<p class=\"note\">No candidate has both a latency and a " + metric + ": nothing to plot.</p>";

  const double W = 760, H = 440, L = 70, R = 24, T = 24, B = 56;
  double xlo = 1e300, xhi = 0, ylo = 1e300, yhi = -1e300;
  for (const auto& c : cards) {
    xlo = std::min(xlo, c.latency_ms.v);
    xhi = std::max(xhi, c.latency_ms.v);
    ylo = std::min(ylo, c.metric(rmse).v);
    yhi = std::max(yhi, c.metric(rmse).v);
  }
  if (r.max_latency_ms && r.max_latency_ms.v > 0) {
    xlo = std::min(xlo, r.max_latency_ms.v);
    xhi = std::max(xhi, r.max_latency_ms.v);
  }
  double floor_v = 0;
  const bool has_floor = !rmse && r.max_accuracy_drop && r.baseline && r.baseline->accuracy;
  if (has_floor) {
    floor_v = r.baseline->accuracy.v - r.max_accuracy_drop.v / 100.0;  // the budget is in points
    ylo = std::min(ylo, floor_v);
  }
  Scale x;
  x.log = wants_log(xlo, xhi);
  x.d0 = x.log ? xlo / 1.4 : 0;
  x.d1 = x.log ? xhi * 1.4 : xhi * 1.08;
  x.r0 = L;
  x.r1 = W - R;
  const double pad = std::max((yhi - ylo) * 0.12, std::fabs(yhi) * 0.002 + 1e-9);
  Scale y{ylo - pad, yhi + pad, H - B, T, false};

  std::ostringstream o;
  o << "<svg id=\"chart-pareto\" class=\"chart\" viewBox=\"0 0 " << W << " " << H << "\" width=\"" << W
    << "\" height=\"" << H << "\" role=\"img\" aria-label=\"" << metric << " versus latency\" data-metric=\"" << metric
    << "\" data-x-scale=\"" << (x.log ? "log" : "linear") << "\">";
  draw_axis(o, x, true, L, T, W - R, H - B, false);
  draw_axis(o, y, false, L, T, W - R, H - B, !rmse);
  o << "<text x=\"" << px((L + W - R) / 2) << "\" y=\"" << px(H - 14) << "\" text-anchor=\"middle\">latency p50 (ms"
    << (x.log ? ", log scale" : "") << ")</text>";
  o << "<text transform=\"translate(16," << px((T + H - B) / 2) << ") rotate(-90)\" text-anchor=\"middle\">"
    << (rmse ? "RMSE (lower is better)" : "accuracy") << "</text>";

  if (r.max_latency_ms && r.max_latency_ms.v > 0) {
    const double bx = x(r.max_latency_ms.v);
    o << "<line class=\"budget-line\" x1=\"" << px(bx) << "\" y1=\"" << px(T) << "\" x2=\"" << px(bx) << "\" y2=\""
      << px(H - B) << "\" data-value=\"" << esc(r.max_latency_ms.raw) << "\"/><text x=\"" << px(bx + 4) << "\" y=\""
      << px(T + 12) << "\" fill=\"var(--budget)\">budget " << esc(fmt_sig(r.max_latency_ms.v, 3)) << " ms</text>";
  }
  if (has_floor) {
    const double fy = y(floor_v);
    char v[32];
    std::snprintf(v, sizeof(v), "%.6g", floor_v);
    o << "<line class=\"floor-line\" x1=\"" << px(L) << "\" y1=\"" << px(fy) << "\" x2=\"" << px(W - R) << "\" y2=\""
      << px(fy) << "\" data-value=\"" << v << "\"/><text x=\"" << px(W - R - 4) << "\" y=\"" << px(fy - 4)
      << "\" text-anchor=\"end\" fill=\"var(--budget)\">max drop " << esc(r.max_accuracy_drop.raw) << " pt</text>";
  }

  std::vector<const Card*> front;
  for (const auto& c : cards)
    if (c.pareto) front.push_back(&c);
  std::sort(front.begin(), front.end(), [](const Card* a, const Card* b) { return a->latency_ms.v < b->latency_ms.v; });
  if (!front.empty()) {
    std::string pts, ids;
    for (const Card* c : front) {
      pts += px(x(c->latency_ms.v)) + "," + px(y(c->metric(rmse).v)) + " ";
      ids += (ids.empty() ? "" : " ") + c->id;
    }
    o << "<polyline class=\"pareto-front\" points=\"" << pts << "\" data-ids=\"" << esc(ids) << "\"/>";
  }

  // Rejected first so accepted, baseline and best draw on top.
  std::vector<const Card*> order;
  for (const auto& c : cards) order.push_back(&c);
  const auto rank = [](const Card* c) {
    const std::string s = status_class(c->status);
    return s == "rejected" ? 0 : s == "accepted" ? 1 : s == "baseline" ? 2 : 3;
  };
  std::stable_sort(order.begin(), order.end(), [&](const Card* a, const Card* b) { return rank(a) < rank(b); });
  for (const Card* c : order) {
    const std::string s = status_class(c->status);
    const double cx = x(c->latency_ms.v), cy = y(c->metric(rmse).v);
    const bool est = c->latency_source == "estimate";
    std::ostringstream attrs;
    attrs << " class=\"pt status-" << s << (est ? " estimate" : "") << "\" data-id=\"" << esc(c->id)
          << "\" data-status=\"" << s << "\" data-latency-ms=\"" << esc(c->latency_ms.raw) << "\" data-" << metric
          << "=\"" << esc(c->metric(rmse).raw) << "\" data-pareto=\"" << (c->pareto ? "true" : "false")
          << "\" data-latency-source=\"" << esc(c->latency_source) << "\"";
    const std::string title = "<title>" + esc(c->id + " " + c->name) + ": " + esc(fmt_sig(c->latency_ms.v, 3)) +
                              " ms" + (est ? " (estimate)" : "") + ", " + metric + " " +
                              esc(fmt_metric(c->metric(rmse), rmse)) + " [" + s + "]</title>";
    if (s == "baseline") {
      o << "<rect" << attrs.str() << " x=\"" << px(cx - 6) << "\" y=\"" << px(cy - 6) << "\" width=\"12\" height=\"12\">"
        << title << "</rect>";
    } else {
      o << "<circle" << attrs.str() << " cx=\"" << px(cx) << "\" cy=\"" << px(cy) << "\" r=\""
        << (s == "best" ? 8 : 5) << "\">" << title << "</circle>";
    }
    if (s == "best" || s == "baseline") {
      const bool left = cx > L + (W - L - R) * 0.6;  // keep the label inside the plot
      o << "<text x=\"" << px(left ? cx - 10 : cx + 10) << "\" y=\"" << px(cy - 10) << "\" text-anchor=\""
        << (left ? "end" : "start") << "\" class=\"pt-label\">" << s << " "
        << esc(fmt_sig(c->latency_ms.v, 3)) << " ms, " << esc(fmt_metric(c->metric(rmse), rmse))
        << (est ? " (estimate)" : "") << "</text>";
    }
  }
  o << "</svg>";
  o << "<div class=\"legend\"><span><span class=\"sw\" style=\"background:var(--best)\"></span>best</span>"
       "<span><span class=\"sw\" style=\"background:var(--base);border-radius:0\"></span>baseline</span>"
       "<span><span class=\"sw\" style=\"background:var(--acc)\"></span>accepted</span>"
       "<span><span class=\"sw\" style=\"border:1.5px solid var(--rej)\"></span>rejected</span>"
       "<span><span class=\"sw\" style=\"background:var(--pareto);height:3px;border-radius:0\"></span>Pareto front</span>";
  if (r.max_latency_ms) o << "<span><span class=\"sw\" style=\"border-top:2px dashed var(--budget);border-radius:0;height:0\"></span>latency budget</span>";
  o << "<span>dashed outline: latency " << est_badge() << "</span></div>";
  return o.str();
}

struct Bar {
  std::string label, variant, value_raw, display, source;
  double value = 0;
  std::string extra_attrs;
};

// Vertical bars for one metric (before vs after), with value labels.
void bar_group(std::ostringstream& o, const std::string& metric, const std::string& title, const std::vector<Bar>& bars,
               double gx, double gw, double top, double bottom) {
  double hi = 0;
  for (const auto& b : bars) hi = std::max(hi, b.value);
  if (hi <= 0) hi = 1;
  Scale y{0, hi * 1.18, bottom, top, false};
  o << "<g class=\"bar-group\" data-metric=\"" << esc(metric) << "\"><text class=\"title\" x=\"" << px(gx + gw / 2)
    << "\" y=\"" << px(top - 8) << "\" text-anchor=\"middle\">" << esc(title) << "</text>";
  o << "<line class=\"axis\" x1=\"" << px(gx) << "\" y1=\"" << px(bottom) << "\" x2=\"" << px(gx + gw) << "\" y2=\""
    << px(bottom) << "\"/>";
  const double slot = gw / static_cast<double>(std::max<size_t>(1, bars.size())), bw = std::min(56.0, slot * 0.6);
  for (size_t i = 0; i < bars.size(); ++i) {
    const Bar& b = bars[i];
    const double cx = gx + slot * (static_cast<double>(i) + 0.5), top_y = y(b.value);
    const bool est = b.source == "estimate";
    o << "<rect class=\"bar variant-" << esc(b.variant) << (est ? " estimate" : "") << "\" x=\"" << px(cx - bw / 2)
      << "\" y=\"" << px(top_y) << "\" width=\"" << px(bw) << "\" height=\"" << px(bottom - top_y)
      << "\" data-metric=\"" << esc(metric) << "\" data-variant=\"" << esc(b.variant) << "\" data-value=\""
      << esc(b.value_raw) << "\" data-source=\"" << esc(b.source) << "\"" << b.extra_attrs << "><title>"
      << esc(b.label + ": " + b.display) << (est ? " (estimate)" : "") << "</title></rect>";
    o << "<text x=\"" << px(cx) << "\" y=\"" << px(top_y - 5) << "\" text-anchor=\"middle\">" << esc(b.display)
      << "</text>";
    if (est)
      o << "<text class=\"est-label\" x=\"" << px(cx) << "\" y=\"" << px(top_y - 18) << "\" text-anchor=\"middle\">estimate</text>";
    o << "<text class=\"tick\" x=\"" << px(cx) << "\" y=\"" << px(bottom + 15) << "\" text-anchor=\"middle\">"
      << esc(b.label) << "</text>";
  }
  o << "</g>";
}

std::string ratio_text(double before, double after, bool lower_is_better) {
  if (before <= 0 || after <= 0) return "";
  if (lower_is_better && after < before) return fmt_sig(before / after, 3) + "x lower";
  if (lower_is_better) return fmt_sig(after / before, 3) + "x higher";
  return fmt_sig(after / before, 3) + "x";
}

// (b) size, latency and energy: baseline vs best (and ONNX Runtime fp32 for the baseline).
std::string before_after_chart(const ReportData& r) {
  if (!r.baseline || !r.best) return "<p class=\"note\">The report has no baseline/best pair.</p>";
  const Card &a = *r.baseline, &b = *r.best;
  struct Group {
    std::string metric, title;
    std::vector<Bar> bars;
    std::string ratio;
  };
  std::vector<Group> groups;
  if (a.size_bytes && b.size_bytes) {
    groups.push_back({"size_bytes", "model size (MB)",
                      {{"baseline", "baseline", a.size_bytes.raw, fmt_mb_from_bytes(a.size_bytes), "", a.size_bytes.v / 1e6,
                        " data-unit=\"bytes\""},
                       {"best", "best", b.size_bytes.raw, fmt_mb_from_bytes(b.size_bytes), "", b.size_bytes.v / 1e6,
                        " data-unit=\"bytes\""}},
                      ""});
    groups.back().ratio = b.size_bytes.v > 0 ? fmt_sig(100.0 * (1 - b.size_bytes.v / a.size_bytes.v), 3) + "% smaller" : "";
  }
  if (a.latency_ms && b.latency_ms) {
    Group g{"latency_ms", "latency p50 (ms)", {}, ""};
    if (a.ort_fp32_latency_ms)
      g.bars.push_back({"ORT fp32", "ort", a.ort_fp32_latency_ms.raw, fmt_sig(a.ort_fp32_latency_ms.v, 3) + " ms",
                        "measured", a.ort_fp32_latency_ms.v, ""});
    g.bars.push_back({"baseline", "baseline", a.latency_ms.raw, fmt_sig(a.latency_ms.v, 3) + " ms", a.latency_source, a.latency_ms.v, ""});
    g.bars.push_back({"best", "best", b.latency_ms.raw, fmt_sig(b.latency_ms.v, 3) + " ms", b.latency_source, b.latency_ms.v, ""});
    g.ratio = b.latency_ms.v > 0 ? fmt_sig(a.latency_ms.v / b.latency_ms.v, 3) + "x faster than baseline" : "";
    if (a.ort_fp32_latency_ms && b.latency_ms.v > 0)
      g.ratio += ", " + fmt_sig(a.ort_fp32_latency_ms.v / b.latency_ms.v, 3) + "x faster than ONNX Runtime fp32";
    groups.push_back(g);
  }
  if (a.energy_mj_per_inference && b.energy_mj_per_inference) {
    Group g{"energy_mj_per_inference", "energy / inference (mJ)", {}, ""};
    g.bars.push_back({"baseline", "baseline", a.energy_mj_per_inference.raw, fmt_sig(a.energy_mj_per_inference.v, 3) + " mJ",
                      a.energy_source, a.energy_mj_per_inference.v, ""});
    g.bars.push_back({"best", "best", b.energy_mj_per_inference.raw, fmt_sig(b.energy_mj_per_inference.v, 3) + " mJ",
                      b.energy_source, b.energy_mj_per_inference.v, ""});
    g.ratio = ratio_text(a.energy_mj_per_inference.v, b.energy_mj_per_inference.v, true);
    groups.push_back(g);
  }
  if (groups.empty()) return "<p class=\"note\">Baseline and best have no size, latency or energy to compare.</p>";
  const double gw = 260, W = gw * static_cast<double>(groups.size()) + 40, H = 310, top = 48, bottom = 236;
  std::ostringstream o;
  o << "<svg id=\"chart-before-after\" class=\"chart\" viewBox=\"0 0 " << W << " " << H << "\" width=\"" << W
    << "\" height=\"" << H << "\" role=\"img\" aria-label=\"baseline versus best\">";
  for (size_t i = 0; i < groups.size(); ++i) {
    const double gx = 20 + gw * static_cast<double>(i) + 16;
    bar_group(o, groups[i].metric, groups[i].title, groups[i].bars, gx, gw - 32, top, bottom);
    // One line per clause so long comparisons stay under their own group.
    std::vector<std::string> lines;
    for (size_t a = 0; a <= groups[i].ratio.size();) {
      const size_t b = std::min(groups[i].ratio.find(", ", a), groups[i].ratio.size());
      lines.push_back(groups[i].ratio.substr(a, b - a));
      a = b + 2;
    }
    o << "<text class=\"ratio\" x=\"" << px(gx + (gw - 32) / 2) << "\" y=\"" << px(bottom + 34)
      << "\" text-anchor=\"middle\" data-metric=\"" << esc(groups[i].metric) << "\">";
    for (size_t l = 0; l < lines.size(); ++l)
      o << "<tspan x=\"" << px(gx + (gw - 32) / 2) << "\" dy=\"" << (l ? "1.2em" : "0") << "\">" << esc(lines[l]) << "</tspan>";
    o << "</text>";
  }
  o << "</svg>";
  return o.str();
}

// (c) per-layer latency, the slowest baseline layers first.
std::string layers_chart(const ReportData& r, size_t top_n) {
  std::vector<const Layer*> ls;
  for (const auto& l : r.layers)
    if (l.baseline_ms || l.best_ms) ls.push_back(&l);
  if (ls.empty()) return "<p class=\"note\">The report has no per-layer timings.</p>";
  std::stable_sort(ls.begin(), ls.end(), [](const Layer* a, const Layer* b) {
    return (a->baseline_ms ? a->baseline_ms.v : 0) > (b->baseline_ms ? b->baseline_ms.v : 0);
  });
  const size_t n = std::min(top_n, ls.size());
  double hi = 0;
  for (size_t i = 0; i < n; ++i) {
    if (ls[i]->baseline_ms) hi = std::max(hi, ls[i]->baseline_ms.v);
    if (ls[i]->best_ms) hi = std::max(hi, ls[i]->best_ms.v);
  }
  if (hi <= 0) hi = 1;
  const double W = 860, L = 230, R = 110, T = 28, row = 30, H = T + row * static_cast<double>(n) + 40;
  Scale x{0, hi * 1.05, L, W - R, false};
  std::ostringstream o;
  o << "<svg id=\"chart-layers\" class=\"chart\" viewBox=\"0 0 " << W << " " << px(H) << "\" width=\"" << W
    << "\" height=\"" << px(H) << "\" role=\"img\" aria-label=\"per-layer latency\">";
  draw_axis(o, x, true, L, T - 6, W - R, T + row * static_cast<double>(n), false);
  o << "<text x=\"" << px((L + W - R) / 2) << "\" y=\"" << px(H - 6) << "\" text-anchor=\"middle\">latency per layer (ms)</text>";
  for (size_t i = 0; i < n; ++i) {
    const Layer& l = *ls[i];
    const double y0 = T + row * static_cast<double>(i);
    o << "<text x=\"" << px(L - 8) << "\" y=\"" << px(y0 + 15) << "\" text-anchor=\"end\">" << esc(l.name)
      << (l.op_type.empty() ? "" : " (" + esc(l.op_type) + ")") << "</text>";
    const std::pair<const char*, const Num*> variants[] = {{"baseline", &l.baseline_ms}, {"best", &l.best_ms}};
    for (int k = 0; k < 2; ++k) {
      const Num& v = *variants[k].second;
      const double by = y0 + 3 + 12 * k;
      if (!v) {
        o << "<text class=\"tick\" x=\"" << px(L + 4) << "\" y=\"" << px(by + 8) << "\">" << variants[k].first
          << ": n/a (removed or fused)</text>";
        continue;
      }
      o << "<rect class=\"bar variant-" << variants[k].first << "\" x=\"" << px(L) << "\" y=\"" << px(by)
        << "\" width=\"" << px(std::max(0.5, x(v.v) - L)) << "\" height=\"9\" data-layer=\"" << esc(l.name)
        << "\" data-variant=\"" << variants[k].first << "\" data-value=\"" << esc(v.raw) << "\"><title>"
        << esc(l.name) << " " << variants[k].first << ": " << esc(fmt_sig(v.v, 3)) << " ms</title></rect>";
      o << "<text x=\"" << px(x(v.v) + 4) << "\" y=\"" << px(by + 8.5) << "\" font-size=\"10\">" << esc(fmt_sig(v.v, 3))
        << "</text>";
    }
  }
  o << "</svg>";
  o << "<div class=\"legend\"><span><span class=\"sw\" style=\"background:var(--base);border-radius:0\"></span>baseline</span>"
       "<span><span class=\"sw\" style=\"background:var(--best);border-radius:0\"></span>best</span>";
  if (ls.size() > n) o << "<span>slowest " << n << " of " << ls.size() << " layers</span>";
  o << "</div>";
  return o.str();
}

// (d) one horizontal bar chart of one platform metric, rows = platform, bars = variant/dtype.
std::string platform_chart(const ReportData& r, const std::string& key, const std::string& title, const std::string& unit,
                           Num Platform::*field) {
  std::vector<const Platform*> rows;
  for (const auto& p : r.platforms)
    if ((p.*field) && (p.*field).v > 0) rows.push_back(&p);
  if (rows.empty()) return "";
  double lo = 1e300, hi = 0;
  for (const auto* p : rows) {
    lo = std::min(lo, (p->*field).v);
    hi = std::max(hi, (p->*field).v);
  }
  Scale x;
  x.log = wants_log(lo, hi);
  x.d0 = x.log ? lo / 1.5 : 0;
  x.d1 = x.log ? hi * 1.5 : hi * 1.05;
  const double W = 560, L = 190, R = 120, T = 30, row = 20, H = T + row * static_cast<double>(rows.size()) + 42;
  x.r0 = L;
  x.r1 = W - R;
  std::ostringstream o;
  o << "<svg id=\"chart-platform-" << esc(key) << "\" class=\"chart platform-chart\" viewBox=\"0 0 " << W << " "
    << px(H) << "\" width=\"" << W << "\" height=\"" << px(H) << "\" role=\"img\" aria-label=\"" << esc(title)
    << "\" data-metric=\"" << esc(key) << "\"><text class=\"title\" x=\"" << px(L) << "\" y=\"16\">" << esc(title)
    << " (" << esc(unit) << (x.log ? ", log scale" : "") << ")</text>";
  draw_axis(o, x, true, L, T - 4, W - R, T + row * static_cast<double>(rows.size()), false);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Platform& p = *rows[i];
    const Num& v = p.*field;
    const double y0 = T + row * static_cast<double>(i);
    const std::string variant = p.variant == "baseline" || p.variant == "best" ? p.variant : "other";
    o << "<text x=\"" << px(L - 6) << "\" y=\"" << px(y0 + 13) << "\" text-anchor=\"end\">" << esc(p.platform) << " "
      << esc(p.variant) << (p.dtype.empty() ? "" : " " + esc(p.dtype)) << "</text>";
    o << "<rect class=\"bar variant-" << variant << (p.estimate() ? " estimate" : "") << "\" x=\"" << px(L) << "\" y=\""
      << px(y0 + 3) << "\" width=\"" << px(std::max(0.5, x(v.v) - L)) << "\" height=\"13\" data-platform=\""
      << esc(p.platform) << "\" data-variant=\"" << esc(p.variant) << "\" data-dtype=\"" << esc(p.dtype)
      << "\" data-metric=\"" << esc(key) << "\" data-value=\"" << esc(v.raw) << "\" data-source=\"" << esc(p.source)
      << "\"><title>" << esc(p.platform + " " + p.variant + ": " + fmt_sig(v.v, 3) + " " + unit)
      << (p.estimate() ? " (estimate)" : " (measured)") << "</title></rect>";
    o << "<text x=\"" << px(x(v.v) + 4) << "\" y=\"" << px(y0 + 13) << "\" font-size=\"11\">" << esc(fmt_sig(v.v, 3));
    if (p.estimate()) o << " <tspan class=\"est-label\">estimate</tspan>";
    o << "</text>";
  }
  o << "</svg>";
  return o.str();
}

std::string platforms_section(const ReportData& r) {
  if (r.platforms.empty()) return "<p class=\"note\">The report has no per-platform numbers.</p>";
  std::ostringstream o;
  o << "<div class=\"grid2\">"
    << platform_chart(r, "latency_ms", "latency per inference", "ms", &Platform::latency_ms)
    << platform_chart(r, "energy_mj_per_inference", "energy per inference", "mJ", &Platform::energy_mj_per_inference)
    << platform_chart(r, "throughput_per_s", "throughput", "inferences/s", &Platform::throughput_per_s)
    << platform_chart(r, "power_w", "power", "W", &Platform::power_w)
    << platform_chart(r, "memory_mb", "memory", "MB", &Platform::memory_mb) << "</div>";
  o << "<table id=\"platforms-table\"><thead><tr><th>platform</th><th>variant</th><th>dtype</th><th>latency (ms)</th>"
       "<th>throughput (/s)</th><th>power (W)</th><th>energy / inference (mJ)</th><th>memory (MB)</th><th>source</th>"
       "</tr></thead><tbody>";
  for (const auto& p : r.platforms) {
    const std::string badge = p.estimate() ? est_badge() : "";
    const auto cell = [&](const Num& n) { return n ? num_cell(fmt_sig(n.v, 3), n.raw, badge) : num_cell("n/a", ""); };
    o << "<tr data-platform=\"" << esc(p.platform) << "\" data-variant=\"" << esc(p.variant) << "\"><td>"
      << esc(p.platform) << "</td><td>" << esc(p.variant) << "</td><td>" << esc(p.dtype) << "</td>"
      << cell(p.latency_ms) << cell(p.throughput_per_s) << cell(p.power_w) << cell(p.energy_mj_per_inference)
      << cell(p.memory_mb) << "<td>" << (p.estimate() ? est_badge() : "measured") << "</td></tr>";
  }
  o << "</tbody></table><p class=\"note\">Rows marked " << est_badge()
    << " are roofline estimates from the device's published peak ops, memory bandwidth and power "
       "(docs/hardware-profiles.md), not measurements.</p>";
  return o.str();
}

std::string candidates_table(const ReportData& r) {
  const bool rmse = r.rmse_metric();
  std::vector<Card> cards = r.candidates;
  if (cards.empty()) cards = plotted_cards(r);
  if (cards.empty()) return "<p class=\"note\">No candidates.</p>";
  std::ostringstream o;
  o << "<table id=\"candidates-table\"><thead><tr><th>id</th><th>name</th><th>steps</th><th>"
    << (rmse ? "RMSE" : "accuracy") << "</th><th>drop (pt)</th><th>latency p50 (ms)</th><th>p99 (ms)</th>"
    << "<th>size</th><th>peak mem (MB)</th><th>energy (mJ)</th><th>ORT fp32 (ms)</th><th>status</th><th>Pareto</th>"
    << "<th>reject reasons</th></tr></thead><tbody>";
  for (const auto& c : cards) {
    const std::string lat_badge = c.latency_source == "estimate" ? est_badge() : "";
    const std::string en_badge = c.energy_source == "estimate" ? est_badge() : "";
    const std::string s = r.best && c.id == r.best->id && !c.id.empty() ? "best" : status_class(c.status);
    o << "<tr class=\"status-" << s << "\" data-id=\"" << esc(c.id) << "\"><td>" << esc(c.id) << "</td><td>"
      << esc(c.name) << "</td><td>" << esc(join(c.steps, " → ")) << "</td>"
      << num_cell(fmt_metric(c.metric(rmse), rmse), c.metric(rmse).raw)
      << num_cell(fmt(c.accuracy_drop_points, 2), c.accuracy_drop_points.raw)
      << num_cell(c.latency_ms ? fmt_sig(c.latency_ms.v, 3) : "n/a", c.latency_ms.raw, c.latency_ms ? lat_badge : "")
      << num_cell(c.latency_p99_ms ? fmt_sig(c.latency_p99_ms.v, 3) : "n/a", c.latency_p99_ms.raw,
                  c.latency_p99_ms ? lat_badge : "")
      << num_cell(fmt_mb_from_bytes(c.size_bytes), c.size_bytes.raw)
      << num_cell(c.peak_memory_mb ? fmt_sig(c.peak_memory_mb.v, 3) : "n/a", c.peak_memory_mb.raw)
      << num_cell(c.energy_mj_per_inference ? fmt_sig(c.energy_mj_per_inference.v, 3) : "n/a",
                  c.energy_mj_per_inference.raw, c.energy_mj_per_inference ? en_badge : "")
      << num_cell(c.ort_fp32_latency_ms ? fmt_sig(c.ort_fp32_latency_ms.v, 3) : "", c.ort_fp32_latency_ms.raw)
      << "<td>" << esc(c.status.empty() ? s : c.status) << "</td><td>" << (c.pareto ? "yes" : "") << "</td><td class=\"reasons\">"
      << esc(join(c.reject_reasons, "; ")) << "</td></tr>";
  }
  o << "</tbody></table>";
  return o.str();
}

std::string summary_cards(const ReportData& r) {
  if (!r.baseline && !r.best) return "";
  const bool rmse = r.rmse_metric();
  std::ostringstream o;
  o << "<div class=\"cards\" id=\"summary-cards\">";
  const auto card = [&](const std::string& key, const std::string& label, const std::string& value,
                        const std::string& detail, const std::string& raw) {
    o << "<div class=\"card\" data-key=\"" << esc(key) << "\"" << (raw.empty() ? "" : " data-value=\"" + esc(raw) + "\"")
      << "><div class=\"k\">" << esc(label) << "</div><div class=\"v\">" << value << "</div><div class=\"d\">" << detail
      << "</div></div>";
  };
  if (r.best) {
    const Card& b = *r.best;
    card("best-metric", rmse ? "best RMSE" : "best accuracy", esc(fmt_metric(b.metric(rmse), rmse)),
         r.baseline ? "baseline " + esc(fmt_metric(r.baseline->metric(rmse), rmse)) +
                          (b.accuracy_drop_points ? ", drop " + esc(fmt(b.accuracy_drop_points, 2)) + " pt" : "")
                    : "",
         b.metric(rmse).raw);
    card("best-latency", "best latency p50",
         esc(b.latency_ms ? fmt_sig(b.latency_ms.v, 3) + " ms" : "n/a") + (b.latency_source == "estimate" ? est_badge() : ""),
         r.baseline && r.baseline->latency_ms && b.latency_ms && b.latency_ms.v > 0
             ? esc(fmt_sig(r.baseline->latency_ms.v / b.latency_ms.v, 3) + "x faster than baseline") +
                   (r.baseline->ort_fp32_latency_ms
                        ? "<br>" + esc(fmt_sig(r.baseline->ort_fp32_latency_ms.v / b.latency_ms.v, 3) +
                                       "x faster than ONNX Runtime fp32")
                        : "")
             : "",
         b.latency_ms.raw);
    card("best-size", "best size", esc(fmt_mb_from_bytes(b.size_bytes)),
         r.baseline && r.baseline->size_bytes && b.size_bytes && r.baseline->size_bytes.v > 0
             ? esc(fmt_sig(100.0 * (1 - b.size_bytes.v / r.baseline->size_bytes.v), 3) + "% smaller than baseline")
             : "",
         b.size_bytes.raw);
    card("best-energy", "energy / inference",
         esc(b.energy_mj_per_inference ? fmt_sig(b.energy_mj_per_inference.v, 3) + " mJ" : "n/a") +
             (b.energy_source == "estimate" ? est_badge() : b.energy_source == "measured" ? "<span class=\"meas\">measured</span>" : ""),
         "", b.energy_mj_per_inference.raw);
    card("best-id", "chosen candidate", esc(b.id.empty() ? "n/a" : b.id), esc(b.name), "");
  }
  o << "</div>";
  return o.str();
}

std::string kv_table(const std::string& id, const std::vector<std::pair<std::string, std::string>>& rows) {
  std::ostringstream o;
  o << "<table id=\"" << esc(id) << "\"><tbody>";
  for (const auto& [k, v] : rows) o << "<tr><th>" << esc(k) << "</th><td>" << esc(v) << "</td></tr>";
  o << "</tbody></table>";
  return o.str();
}

}  // namespace

std::string render_html(const nlohmann::json& report) {
  const ReportData r = read_report(report);
  const std::string model = r.model_name.empty() ? "model" : r.model_name;
  std::ostringstream o;
  o << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
    << "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
    << "<title>edgeopt report: " << esc(model) << "</title><style>" << kCss << "</style></head><body>\n";
  o << "<header><h1>edgeopt optimize: " << esc(model) << (r.target_name.empty() ? "" : " on " + esc(r.target_name))
    << "</h1><p class=\"meta\">";
  std::vector<std::string> meta;
  if (!r.data_spec.empty()) meta.push_back("data " + esc(r.data_spec) + (r.eval_samples ? " (" + esc(r.eval_samples.raw) + " eval samples)" : ""));
  if (!r.model_task.empty()) meta.push_back(esc(r.model_task) + ", metric " + esc(r.metric));
  if (!r.search_mode.empty()) meta.push_back("search " + esc(r.search_mode));
  if (r.search_evaluated) meta.push_back(esc(r.search_evaluated.raw) + " candidates evaluated");
  if (r.search_elapsed_s) meta.push_back("in " + esc(fmt_sig(r.search_elapsed_s.v, 3)) + " s");
  if (r.seed) meta.push_back("seed " + esc(r.seed.raw));
  if (r.threads) meta.push_back(esc(r.threads.raw) + " thread(s)");
  if (!r.created.empty()) meta.push_back(esc(r.created));
  o << join(meta, " · ") << "</p></header>\n";

  o << "<section id=\"summary\"><h2>Result</h2>" << summary_cards(r) << "</section>\n";
  o << "<section id=\"pareto\"><h2>" << (r.rmse_metric() ? "RMSE" : "Accuracy")
    << " vs latency: every candidate, the Pareto front and the budget</h2>" << pareto_chart(r) << "</section>\n";
  o << "<section id=\"before-after\"><h2>Before and after</h2>" << before_after_chart(r) << "</section>\n";
  o << "<section id=\"layers\"><h2>Per-layer latency</h2>" << layers_chart(r, 15) << "</section>\n";
  o << "<section id=\"platforms\"><h2>Per platform: latency, energy, throughput, power, memory</h2>"
    << platforms_section(r) << "</section>\n";
  o << "<section id=\"candidates\"><h2>Candidates</h2>" << candidates_table(r) << "</section>\n";

  o << "<section id=\"run\"><h2>Run</h2>";
  std::vector<std::pair<std::string, std::string>> budgets;
  budgets.emplace_back("max latency (ms)", r.max_latency_ms ? r.max_latency_ms.raw : "none");
  budgets.emplace_back("max size (MB)", r.max_size_mb ? r.max_size_mb.raw : "none");
  budgets.emplace_back("max accuracy drop (points)", r.max_accuracy_drop ? r.max_accuracy_drop.raw : "none");
  o << "<h3>Budgets</h3>" << kv_table("budgets-table", budgets);
  if (!r.target.empty()) o << "<h3>Target</h3>" << kv_table("target-table", r.target);
  std::vector<std::pair<std::string, std::string>> run;
  if (!r.model_path.empty()) run.emplace_back("model path", r.model_path);
  if (!r.search_mode.empty()) run.emplace_back("search mode", r.search_mode);
  if (r.search_resumed) run.emplace_back("resumed", *r.search_resumed ? "yes" : "no");
  if (!r.edgeopt_version.empty()) run.emplace_back("edgeopt version", r.edgeopt_version);
  if (!run.empty()) o << "<h3>Search</h3>" << kv_table("run-table", run);
  o << "</section>\n<footer>Generated by edgeopt" << (r.edgeopt_version.empty() ? "" : " " + esc(r.edgeopt_version))
    << " from report.json. Numbers marked " << est_badge()
    << " come from the roofline model; all others were measured on the machine that ran the search.</footer>\n"
    << "</body></html>\n";
  return o.str();
}

}  // namespace edgeopt::report

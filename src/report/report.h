// The optimize report: report.json (what `edgeopt optimize` measured and chose) rendered as
// report.md and a self-contained report.html (inline CSS and SVG, no scripts, no network).
//
//   nlohmann::json r = ...;                       // schema: docs/report.md
//   edgeopt::report::write_report("out/run1", r); // report.json, report.md, report.html
//
// The renderers are tolerant: every field except the top-level object itself is optional and a
// missing, null or non-finite (NaN, which report.json stores as null) number shows as "n/a" (or
// its chart/table is left out). A field of the wrong type
// throws InvalidArgument naming its path, e.g. "report.candidates[3].latency_ms: expected a number,
// got string". Every number that is plotted is also in the HTML as text or as a data-value /
// data-* attribute (the exact JSON text of the number), so a test or a scraper reads the charts'
// numbers back; every number whose source is "estimate" is labelled "estimate" where it is shown.
#pragma once
#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

namespace edgeopt::report {

// Markdown (GitHub tables): summary, budgets, candidates with reject reasons, per-platform table,
// per-layer table. Throws InvalidArgument on a wrongly typed field.
std::string render_markdown(const nlohmann::json& report);

// One HTML5 document with four SVG charts (accuracy or RMSE vs latency with the Pareto front and
// the latency budget; size/latency before vs after; per-layer latency; per-platform latency,
// energy and power) and the tables of render_markdown. Throws InvalidArgument on a wrongly typed
// field.
std::string render_html(const nlohmann::json& report);

// Creates `dir` if needed and writes report.json (pretty-printed), report.md and report.html, each
// atomically (a temporary file in `dir`, then rename), so a reader never sees a partial file.
// Renders both documents before writing anything. Throws InvalidArgument (bad field) or
// Unavailable (cannot create/write/rename, naming the path).
void write_report(const std::filesystem::path& dir, const nlohmann::json& report);

}  // namespace edgeopt::report

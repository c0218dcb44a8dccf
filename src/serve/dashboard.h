// GET /dashboard: one self-contained HTML page (inline CSS, JS and SVG; it loads nothing from the
// network) that polls GET /v2/monitor every second and draws, per model: the serving version,
// per-version counters, latency p50/p99, throughput, rolling accuracy (or MAE/RMSE), drift scores
// and energy per inference, charts of their recent history, and the controller's state and log.
// Every live number sits in an element with data-model/data-version/data-metric attributes (the
// headless-Chromium test reads them back from the DOM).
#pragma once

namespace edgeopt::serve {

const char* dashboard_html();

}  // namespace edgeopt::serve

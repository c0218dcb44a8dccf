#include "serve/dashboard.h"

namespace edgeopt::serve {

// Kept in one literal so the page ships inside the binary; no external script, font or style.
const char* dashboard_html() {
  return R"HTML(<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>edgeopt node dashboard</title>
<style>
body{font:14px system-ui,sans-serif;margin:16px;background:#fafafa;color:#222}
h1{font-size:20px;margin:0 0 4px} h2{font-size:16px;margin:18px 0 6px}
.muted{color:#777} table{border-collapse:collapse;margin:4px 0} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#eee} td.l,th.l{text-align:left} .charts{display:flex;flex-wrap:wrap;gap:12px}
.chart{background:#fff;border:1px solid #ddd;padding:6px} .chart b{display:block;font-size:12px}
.alarm{color:#b00;font-weight:bold} .ok{color:#070} #log td{font-size:12px}
</style></head><body>
<h1>edgeopt node</h1>
<div class="muted">Polling <code>/v2/monitor</code> every second. Last update: <span id="updated">never</span>
 (<span id="polls">0</span> polls, <span id="poll-error"></span>)</div>
<div id="models"></div>
<h2>Controller</h2><div id="controller" class="muted">no controller attached</div>
<h2>Controller log</h2>
<table id="log"><thead><tr><th class="l">time</th><th class="l">action</th><th>from</th><th>to</th><th class="l">result</th><th class="l">reason</th></tr></thead><tbody></tbody></table>
<script>
"use strict";
const HIST = 120, hist = {};
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"];
function push(key, v) { (hist[key] = hist[key] || []).push(v); if (hist[key].length > HIST) hist[key].shift(); }
function fmt(v, d) { return v === null || v === undefined ? "-" : (typeof v === "number" ? v.toFixed(d === undefined ? 2 : d) : String(v)); }
function esc(s) { return String(s).replace(/[&<>"]/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c])); }
function cell(model, version, metric, value, digits) {
  return '<td data-model="' + esc(model) + '" data-version="' + version + '" data-metric="' + metric + '">' + fmt(value, digits) + "</td>";
}
// A line chart of named series as inline SVG (no library).
function chart(title, series, unit) {
  const W = 320, H = 120, P = 4;
  let max = 0, n = 0;
  for (const s of series) for (const v of s.values) if (v !== null) { max = Math.max(max, v); n = Math.max(n, s.values.length); }
  if (max <= 0) max = 1;
  let svg = '<svg width="' + W + '" height="' + H + '" viewBox="0 0 ' + W + " " + H + '">' +
    '<rect x="0" y="0" width="' + W + '" height="' + H + '" fill="#fff" stroke="#eee"/>';
  series.forEach((s, i) => {
    const pts = s.values.map((v, k) => v === null ? null : (P + k * (W - 2 * P) / Math.max(1, HIST - 1)).toFixed(1) + "," +
      (H - P - v / max * (H - 2 * P)).toFixed(1)).filter(p => p !== null).join(" ");
    svg += '<polyline fill="none" stroke-width="1.5" stroke="' + COLORS[i % COLORS.length] + '" points="' + pts + '"/>';
  });
  svg += '<text x="' + (W - P) + '" y="12" font-size="10" text-anchor="end" fill="#777">max ' + fmt(max, 3) + " " + unit + "</text></svg>";
  const legend = series.map((s, i) => '<span style="color:' + COLORS[i % COLORS.length] + '">&#9632; ' + esc(s.name) + "</span>").join(" ");
  return '<div class="chart"><b>' + esc(title) + "</b>" + svg + "<div>" + legend + "</div></div>";
}
// Versions served through an edge-cloud split: the cut, where answers came from, bytes, network.
function splitTable(m) {
  const vs = m.versions.filter(v => v.split);
  if (!vs.length) return "";
  let html = '<h2>' + esc(m.name) + ' &mdash; edge-cloud split</h2><table><tr><th>version</th><th class="l">cut</th>' +
    '<th class="l">placement</th><th class="l">after node</th><th>wire</th><th class="l">reason</th><th>split</th><th>edge only</th>' +
    "<th>fallback</th><th>cloud errors</th><th>KB sent</th><th>KB received</th><th>RTT ms</th><th>Mbit/s</th></tr>";
  const cuts = [], paths = [];
  for (const v of vs) {
    const s = v.split, a = s.answers || {}, key = m.name + "/" + v.version;
    const errs = Object.values(s.cloud_errors || {}).reduce((x, y) => x + y, 0);
    push(key + "/cut", s.cut); push(key + "/w_split", s.window.split); push(key + "/w_edge", s.window.edge_only);
    push(key + "/w_fallback", s.window.fallback);
    html += "<tr><td>" + v.version + "</td>" + cell(m.name, v.version, "split_cut", s.cut + " / " + s.all_edge_cut) +
      cell(m.name, v.version, "split_placement", s.placement) + cell(m.name, v.version, "split_after_node", s.after_node || "-") +
      cell(m.name, v.version, "split_transport", s.transport) + cell(m.name, v.version, "split_reason", s.reason) +
      cell(m.name, v.version, "split_answers_split", a.split || 0, 0) + cell(m.name, v.version, "split_answers_edge_only", a.edge_only || 0, 0) +
      cell(m.name, v.version, "split_answers_fallback", a.fallback || 0, 0) + cell(m.name, v.version, "split_cloud_errors", errs, 0) +
      cell(m.name, v.version, "split_kb_sent", s.bytes_sent / 1024, 1) + cell(m.name, v.version, "split_kb_received", s.bytes_received / 1024, 1) +
      cell(m.name, v.version, "split_rtt_ms", s.rtt_ms, 3) + cell(m.name, v.version, "split_bandwidth_mbps", s.bandwidth_mbps, 1) + "</tr>";
    cuts.push({name: "v" + v.version + " cut", values: hist[key + "/cut"]});
    paths.push({name: "v" + v.version + " split", values: hist[key + "/w_split"]}, {name: "v" + v.version + " edge only", values: hist[key + "/w_edge"]},
      {name: "v" + v.version + " fallback", values: hist[key + "/w_fallback"]});
  }
  return html + '</table><div class="charts">' + chart("serving cut", cuts, "") + chart("answers in the window, by path", paths, "") + "</div>";
}
function render(d) {
  let html = "";
  for (const m of d.models) {
    html += "<h2>" + esc(m.name) + ' &mdash; serving version <span data-model="' + esc(m.name) + '" data-metric="serving_version">' +
      m.serving_version + "</span>" + (d.controller && d.controller.model === m.name && d.controller.variant_name ?
      ' (<span data-model="' + esc(m.name) + '" data-metric="variant">' + esc(d.controller.variant_name) + "</span>)" : "") +
      ' <span class="muted">unknown labels: <span data-model="' + esc(m.name) + '" data-metric="unknown_labels">' + m.unknown_labels + "</span></span></h2>";
    html += '<table><tr><th>version</th><th>requests</th><th>failed</th><th>rejected</th><th>queue</th><th>p50 ms</th><th>p99 ms</th>' +
      "<th>req/s</th><th>labels</th><th>accuracy</th><th>F1</th><th>MAE</th><th>RMSE</th><th>drift KS</th><th>drift PSI</th><th>drift</th><th>mJ/inference</th></tr>";
    const lat = [], thr = [], acc = [], drift = [];
    for (const v of m.versions) {
      const key = m.name + "/" + v.version, r = v.rolling || {}, dr = v.drift || {}, en = v.energy || {};
      push(key + "/p50", v.p50_ms); push(key + "/p99", v.p99_ms); push(key + "/rps", v.throughput_rps);
      push(key + "/acc", r.task === "regression" ? (r.rmse === undefined ? null : r.rmse) : (r.accuracy === undefined ? null : r.accuracy));
      push(key + "/ks", v.drift ? dr.max_ks : null); push(key + "/psi", v.drift ? dr.max_psi : null);
      html += "<tr" + (v.version === m.serving_version ? ' style="font-weight:bold"' : "") + "><td>" + v.version + "</td>" +
        cell(m.name, v.version, "requests", v.requests, 0) + cell(m.name, v.version, "failed", v.failed, 0) +
        cell(m.name, v.version, "rejected", v.rejected, 0) + cell(m.name, v.version, "queue", v.queue, 0) +
        cell(m.name, v.version, "p50_ms", v.p50_ms, 3) + cell(m.name, v.version, "p99_ms", v.p99_ms, 3) +
        cell(m.name, v.version, "throughput_rps", v.throughput_rps, 1) + cell(m.name, v.version, "labels", v.rolling ? r.n : null, 0) +
        cell(m.name, v.version, "accuracy", r.accuracy, 4) + cell(m.name, v.version, "f1", r.f1, 4) +
        cell(m.name, v.version, "mae", r.mae, 4) + cell(m.name, v.version, "rmse", r.rmse, 4) +
        cell(m.name, v.version, "drift_ks", v.drift ? dr.max_ks : null, 3) + cell(m.name, v.version, "drift_psi", v.drift ? dr.max_psi : null, 3) +
        '<td class="' + (dr.alarm ? "alarm" : "ok") + '" data-model="' + esc(m.name) + '" data-version="' + v.version + '" data-metric="drift_alarm">' +
        (v.drift ? (dr.alarm ? "ALARM" : "ok") : "-") + "</td>" +
        cell(m.name, v.version, "energy_mj", v.energy ? en.mj_per_inference : null, 4) + "</tr>";
      lat.push({name: "v" + v.version + " p50", values: hist[key + "/p50"]}, {name: "v" + v.version + " p99", values: hist[key + "/p99"]});
      thr.push({name: "v" + v.version, values: hist[key + "/rps"]});
      acc.push({name: "v" + v.version, values: hist[key + "/acc"]});
      drift.push({name: "v" + v.version + " KS", values: hist[key + "/ks"]}, {name: "v" + v.version + " PSI", values: hist[key + "/psi"]});
    }
    html += "</table><div class=\"charts\">" + chart("latency (ms)", lat, "ms") + chart("throughput (req/s)", thr, "req/s") +
      chart("rolling accuracy (RMSE for regressors)", acc, "") + chart("drift (max KS / PSI)", drift, "") + "</div>";
    html += splitTable(m);
  }
  document.getElementById("models").innerHTML = html;
  const c = d.controller;
  if (c) {
    let s = "<table>";
    for (const k of ["model", "state", "variant_name", "serving_version", "split_cut", "p99_ms", "accuracy", "accuracy_floor", "p99_budget_ms", "energy_mj", "drift_alarm", "busy"])
      if (c[k] !== undefined) s += '<tr><th class="l">' + k + '</th><td class="l" data-metric="controller_' + k + '">' + esc(fmt(c[k], 4)) + "</td></tr>";
    document.getElementById("controller").innerHTML = s + "</table>";
    const body = (c.log || []).slice().reverse().map(e => "<tr><td class=\"l\">" + new Date(e.time_s * 1000).toISOString().substr(11, 8) +
      '</td><td class="l" data-metric="log_action">' + esc(e.action) + "</td><td>" + fmt(e.from, 0) + "</td><td>" + fmt(e.to, 0) +
      '</td><td class="l">' + esc(e.result) + '</td><td class="l">' + esc(e.reason) + "</td></tr>").join("");
    document.querySelector("#log tbody").innerHTML = body;
  }
}
let polls = 0;
async function poll() {
  try {
    const r = await fetch("/v2/monitor", {cache: "no-store"});
    const d = await r.json();
    render(d);
    document.getElementById("updated").textContent = new Date(d.time_s * 1000).toISOString();
    document.getElementById("polls").textContent = String(++polls);
    document.getElementById("poll-error").textContent = "ok";
  } catch (e) {
    document.getElementById("poll-error").textContent = "error: " + e;
  }
}
poll();
setInterval(poll, 1000);
</script></body></html>
)HTML";
}

}  // namespace edgeopt::serve

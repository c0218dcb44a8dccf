// report.md: the same facts as report.html as GitHub-flavoured Markdown tables.
#include <algorithm>
#include <sstream>

#include "report/report.h"
#include "report/report_data.h"

namespace edgeopt::report {
namespace {

using namespace detail;

// Table cells must not break the row: pipes escaped, newlines flattened.
std::string cell(std::string s) {
  std::string o;
  for (char c : s) {
    if (c == '|') o += "\\|";
    else if (c == '\n' || c == '\r') o += ' ';
    else o += c;
  }
  return o;
}

std::string with_source(const std::string& text, const std::string& source) {
  return source == "estimate" && text != "n/a" ? text + " (estimate)" : text;
}

std::string sig_or_na(const Num& n) { return n ? fmt_sig(n.v, 3) : "n/a"; }

}  // namespace

std::string render_markdown(const nlohmann::json& report) {
  const ReportData r = read_report(report);
  const bool rmse = r.rmse_metric();
  const std::string mname = rmse ? "RMSE" : "accuracy";
  std::ostringstream o;
  o << "# edgeopt optimize: " << (r.model_name.empty() ? "model" : r.model_name)
    << (r.target_name.empty() ? "" : " on " + r.target_name) << "\n\n";
  std::vector<std::string> meta;
  if (!r.data_spec.empty()) meta.push_back("data `" + r.data_spec + "`" + (r.eval_samples ? " (" + r.eval_samples.raw + " eval samples)" : ""));
  if (!r.model_task.empty()) meta.push_back(r.model_task + ", metric " + r.metric);
  if (!r.search_mode.empty()) meta.push_back("search " + r.search_mode);
  if (r.search_evaluated) meta.push_back(r.search_evaluated.raw + " candidates evaluated");
  if (r.search_elapsed_s) meta.push_back("in " + fmt_sig(r.search_elapsed_s.v, 3) + " s");
  if (r.search_resumed) meta.push_back(*r.search_resumed ? "resumed" : "not resumed");
  if (r.seed) meta.push_back("seed " + r.seed.raw);
  if (r.threads) meta.push_back(r.threads.raw + " thread(s)");
  if (!r.created.empty()) meta.push_back(r.created);
  if (!r.edgeopt_version.empty()) meta.push_back("edgeopt " + r.edgeopt_version);
  if (!meta.empty()) o << join(meta, " · ") << "\n\n";

  o << "Numbers marked *(estimate)* come from the roofline model of the hardware profile "
       "(docs/hardware-profiles.md); all others were measured.\n\n";

  o << "## Budgets\n\n| budget | value |\n|---|---|\n"
    << "| max latency (ms) | " << (r.max_latency_ms ? r.max_latency_ms.raw : "none") << " |\n"
    << "| max size (MB) | " << (r.max_size_mb ? r.max_size_mb.raw : "none") << " |\n"
    << "| max accuracy drop (points) | " << (r.max_accuracy_drop ? r.max_accuracy_drop.raw : "none") << " |\n\n";

  if (r.baseline || r.best) {
    o << "## Baseline vs best\n\n| | " << mname
      << " | drop (pt) | latency p50 (ms) | p99 (ms) | size | peak memory (MB) | energy / inference (mJ) | ONNX Runtime fp32 (ms) |\n"
      << "|---|---|---|---|---|---|---|---|---|\n";
    for (const auto* c : {&r.baseline, &r.best}) {
      if (!*c) continue;
      const Card& k = **c;
      o << "| " << (c == &r.baseline ? "baseline" : "best") << (k.id.empty() ? "" : " `" + cell(k.id) + "`") << " | "
        << fmt_metric(k.metric(rmse), rmse) << " | " << fmt(k.accuracy_drop_points, 2) << " | "
        << with_source(sig_or_na(k.latency_ms), k.latency_source) << " | "
        << with_source(sig_or_na(k.latency_p99_ms), k.latency_source) << " | " << fmt_mb_from_bytes(k.size_bytes)
        << " | " << sig_or_na(k.peak_memory_mb) << " | "
        << with_source(sig_or_na(k.energy_mj_per_inference), k.energy_source) << " | "
        << (k.ort_fp32_latency_ms ? fmt_sig(k.ort_fp32_latency_ms.v, 3) : "") << " |\n";
    }
    o << "\n";
    if (r.baseline && r.best) {
      const Card &a = *r.baseline, &b = *r.best;
      if (a.latency_ms && b.latency_ms && b.latency_ms.v > 0)
        o << "- latency: " << fmt_sig(a.latency_ms.v / b.latency_ms.v, 3) << "x faster than the baseline";
      if (a.ort_fp32_latency_ms && b.latency_ms && b.latency_ms.v > 0)
        o << ", " << fmt_sig(a.ort_fp32_latency_ms.v / b.latency_ms.v, 3) << "x faster than ONNX Runtime fp32";
      if (a.latency_ms && b.latency_ms) o << "\n";
      if (a.size_bytes && b.size_bytes && a.size_bytes.v > 0)
        o << "- size: " << fmt_sig(100.0 * (1 - b.size_bytes.v / a.size_bytes.v), 3) << "% smaller\n";
      if (b.accuracy_drop_points) o << "- " << mname << " drop: " << fmt(b.accuracy_drop_points, 2) << " points\n";
      if (!b.steps.empty()) o << "- best recipe (`" << b.id << "`): " << join(b.steps, " → ") << "\n";
      o << "\n";
    }
  }

  if (!r.candidates.empty()) {
    o << "## Candidates\n\n| id | name | steps | " << mname
      << " | drop (pt) | latency p50 (ms) | size | energy (mJ) | status | Pareto | reject reasons |\n"
      << "|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& c : r.candidates) {
      o << "| " << cell(c.id) << " | " << cell(c.name) << " | " << cell(join(c.steps, " → ")) << " | "
        << fmt_metric(c.metric(rmse), rmse) << " | " << fmt(c.accuracy_drop_points, 2) << " | "
        << with_source(sig_or_na(c.latency_ms), c.latency_source) << " | " << fmt_mb_from_bytes(c.size_bytes) << " | "
        << with_source(sig_or_na(c.energy_mj_per_inference), c.energy_source) << " | " << cell(c.status) << " | "
        << (c.pareto ? "yes" : "") << " | " << cell(join(c.reject_reasons, "; ")) << " |\n";
    }
    o << "\n";
  }

  if (!r.platforms.empty()) {
    o << "## Per platform\n\n| platform | variant | dtype | latency (ms) | throughput (/s) | power (W) | "
         "energy / inference (mJ) | memory (MB) | source |\n|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& p : r.platforms) {
      const auto v = [&](const Num& n) { return with_source(sig_or_na(n), p.estimate() ? "estimate" : "measured"); };
      o << "| " << cell(p.platform) << " | " << cell(p.variant) << " | " << cell(p.dtype) << " | " << v(p.latency_ms)
        << " | " << v(p.throughput_per_s) << " | " << v(p.power_w) << " | " << v(p.energy_mj_per_inference) << " | "
        << v(p.memory_mb) << " | " << (p.estimate() ? "estimate" : "measured") << " |\n";
    }
    o << "\n";
  }

  if (!r.layers.empty()) {
    std::vector<const Layer*> ls;
    for (const auto& l : r.layers) ls.push_back(&l);
    std::stable_sort(ls.begin(), ls.end(), [](const Layer* a, const Layer* b) {
      return (a->baseline_ms ? a->baseline_ms.v : 0) > (b->baseline_ms ? b->baseline_ms.v : 0);
    });
    o << "## Per layer (slowest first)\n\n| layer | op | baseline (ms) | best (ms) |\n|---|---|---|---|\n";
    for (const Layer* l : ls)
      o << "| " << cell(l->name) << " | " << cell(l->op_type) << " | " << sig_or_na(l->baseline_ms) << " | "
        << (l->best_ms ? fmt_sig(l->best_ms.v, 3) : "n/a (removed or fused)") << " |\n";
    o << "\n";
  }

  if (!r.target.empty()) {
    o << "## Target\n\n| field | value |\n|---|---|\n";
    for (const auto& [k, v] : r.target) o << "| " << cell(k) << " | " << cell(v) << " |\n";
    o << "\n";
  }
  return o.str();
}

}  // namespace edgeopt::report

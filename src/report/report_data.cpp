#include "report/report_data.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace edgeopt::report::detail {
namespace {

using nlohmann::json;

[[noreturn]] void bad_type(const std::string& path, const char* want, const json& got) {
  throw_error(ErrorCode::kInvalidArgument,
              "report." + path + ": expected " + want + ", got " + std::string(got.type_name()));
}

// The member `key` of `obj`, or nullptr when absent or null.
const json* field(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

const json* object_field(const json& obj, const char* key, const std::string& path) {
  const json* f = field(obj, key);
  if (f && !f->is_object()) bad_type(path, "an object", *f);
  return f;
}

Num num(const json& obj, const char* key, const std::string& path) {
  Num n;
  const json* f = field(obj, key);
  if (!f) return n;
  if (!f->is_number()) bad_type(path, "a number", *f);
  n.v = f->get<double>();
  // A NaN/inf set in C++ is written to report.json as null: read it as absent here too.
  if (!std::isfinite(n.v)) return Num{};
  n.has = true;
  n.raw = f->dump();
  return n;
}

std::string str(const json& obj, const char* key, const std::string& path) {
  const json* f = field(obj, key);
  if (!f) return {};
  if (!f->is_string()) bad_type(path, "a string", *f);
  return f->get<std::string>();
}

std::vector<std::string> str_list(const json& obj, const char* key, const std::string& path) {
  std::vector<std::string> v;
  const json* f = field(obj, key);
  if (!f) return v;
  if (!f->is_array()) bad_type(path, "an array of strings", *f);
  for (size_t i = 0; i < f->size(); ++i) {
    const json& e = (*f)[i];
    if (!e.is_string()) bad_type(path + "[" + std::to_string(i) + "]", "a string", e);
    v.push_back(e.get<std::string>());
  }
  return v;
}

std::optional<bool> boolean(const json& obj, const char* key, const std::string& path) {
  const json* f = field(obj, key);
  if (!f) return std::nullopt;
  if (!f->is_boolean()) bad_type(path, "a boolean", *f);
  return f->get<bool>();
}

Card read_card(const json& c, const std::string& path) {
  if (!c.is_object()) bad_type(path, "an object", c);
  const auto p = [&](const char* k) { return path + "." + k; };
  Card card;
  card.id = str(c, "id", p("id"));
  card.name = str(c, "name", p("name"));
  card.status = str(c, "status", p("status"));
  card.latency_source = str(c, "latency_source", p("latency_source"));
  card.energy_source = str(c, "energy_source", p("energy_source"));
  card.path = str(c, "path", p("path"));
  card.steps = str_list(c, "steps", p("steps"));
  card.reject_reasons = str_list(c, "reject_reasons", p("reject_reasons"));
  card.accuracy = num(c, "accuracy", p("accuracy"));
  card.rmse = num(c, "rmse", p("rmse"));
  card.accuracy_drop_points = num(c, "accuracy_drop_points", p("accuracy_drop_points"));
  card.latency_ms = num(c, "latency_ms", p("latency_ms"));
  card.latency_p99_ms = num(c, "latency_p99_ms", p("latency_p99_ms"));
  card.size_bytes = num(c, "size_bytes", p("size_bytes"));
  card.peak_memory_mb = num(c, "peak_memory_mb", p("peak_memory_mb"));
  card.energy_mj_per_inference = num(c, "energy_mj_per_inference", p("energy_mj_per_inference"));
  card.ort_fp32_latency_ms = num(c, "ort_fp32_latency_ms", p("ort_fp32_latency_ms"));
  card.pareto = boolean(c, "pareto", p("pareto")).value_or(false);
  return card;
}

// A scalar or a list of scalars as one line of text (the target section is free-form).
std::string display(const json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_array()) {
    std::string s;
    for (const auto& e : v) s += (s.empty() ? "" : ", ") + display(e);
    return s;
  }
  if (v.is_object()) {
    std::string s;
    for (auto it = v.begin(); it != v.end(); ++it) s += (s.empty() ? "" : "; ") + it.key() + ": " + display(*it);
    return s;
  }
  return v.dump();
}

}  // namespace

ReportData read_report(const json& j) {
  if (!j.is_object())
    throw_error(ErrorCode::kInvalidArgument, std::string("report: expected a JSON object, got ") + j.type_name());
  ReportData r;
  r.edgeopt_version = str(j, "edgeopt_version", "edgeopt_version");
  r.created = str(j, "created", "created");
  r.seed = num(j, "seed", "seed");
  r.threads = num(j, "threads", "threads");
  if (const json* m = object_field(j, "model", "model")) {
    r.model_name = str(*m, "name", "model.name");
    r.model_path = str(*m, "path", "model.path");
    r.model_task = str(*m, "task", "model.task");
    r.metric = str(*m, "metric", "model.metric");
  }
  if (r.metric.empty()) r.metric = r.model_task == "classification" || r.model_task.empty() ? "accuracy" : "rmse";
  if (r.metric != "accuracy" && r.metric != "rmse")
    throw_error(ErrorCode::kInvalidArgument, "report.model.metric: expected \"accuracy\" or \"rmse\", got \"" + r.metric + "\"");
  if (const json* d = object_field(j, "data", "data")) {
    r.data_spec = str(*d, "spec", "data.spec");
    r.eval_samples = num(*d, "eval_samples", "data.eval_samples");
  }
  if (const json* t = object_field(j, "target", "target")) {
    r.target_name = str(*t, "name", "target.name");
    r.target_source = str(*t, "source", "target.source");
    for (auto it = t->begin(); it != t->end(); ++it)
      if (!it->is_null()) r.target.emplace_back(it.key(), display(*it));
  }
  if (const json* b = object_field(j, "budgets", "budgets")) {
    r.max_latency_ms = num(*b, "max_latency_ms", "budgets.max_latency_ms");
    r.max_size_mb = num(*b, "max_size_mb", "budgets.max_size_mb");
    r.max_accuracy_drop = num(*b, "max_accuracy_drop", "budgets.max_accuracy_drop");
  }
  if (const json* b = field(j, "baseline")) r.baseline = read_card(*b, "baseline");
  if (const json* b = field(j, "best")) r.best = read_card(*b, "best");
  if (const json* cs = field(j, "candidates")) {
    if (!cs->is_array()) bad_type("candidates", "an array", *cs);
    for (size_t i = 0; i < cs->size(); ++i) r.candidates.push_back(read_card((*cs)[i], "candidates[" + std::to_string(i) + "]"));
  }
  if (const json* ps = field(j, "platforms")) {
    if (!ps->is_array()) bad_type("platforms", "an array", *ps);
    for (size_t i = 0; i < ps->size(); ++i) {
      const json& e = (*ps)[i];
      const std::string p = "platforms[" + std::to_string(i) + "]";
      if (!e.is_object()) bad_type(p, "an object", e);
      Platform pl;
      pl.platform = str(e, "platform", p + ".platform");
      pl.variant = str(e, "variant", p + ".variant");
      pl.dtype = str(e, "dtype", p + ".dtype");
      pl.source = str(e, "source", p + ".source");
      pl.latency_ms = num(e, "latency_ms", p + ".latency_ms");
      pl.throughput_per_s = num(e, "throughput_per_s", p + ".throughput_per_s");
      pl.power_w = num(e, "power_w", p + ".power_w");
      pl.energy_mj_per_inference = num(e, "energy_mj_per_inference", p + ".energy_mj_per_inference");
      pl.memory_mb = num(e, "memory_mb", p + ".memory_mb");
      r.platforms.push_back(std::move(pl));
    }
  }
  if (const json* ls = field(j, "layers")) {
    if (!ls->is_array()) bad_type("layers", "an array", *ls);
    for (size_t i = 0; i < ls->size(); ++i) {
      const json& e = (*ls)[i];
      const std::string p = "layers[" + std::to_string(i) + "]";
      if (!e.is_object()) bad_type(p, "an object", e);
      Layer l;
      l.name = str(e, "name", p + ".name");
      l.op_type = str(e, "op_type", p + ".op_type");
      l.baseline_ms = num(e, "baseline_ms", p + ".baseline_ms");
      l.best_ms = num(e, "best_ms", p + ".best_ms");
      r.layers.push_back(std::move(l));
    }
  }
  if (const json* s = object_field(j, "search", "search")) {
    r.search_mode = str(*s, "mode", "search.mode");
    r.search_evaluated = num(*s, "evaluated", "search.evaluated");
    r.search_elapsed_s = num(*s, "elapsed_s", "search.elapsed_s");
    r.search_resumed = boolean(*s, "resumed", "search.resumed");
  }
  return r;
}

std::string fmt(const Num& n, int decimals) {
  if (!n) return "n/a";
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, n.v);
  return buf;
}

std::string fmt_sig(double v, int significant) {
  if (v == 0) return "0";
  const double a = std::fabs(v);
  const int digits = static_cast<int>(std::floor(std::log10(a))) + 1;  // before the point
  const int decimals = std::max(0, significant - digits);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.*f", decimals, v);
  return buf;
}

std::string fmt_metric(const Num& n, bool rmse) {
  if (!n) return "n/a";
  if (rmse) return fmt_sig(n.v, 4);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f%%", 100.0 * n.v);
  return buf;
}

std::string fmt_mb_from_bytes(const Num& bytes) {
  if (!bytes) return "n/a";
  return fmt_sig(bytes.v / 1e6, 3) + " MB";
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
  return s;
}

}  // namespace edgeopt::report::detail

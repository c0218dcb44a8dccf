#include "control/policy.h"

#include <charconv>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "optimize/recipe.h"

namespace edgeopt::control {

namespace {

using json = nlohmann::json;

}  // namespace

Policy parse_policy(const std::string& text, const std::string& origin) {
  Policy p;
  p.origin = origin;
  // The recipes' bounded YAML reader: a policy is a user file too (alias cycles, alias bombs).
  const json j = optimize::yaml_text_to_json(text, "policy '" + origin + "'");
  if (!j.is_object()) throw_error(ErrorCode::kInvalidArgument, "policy '" + origin + "': the top level must be a mapping");
  auto fail = [&](const std::string& key, const std::string& why) {
    throw_error(ErrorCode::kInvalidArgument, "policy '" + origin + "': '" + key + "' " + why);
  };
  auto num = [&](const json& v, const std::string& key, double lo) {
    if (!v.is_number()) fail(key, "must be a number");
    const double d = v.get<double>();
    if (!(d >= lo)) fail(key, "must be >= " + std::to_string(lo) + ", got " + v.dump());
    return d;
  };
  auto boolean = [&](const json& v, const std::string& key) {
    if (!v.is_boolean()) fail(key, "must be true or false");
    return v.get<bool>();
  };
  using Setter = std::function<void(const json&, const std::string&)>;
  const std::map<std::string, std::map<std::string, Setter>> sections = {
      {"", {{"model", [&](const json& v, const std::string& k) {
               if (!v.is_string() || v.get<std::string>().empty()) fail(k, "must be a model name");
               p.model = v.get<std::string>();
             }},
            {"tick_s", [&](const json& v, const std::string& k) { p.tick_s = num(v, k, 0.01); }},
            {"cooldown_s", [&](const json& v, const std::string& k) { p.cooldown_s = num(v, k, 0); }},
            {"breach_ticks", [&](const json& v, const std::string& k) { p.breach_ticks = static_cast<int>(num(v, k, 1)); }},
            {"log", [&](const json& v, const std::string& k) {
               if (!v.is_string()) fail(k, "must be a file path");
               p.log_path = v.get<std::string>();
             }}}},
      {"latency", {{"p99_budget_ms", [&](const json& v, const std::string& k) { p.p99_budget_ms = num(v, k, 0); }},
                   {"window_s", [&](const json& v, const std::string& k) { p.latency_window_s = num(v, k, 0.1); }},
                   {"min_samples", [&](const json& v, const std::string& k) { p.latency_min_samples = static_cast<size_t>(num(v, k, 1)); }},
                   {"restore_fraction", [&](const json& v, const std::string& k) { p.restore_fraction = num(v, k, 0); }},
                   {"restore_after_s", [&](const json& v, const std::string& k) { p.restore_after_s = num(v, k, 0); }}}},
      {"accuracy", {{"floor", [&](const json& v, const std::string& k) { p.accuracy_floor = num(v, k, 0); }},
                    {"min_labels", [&](const json& v, const std::string& k) { p.min_labels = static_cast<size_t>(num(v, k, 1)); }},
                    {"rollback_margin", [&](const json& v, const std::string& k) { p.rollback_margin = num(v, k, 0); }},
                    {"rollback_min_labels", [&](const json& v, const std::string& k) { p.rollback_min_labels = static_cast<size_t>(num(v, k, 1)); }}}},
      {"drift", {{"psi_threshold", [&](const json& v, const std::string& k) { p.drift_psi_threshold = num(v, k, 0); }}}},
      {"energy", {{"budget_mj", [&](const json& v, const std::string& k) { p.energy_budget_mj = num(v, k, 0); }}}},
      {"actions", {{"switch", [&](const json& v, const std::string& k) { p.allow_switch = boolean(v, k); }},
                   {"recalibrate", [&](const json& v, const std::string& k) { p.allow_recalibrate = boolean(v, k); }},
                   {"finetune", [&](const json& v, const std::string& k) { p.allow_finetune = boolean(v, k); }},
                   {"resplit", [&](const json& v, const std::string& k) { p.allow_resplit = boolean(v, k); }}}},
      {"split", {{"fallback_fraction", [&](const json& v, const std::string& k) {
                    p.split_fallback_fraction = num(v, k, 0.01);
                    if (p.split_fallback_fraction > 1) fail(k, "must be <= 1");
                  }},
                 {"restore_after_s", [&](const json& v, const std::string& k) { p.split_restore_after_s = num(v, k, 0); }}}},
      {"finetune", {{"epochs", [&](const json& v, const std::string& k) { p.finetune_epochs = static_cast<int>(num(v, k, 1)); }},
                    {"lr", [&](const json& v, const std::string& k) { p.finetune_lr = num(v, k, 1e-9); }},
                    {"batch", [&](const json& v, const std::string& k) { p.finetune_batch = static_cast<int64_t>(num(v, k, 1)); }},
                    {"max_samples", [&](const json& v, const std::string& k) { p.max_samples = static_cast<size_t>(num(v, k, 10)); }},
                    {"min_samples", [&](const json& v, const std::string& k) { p.min_samples = static_cast<size_t>(num(v, k, 10)); }},
                    {"holdout_fraction", [&](const json& v, const std::string& k) {
                       p.holdout_fraction = num(v, k, 0.05);
                       if (p.holdout_fraction > 0.5) fail(k, "must be <= 0.5");
                     }},
                    {"min_gain", [&](const json& v, const std::string& k) { p.min_gain = num(v, k, 0); }},
                    {"since_breach", [&](const json& v, const std::string& k) { p.since_breach = boolean(v, k); }},
                    {"layers", [&](const json& v, const std::string& k) {
                       if (!v.is_string() || (v != "all" && v != "first")) fail(k, "must be 'all' or 'first'");
                       p.finetune_layers = v.get<std::string>();
                     }}}},
      {"recalibrate", {{"samples", [&](const json& v, const std::string& k) { p.calib_samples = static_cast<size_t>(num(v, k, 8)); }}}},
  };
  for (const auto& [key, value] : j.items()) {
    const auto& top = sections.at("");
    if (auto it = top.find(key); it != top.end()) {
      it->second(value, key);
      continue;
    }
    auto sec = sections.find(key);
    if (sec == sections.end() || key.empty()) {
      std::string known;
      for (const auto& [s, m] : sections)
        for (const auto& [k, f] : m) known += (known.empty() ? "" : ", ") + (s.empty() ? k : s + "." + k);
      fail(key, "is not a policy key (known: " + known + ")");
    }
    if (!value.is_object()) fail(key, "must be a mapping");
    for (const auto& [k, v] : value.items()) {
      auto f = sec->second.find(k);
      if (f == sec->second.end()) fail(key + "." + k, "is not a policy key");
      f->second(v, key + "." + k);
    }
  }
  if (p.model.empty()) throw_error(ErrorCode::kInvalidArgument, "policy '" + origin + "': 'model' is required");
  if (p.min_samples > p.max_samples) fail("finetune.min_samples", "must be <= finetune.max_samples");
  return p;
}

Policy load_policy(const std::string& path) {
  std::ifstream f(path);
  if (!f) throw_error(ErrorCode::kNotFound, "policy file '" + path + "' cannot be read");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_policy(ss.str(), path);
}

}  // namespace edgeopt::control

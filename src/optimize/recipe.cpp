#include "optimize/recipe.h"

#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <yaml-cpp/yaml.h>

#include "core/error.h"

namespace edgeopt::optimize {

namespace {

// A recipe is a few levels deep and a few hundred nodes; YAML aliases can make a node its own
// descendant (`a: &x [*x]`, endless recursion) or expand exponentially ("billion laughs"), so the
// conversion stops at these bounds (found by the recipe_parse fuzzer).
constexpr int kMaxYamlDepth = 64;
constexpr int64_t kMaxYamlNodes = 100000;

struct YamlBudget {
  int64_t nodes_left = kMaxYamlNodes;
};

// YAML -> JSON. Plain scalars get their natural type (int, float, bool, null); quoted ones stay strings.
nlohmann::json yaml_to_json(const YAML::Node& n, int depth, YamlBudget& budget) {
  if (depth > kMaxYamlDepth)
    throw_error(ErrorCode::kInvalidArgument, "nested deeper than " + std::to_string(kMaxYamlDepth) +
                                                 " levels (or an alias refers to its own ancestor)");
  if (--budget.nodes_left < 0)
    throw_error(ErrorCode::kInvalidArgument, "more than " + std::to_string(kMaxYamlNodes) +
                                                 " values once aliases are expanded");
  switch (n.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined: return nullptr;
    case YAML::NodeType::Sequence: {
      nlohmann::json a = nlohmann::json::array();
      for (const auto& e : n) a.push_back(yaml_to_json(e, depth + 1, budget));
      return a;
    }
    case YAML::NodeType::Map: {
      nlohmann::json o = nlohmann::json::object();
      for (const auto& kv : n) o[kv.first.as<std::string>()] = yaml_to_json(kv.second, depth + 1, budget);
      return o;
    }
    case YAML::NodeType::Scalar: break;
  }
  const std::string s = n.Scalar();
  if (n.Tag() == "!") return s;  // quoted
  if (s == "true" || s == "True" || s == "yes") return true;
  if (s == "false" || s == "False" || s == "no") return false;
  if (s == "null" || s == "~") return nullptr;
  int64_t i = 0;
  auto [pi, ei] = std::from_chars(s.data(), s.data() + s.size(), i);
  if (ei == std::errc() && pi == s.data() + s.size()) return i;
  double d = 0;
  auto [pd, ed] = std::from_chars(s.data(), s.data() + s.size(), d);
  if (ed == std::errc() && pd == s.data() + s.size()) return d;
  return s;
}

// The knobs each step accepts and their JSON type.
enum class Kind { kNumber, kBool, kString };
const std::map<std::string, std::map<std::string, Kind>>& step_schema() {
  static const std::map<std::string, std::map<std::string, Kind>> s = {
      {"prune", {{"flops_ratio", Kind::kNumber}, {"sparsity", Kind::kNumber}, {"criterion", Kind::kString},
                 {"global", Kind::kBool}, {"channel_multiple", Kind::kNumber}}},
      {"factorize", {{"energy", Kind::kNumber}, {"flops_ratio", Kind::kNumber}, {"tucker_rank", Kind::kString},
                     {"conv_method", Kind::kString}, {"svd", Kind::kBool}, {"tucker", Kind::kBool}}},
      {"student", {{"zoo", Kind::kString}, {"width", Kind::kNumber}, {"depth", Kind::kNumber}}},
      {"fine_tune", {{"epochs", Kind::kNumber}, {"lr", Kind::kNumber}, {"distill", Kind::kBool},
                     {"alpha", Kind::kNumber}, {"temperature", Kind::kNumber}}},
      {"quantize", {{"dtype", Kind::kString}, {"method", Kind::kString}, {"calib", Kind::kString},
                    {"per_channel", Kind::kBool}, {"calib_samples", Kind::kNumber},
                    {"max_accuracy_drop", Kind::kNumber}, {"epochs", Kind::kNumber}}},
  };
  return s;
}

void check_one_of(const nlohmann::json& args, const char* key, std::set<std::string> allowed, const std::string& where) {
  if (!args.contains(key)) return;
  const std::string v = args[key].get<std::string>();
  if (allowed.count(v)) return;
  std::string list;
  for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
  throw_error(ErrorCode::kInvalidArgument, where + ": " + key + " must be one of " + list + ", got '" + v + "'");
}

void check_range(const nlohmann::json& args, const char* key, double lo, double hi, const std::string& where,
                 bool lo_open = true) {
  if (!args.contains(key)) return;
  const double v = args[key].get<double>();
  if ((lo_open ? v > lo : v >= lo) && v <= hi) return;
  std::ostringstream m;
  m << where << ": " << key << " must be in " << (lo_open ? "(" : "[") << lo << ", " << hi << "], got " << v;
  throw_error(ErrorCode::kInvalidArgument, m.str());
}

std::string fmt_value(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_float()) {
    std::ostringstream o;
    o << v.get<double>();
    return o.str();
  }
  return v.dump();
}

}  // namespace

std::string Step::describe() const {
  std::string s = op;
  for (const auto& [k, v] : args.items()) s += " " + k + "=" + fmt_value(v);  // json objects iterate sorted
  return s;
}

std::string Recipe::key() const {
  std::string k;
  for (const auto& s : steps) k += (k.empty() ? "" : " | ") + s.describe();
  return k;
}

nlohmann::json Recipe::to_json() const {
  nlohmann::json steps_j = nlohmann::json::array();
  for (const auto& s : steps) steps_j.push_back({{s.op, s.args}});
  return {{"name", name}, {"steps", steps_j}};
}

void validate_step(const Step& s, const std::string& where) {
  const auto& schema = step_schema();
  auto it = schema.find(s.op);
  if (it == schema.end()) {
    std::string known;
    for (const auto& [k, _] : schema) known += (known.empty() ? "" : ", ") + k;
    throw_error(ErrorCode::kInvalidArgument, where + ": unknown step '" + s.op + "' (known: " + known + ")");
  }
  EDGEOPT_CHECK_ARG(s.args.is_object(), where + ": the knobs of '" + s.op + "' must be a mapping, got " + s.args.dump());
  for (const auto& [k, v] : s.args.items()) {
    auto f = it->second.find(k);
    if (f == it->second.end()) {
      std::string known;
      for (const auto& [name, _] : it->second) known += (known.empty() ? "" : ", ") + name;
      throw_error(ErrorCode::kInvalidArgument,
                  where + ": '" + s.op + "' has no field '" + k + "' (fields: " + known + ")");
    }
    const bool ok = f->second == Kind::kNumber ? v.is_number() : f->second == Kind::kBool ? v.is_boolean() : v.is_string();
    const char* want = f->second == Kind::kNumber ? "a number" : f->second == Kind::kBool ? "true or false" : "a string";
    EDGEOPT_CHECK_ARG(ok, where + ": " + s.op + "." + k + " must be " + want + ", got " + v.dump());
  }
  const auto& a = s.args;
  if (s.op == "prune") {
    EDGEOPT_CHECK_ARG(!(a.contains("flops_ratio") && a.contains("sparsity")),
                      where + ": prune takes flops_ratio (structured) or sparsity (unstructured), not both");
    check_range(a, "flops_ratio", 0, 0.999, where);
    check_range(a, "sparsity", 0, 0.999, where);
    check_one_of(a, "criterion", {"l1", "l2", "bn_scale"}, where);
    check_range(a, "channel_multiple", 1, 1024, where, /*lo_open=*/false);
    EDGEOPT_CHECK_ARG(!a.contains("channel_multiple") ||
                          a["channel_multiple"].get<double>() == std::floor(a["channel_multiple"].get<double>()),
                      where + ": prune.channel_multiple must be a whole number, got " + a["channel_multiple"].dump());
    EDGEOPT_CHECK_ARG(!a.contains("channel_multiple") || a.contains("flops_ratio"),
                      where + ": prune.channel_multiple needs flops_ratio (structured pruning)");
  } else if (s.op == "factorize") {
    check_range(a, "energy", 0, 1, where);
    check_range(a, "flops_ratio", 0, 0.999, where);
    check_one_of(a, "tucker_rank", {"energy", "vbmf"}, where);
    check_one_of(a, "conv_method", {"tucker2", "cp"}, where);
  } else if (s.op == "student") {
    EDGEOPT_CHECK_ARG(a.contains("zoo"), where + ": student needs zoo (a zoo model name)");
    check_range(a, "width", 0, 1e6, where);
    check_range(a, "depth", 0, 1e3, where);
  } else if (s.op == "fine_tune") {
    check_range(a, "epochs", 0, 1e4, where, /*lo_open=*/false);
    check_range(a, "lr", 0, 10, where);
    check_range(a, "alpha", 0, 1, where, false);
    check_range(a, "temperature", 0, 100, where);
  } else if (s.op == "quantize") {
    check_one_of(a, "dtype", {"int8", "fp16", "bf16"}, where);
    check_one_of(a, "method", {"ptq", "qat"}, where);
    check_one_of(a, "calib", {"minmax", "moving_average", "percentile", "entropy", "mse"}, where);
    check_range(a, "calib_samples", 0, 1e7, where);
    check_range(a, "max_accuracy_drop", 0, 100, where, false);
    check_range(a, "epochs", 0, 1e4, where);
    EDGEOPT_CHECK_ARG(a.value("dtype", "int8") == "int8" || !a.contains("method"),
                      where + ": method applies to dtype int8 only");
  }
}

std::vector<Recipe> recipes_from_json(const nlohmann::json& j, const std::string& source) {
  EDGEOPT_CHECK_ARG(j.is_object(), source + ": a recipe file is a mapping with 'steps' or 'candidates'");
  nlohmann::json cands;
  if (j.contains("candidates")) {
    cands = j["candidates"];
    EDGEOPT_CHECK_ARG(cands.is_array() && !cands.empty(), source + ": 'candidates' must be a non-empty list");
  } else if (j.contains("steps")) {
    EDGEOPT_CHECK_ARG(!j.contains("name") || j["name"].is_string(), source + ": 'name' must be a string, got a " +
                                                                         std::string(j["name"].type_name()));
    const nlohmann::json name = j.contains("name") ? j["name"] : nlohmann::json("recipe");
    cands = nlohmann::json::array({{{"name", name}, {"steps", j["steps"]}}});
  } else {
    throw_error(ErrorCode::kInvalidArgument, source + ": a recipe file needs 'steps' (one candidate) or 'candidates'");
  }
  std::vector<Recipe> out;
  std::set<std::string> names;
  for (size_t c = 0; c < cands.size(); ++c) {
    const auto& cj = cands[c];
    const std::string cwhere = source + ": candidate " + std::to_string(c + 1);
    EDGEOPT_CHECK_ARG(cj.is_object() && cj.contains("steps"), cwhere + " needs 'steps'");
    Recipe r;
    r.name = cj.contains("name") && cj["name"].is_string() ? cj["name"].get<std::string>() : "candidate" + std::to_string(c + 1);
    EDGEOPT_CHECK_ARG(names.insert(r.name).second, cwhere + ": the name '" + r.name + "' is used twice");
    const auto& steps = cj["steps"];
    EDGEOPT_CHECK_ARG(steps.is_array() && !steps.empty(), cwhere + " ('" + r.name + "'): 'steps' must be a non-empty list");
    for (size_t i = 0; i < steps.size(); ++i) {
      const std::string where = cwhere + " ('" + r.name + "') step " + std::to_string(i + 1);
      const auto& sj = steps[i];
      Step s;
      if (sj.is_string()) {  // "- fine_tune" with all defaults
        s.op = sj.get<std::string>();
        s.args = nlohmann::json::object();
      } else {
        EDGEOPT_CHECK_ARG(sj.is_object() && sj.size() == 1,
                          where + ": a step is one mapping '<op>: {knobs}', got " + sj.dump());
        s.op = sj.begin().key();
        s.args = sj.begin().value().is_null() ? nlohmann::json::object() : sj.begin().value();
      }
      validate_step(s, where);
      EDGEOPT_CHECK_ARG(r.steps.empty() || r.steps.back().op != "quantize",
                        where + ": quantize must be the last step (a quantized model is not trained further)");
      r.steps.push_back(std::move(s));
    }
    out.push_back(std::move(r));
  }
  return out;
}

// The offset of the first byte that is not valid UTF-8, or npos. Recipes end up in JSON reports,
// whose writer throws on invalid UTF-8, so such bytes are refused at the door.
static size_t invalid_utf8_at(const std::string& s) {
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 0 : (c >> 5) == 0x6 ? 1 : (c >> 4) == 0xE ? 2 : (c >> 3) == 0x1E ? 3 : 99;
    if (n == 99 || c == 0xC0 || c == 0xC1 || c > 0xF4 || i + n >= s.size() + (n ? 0 : 1)) return i;
    uint32_t cp = n == 0 ? c : c & (0x3F >> n);
    for (size_t k = 1; k <= n; ++k) {
      const auto d = static_cast<unsigned char>(s[i + k]);
      if ((d >> 6) != 0x2) return i;
      cp = (cp << 6) | (d & 0x3F);
    }
    if ((n == 2 && cp < 0x800) || (n == 3 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF)) return i;
    i += n + 1;
  }
  return std::string::npos;
}

nlohmann::json yaml_text_to_json(const std::string& text, const std::string& source) {
  try {
    // yaml_to_json converts too (a map key that is not a scalar throws YAML's conversion error).
    YamlBudget budget;
    return yaml_to_json(YAML::Load(text), 0, budget);
  } catch (const YAML::Exception& e) {
    throw_error(ErrorCode::kInvalidArgument, source + ":" + std::to_string(e.mark.line + 1) + ":" +
                                                 std::to_string(e.mark.column + 1) + ": " + e.msg);
  } catch (const Error& e) {
    throw_error(ErrorCode::kInvalidArgument, source + ": " + e.message());
  }
}

std::vector<Recipe> parse_recipes(const std::string& text, const std::string& source) {
  if (const size_t bad = invalid_utf8_at(text); bad != std::string::npos)
    throw_error(ErrorCode::kInvalidArgument, source + ": byte " + std::to_string(bad) + " is not valid UTF-8");
  const nlohmann::json j = yaml_text_to_json(text, source);
  std::vector<Recipe> out;
  try {
    out = recipes_from_json(j, source);
  } catch (const nlohmann::json::exception& e) {
    // A value of an unexpected JSON type that a check above missed: still the file's fault.
    throw_error(ErrorCode::kInvalidArgument, source + ": " + e.what());
  }
  return out;
}

std::vector<Recipe> load_recipes(const std::string& path) {
  if (!std::filesystem::exists(path)) throw_error(ErrorCode::kNotFound, "recipe file not found: " + path);
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_error(ErrorCode::kNotFound, "cannot read recipe file " + path);
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_recipes(ss.str(), path);
}

const char* family_name(Family f) {
  switch (f) {
    case Family::kConvNet: return "convnet";
    case Family::kRecurrent: return "recurrent";
    case Family::kMlp: return "mlp";
  }
  return "?";
}

std::vector<Recipe> auto_recipes(Family f, const std::string& zoo_name, const AutoOptions& o) {
  using J = nlohmann::json;
  auto step = [](const char* op, J args) { return Step{op, std::move(args)}; };
  const Step int8 = step("quantize", {{"dtype", "int8"}, {"method", "ptq"}, {"calib", "percentile"}, {"per_channel", true}});
  const Step ft = step("fine_tune", {{"epochs", o.fine_tune_epochs}, {"distill", true}});
  // Conv nets' pruned models get half as many epochs again: vision_cnn's prune50 (24/40/80) still
  // improved in its 4th epoch and its validation drop (0.33 point, 90% bound 0.57) missed the
  // budget while its test drop was 0.00.
  const int prune_epochs = o.fine_tune_epochs + (o.fine_tune_epochs + 1) / 2;
  const Step ft_prune =
      f == Family::kConvNet ? step("fine_tune", {{"epochs", prune_epochs}, {"distill", true}}) : ft;
  std::vector<Recipe> r;
  r.push_back({"int8-minmax", {step("quantize", {{"dtype", "int8"}, {"method", "ptq"}, {"calib", "minmax"}, {"per_channel", true}})}});
  r.push_back({"int8-percentile", {int8}});
  r.push_back({"fp16", {step("quantize", {{"dtype", "fp16"}})}});
  // Structural candidates, each in fp32 (to see what the structure alone buys) and in int8.
  auto add_structural = [&](const std::string& name, std::vector<Step> s) {
    r.push_back({name, s});
    s.push_back(int8);
    r.push_back({name + "+int8", s});
  };
  // Gradual: each smaller model is pruned from the previous one after its fine-tuning (the FLOP
  // ratio of a prune step is relative to the model it gets), so prune20 has had three rounds of
  // fine-tuning for the price of one more.
  const std::vector<double> ratios = f == Family::kConvNet ? std::vector<double>{0.5, 0.3, 0.2} : std::vector<double>{0.5, 0.3};
  std::vector<Step> chain;
  double kept = 1;
  for (double fr : ratios) {
    char n[32];
    std::snprintf(n, sizeof n, "prune%.0f", 100 * fr);
    const double rel = std::round(1000 * fr / kept) / 1000;
    // Conv nets: kept channels in multiples of 8, the int8 conv's channel quads and 8-row tiles
    // (44 channels cost what 48 do), so the FLOPs buy speed (docs/optimize.md).
    J prune = {{"flops_ratio", rel}};
    if (f == Family::kConvNet) prune["channel_multiple"] = 8;
    chain.push_back(step("prune", prune));
    chain.push_back(ft_prune);
    kept = fr;
    add_structural(n, chain);
  }
  if (f == Family::kConvNet) {
    // (Low rank followed by 50% pruning lost about 3 points on every vision_cnn run: not searched.)
    add_structural("lowrank-vbmf", {step("factorize", {{"tucker_rank", "vbmf"}, {"energy", 0.9}}), ft});
  } else if (!zoo_name.empty()) {
    const Step st = step("fine_tune", {{"epochs", o.student_epochs}, {"distill", true}});
    for (int w : {32, 16}) add_structural("student-w" + std::to_string(w), {step("student", {{"zoo", zoo_name}, {"width", w}}), st});
    // One-layer students: a stacked RNN's second layer doubles the sequential work per time step
    // (on seattle-weather one layer of 32 forecasts as well as two, docs/optimize.md), and at batch
    // 1 a small MLP's time is mostly per-node cost, so one hidden layer less is a third less time.
    for (int w : f == Family::kRecurrent ? std::vector<int>{48, 32} : std::vector<int>{32, 16})
      add_structural("student-w" + std::to_string(w) + "-d1",
                     {step("student", {{"zoo", zoo_name}, {"width", w}, {"depth", 1}}), st});
  }
  for (auto& rec : r)
    for (size_t i = 0; i < rec.steps.size(); ++i) validate_step(rec.steps[i], "auto recipe " + rec.name);
  return r;
}

}  // namespace edgeopt::optimize

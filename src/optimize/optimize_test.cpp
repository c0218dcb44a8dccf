#include <filesystem>
#include <fstream>
#include <set>

#include <gtest/gtest.h>

#include "core/error.h"
#include "optimize/optimize.h"
#include "optimize/recipe.h"

namespace edgeopt::optimize {
namespace {

namespace fs = std::filesystem;

fs::path write_tmp(const std::string& name, const std::string& text) {
  fs::path p = fs::temp_directory_path() / ("edgeopt_recipe_test_" + name);
  std::ofstream(p) << text;
  return p;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Recipe, YamlCandidatesParseWithTypes) {
  auto p = write_tmp("ok.yaml",
                     "candidates:\n"
                     "  - name: pruned-int8\n"
                     "    steps:\n"
                     "      - prune: {flops_ratio: 0.5, criterion: l1}\n"
                     "      - fine_tune: {epochs: 2, distill: true}\n"
                     "      - quantize: {dtype: int8, method: ptq, calib: percentile, per_channel: true}\n"
                     "  - name: half\n"
                     "    steps: [{quantize: {dtype: fp16}}]\n");
  auto rs = load_recipes(p.string());
  ASSERT_EQ(rs.size(), 2u);
  EXPECT_EQ(rs[0].name, "pruned-int8");
  ASSERT_EQ(rs[0].steps.size(), 3u);
  EXPECT_TRUE(rs[0].steps[0].args["flops_ratio"].is_number_float());
  EXPECT_TRUE(rs[0].steps[1].args["epochs"].is_number_integer());
  EXPECT_TRUE(rs[0].steps[1].args["distill"].is_boolean());
  EXPECT_EQ(rs[0].steps[0].describe(), "prune criterion=l1 flops_ratio=0.5");
  EXPECT_EQ(rs[1].key(), "quantize dtype=fp16");
}

TEST(Recipe, JsonSingleCandidate) {
  auto p = write_tmp("one.json", R"({"name": "q", "steps": [{"quantize": {"dtype": "int8"}}]})");
  auto rs = load_recipes(p.string());
  ASSERT_EQ(rs.size(), 1u);
  EXPECT_EQ(rs[0].name, "q");
}

// Found by tests/fuzz/recipe_parse_fuzz (corpus regress_invalid_utf8.yaml): a knob holding invalid
// UTF-8 made the error message's json::dump() throw json's type_error instead of edgeopt::Error.
TEST(Recipe, InvalidUtf8IsAnErrorNamingTheByte) {
  std::string e = error_of([] { parse_recipes("steps:\n  - fine_tune: {epochs: steps\xff\xff}\n", "r.yaml"); });
  EXPECT_NE(e.find("r.yaml: byte 36 is not valid UTF-8"), std::string::npos) << e;
  e = error_of([] { parse_recipes("steps:\n  - quantize: {dtype: \"\xc3\x28\"}\n", "r.yaml"); });
  EXPECT_NE(e.find("is not valid UTF-8"), std::string::npos) << e;
  // Valid multi-byte text passes the check (and fails later only for what it says).
  e = error_of([] { parse_recipes("steps:\n  - quantize: {dtype: \"int8\xc3\xa9\"}\n", "r.yaml"); });
  EXPECT_EQ(e.find("UTF-8"), std::string::npos) << e;
  // regress_name_not_string.yaml: a top-level 'name' that is a mapping threw json's type_error.
  e = error_of([] { parse_recipes("name: &b {dtype: int8}\nsteps:\n  - quantize: *b\n", "r.yaml"); });
  EXPECT_NE(e.find("r.yaml: 'name' must be a string, got a object"), std::string::npos) << e;
}

TEST(Recipe, ErrorsNameFileCandidateStepAndField) {
  auto p = write_tmp("bad_field.yaml", "steps:\n  - prune: {flops_ratio: 0.5, ratio: 2}\n");
  std::string e = error_of([&] { load_recipes(p.string()); });
  EXPECT_NE(e.find(p.string()), std::string::npos) << e;
  EXPECT_NE(e.find("step 1"), std::string::npos) << e;
  EXPECT_NE(e.find("'ratio'"), std::string::npos) << e;

  p = write_tmp("bad_value.yaml", "steps:\n  - fine_tune: {epochs: 1}\n  - quantize: {dtype: int4}\n");
  e = error_of([&] { load_recipes(p.string()); });
  EXPECT_NE(e.find("step 2"), std::string::npos) << e;
  EXPECT_NE(e.find("int4"), std::string::npos) << e;

  p = write_tmp("bad_type.yaml", "steps:\n  - prune: {flops_ratio: half}\n");
  e = error_of([&] { load_recipes(p.string()); });
  EXPECT_NE(e.find("flops_ratio must be a number"), std::string::npos) << e;

  p = write_tmp("bad_range.yaml", "steps:\n  - prune: {flops_ratio: 1.5}\n");
  e = error_of([&] { load_recipes(p.string()); });
  EXPECT_NE(e.find("flops_ratio must be in"), std::string::npos) << e;

  p = write_tmp("unknown_op.yaml", "steps:\n  - shrink: {}\n");
  e = error_of([&] { load_recipes(p.string()); });
  EXPECT_NE(e.find("unknown step 'shrink'"), std::string::npos) << e;

  p = write_tmp("after_quant.yaml", "steps:\n  - quantize: {dtype: int8}\n  - fine_tune: {epochs: 1}\n");
  e = error_of([&] { load_recipes(p.string()); });
  EXPECT_NE(e.find("quantize must be the last step"), std::string::npos) << e;

  p = write_tmp("syntax.yaml", "steps: [\n");
  e = error_of([&] { load_recipes(p.string()); });
  EXPECT_NE(e.find(p.string() + ":"), std::string::npos) << e;

  e = error_of([&] { load_recipes("/nonexistent/recipe.yaml"); });
  EXPECT_NE(e.find("/nonexistent/recipe.yaml"), std::string::npos) << e;
}

TEST(Recipe, AutoRecipesAreValidDistinctAndDeterministic) {
  for (Family f : {Family::kConvNet, Family::kRecurrent, Family::kMlp}) {
    auto a = auto_recipes(f, f == Family::kRecurrent ? "env_lstm" : "safety_mlp", {});
    auto b = auto_recipes(f, f == Family::kRecurrent ? "env_lstm" : "safety_mlp", {});
    ASSERT_EQ(a.size(), b.size());
    std::set<std::string> keys;
    for (size_t i = 0; i < a.size(); ++i) {
      EXPECT_EQ(a[i].key(), b[i].key());
      EXPECT_TRUE(keys.insert(a[i].key()).second) << "duplicate candidate " << a[i].key();
    }
    EXPECT_GE(a.size(), 7u) << family_name(f);
  }
}

TEST(Pareto, KeepsOnlyNonDominated) {
  // quality up, latency down, size down
  std::vector<double> q = {0.90, 0.92, 0.91, 0.89, 0.92};
  std::vector<double> l = {1.0, 2.0, 1.0, 0.5, 2.0};
  std::vector<double> s = {10, 10, 10, 20, 12};
  auto f = pareto_front(q, l, s);
  // 0 is dominated by 2 (better quality, same latency and size); 4 by 1 (same q/l, smaller).
  EXPECT_EQ(f, (std::vector<size_t>{1, 2, 3}));
}

TEST(Optimize, BadOptionsAreClearErrors) {
  OptimizeOptions o;
  o.model = "vision_cnn";
  o.data = "fashion-mnist";
  EXPECT_NE(error_of([&] { run_optimize(o); }).find("--out"), std::string::npos);
  o.out_dir = (fs::temp_directory_path() / "edgeopt_opt_bad").string();
  o.objective = "speed";
  EXPECT_NE(error_of([&] { run_optimize(o); }).find("--objective"), std::string::npos);
}

}  // namespace
}  // namespace edgeopt::optimize

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

// regress_alias_cycle.yaml (found by the recipe_parse fuzzer in CI): an alias inside the node it
// names made yaml_to_json recurse until the stack overflowed; exponential alias expansion likewise.
TEST(Recipe, SelfReferencingAndExplodingAliasesAreErrorsNotCrashes) {
  std::string e = error_of([] { parse_recipes("n: &b\n  steps: {d: [*b]}\n", "r.yaml"); });
  EXPECT_NE(e.find("r.yaml: nested deeper than 64 levels (or an alias refers to its own ancestor)"), std::string::npos) << e;
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  for (char c = 'b'; c <= 'h'; ++c) {
    const char prev = static_cast<char>(c - 1);
    bomb += std::string(1, c) + ": &" + c + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev +
            ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n";
  }
  e = error_of([&] { parse_recipes(bomb, "bomb.yaml"); });
  EXPECT_NE(e.find("bomb.yaml: more than 100000 values once aliases are expanded"), std::string::npos) << e;
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

  p = write_tmp("bad_multiple.yaml", "steps:\n  - prune: {flops_ratio: 0.5, channel_multiple: 0}\n");
  e = error_of([&] { load_recipes(p.string()); });
  EXPECT_NE(e.find("channel_multiple must be in [1, 1024]"), std::string::npos) << e;
  p = write_tmp("frac_multiple.yaml", "steps:\n  - prune: {flops_ratio: 0.5, channel_multiple: 7.5}\n");
  e = error_of([&] { load_recipes(p.string()); });
  EXPECT_NE(e.find("channel_multiple must be a whole number"), std::string::npos) << e;
  p = write_tmp("sparse_multiple.yaml", "steps:\n  - prune: {sparsity: 0.5, channel_multiple: 8}\n");
  e = error_of([&] { load_recipes(p.string()); });
  EXPECT_NE(e.find("channel_multiple needs flops_ratio"), std::string::npos) << e;

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

TEST(PairedDrop, PointEstimateAndUpperBound) {
  // 1000 samples; the candidate loses 12 the baseline gets right and gains 4: 0.8 points lost.
  std::vector<double> base(1000, 1.0), cand(1000, 1.0);
  for (int i = 0; i < 12; ++i) cand[static_cast<size_t>(i * 50)] = 0.0;
  for (int i = 0; i < 4; ++i) base[static_cast<size_t>(7 + i * 100)] = 0.0;
  const DropEstimate none = paired_drop(base, cand, true, 0.0, 1);
  EXPECT_NEAR(none.drop, 0.8, 1e-12);
  EXPECT_EQ(none.upper, none.drop);
  const DropEstimate e90 = paired_drop(base, cand, true, 0.9, 1);
  const DropEstimate e99 = paired_drop(base, cand, true, 0.99, 1);
  EXPECT_NEAR(e90.drop, 0.8, 1e-12);
  // Normal approximation: sd of the paired difference sqrt(16/1000 - 0.008^2) / sqrt(1000) = 0.4 pt,
  // so the one-sided 90% bound is near 0.8 + 1.28 * 0.4 = 1.31 and the 99% one near 1.73.
  EXPECT_NEAR(e90.upper, 1.31, 0.12);
  EXPECT_NEAR(e99.upper, 1.73, 0.2);
  EXPECT_GT(e99.upper, e90.upper);
  // Same seed, same bound; identical models: zero drop, zero width.
  EXPECT_EQ(paired_drop(base, cand, true, 0.9, 1).upper, e90.upper);
  const DropEstimate same = paired_drop(base, base, true, 0.9, 3);
  EXPECT_EQ(same.drop, 0.0);
  EXPECT_EQ(same.upper, 0.0);
}

TEST(PairedDrop, ForecastersUseTheRmseRatio) {
  std::vector<double> base(400), cand(400);
  for (size_t i = 0; i < base.size(); ++i) {
    base[i] = 1.0 + static_cast<double>(i % 7);  // squared errors
    cand[i] = 1.21 * base[i];                     // every error 10% larger
  }
  const DropEstimate e = paired_drop(base, cand, false, 0.9, 5);
  EXPECT_NEAR(e.drop, 10.0, 1e-9);
  EXPECT_NEAR(e.upper, 10.0, 1e-9);  // a constant ratio has no spread
  EXPECT_NE(error_of([&] { paired_drop(base, std::vector<double>(3), false, 0.9, 5); }).find("paired_drop"),
            std::string::npos);
}

TEST(Optimize, BadOptionsAreClearErrors) {
  OptimizeOptions o;
  o.model = "vision_cnn";
  o.data = "fashion-mnist";
  EXPECT_NE(error_of([&] { run_optimize(o); }).find("--out"), std::string::npos);
  o.out_dir = (fs::temp_directory_path() / "edgeopt_opt_bad").string();
  o.objective = "speed";
  EXPECT_NE(error_of([&] { run_optimize(o); }).find("--objective"), std::string::npos);
  o.objective = "latency";
  o.budgets.selection_confidence = 1.5;
  EXPECT_NE(error_of([&] { run_optimize(o); }).find("--selection-confidence"), std::string::npos);
}

}  // namespace
}  // namespace edgeopt::optimize

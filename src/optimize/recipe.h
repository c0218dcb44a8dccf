// Recipes: what `edgeopt optimize` does to a model, as a readable list of steps per candidate.
//
//   std::vector<Recipe> rs = load_recipes("recipe.yaml");        // YAML or JSON (JSON is YAML)
//   std::vector<Recipe> rs = auto_recipes(family_of(g, splits), {.fine_tune_epochs = 2});
//
// A recipe file holds one candidate (`steps:` at the top) or several (`candidates:`):
//
//   candidates:
//     - name: pruned-int8
//       steps:
//         - prune: {flops_ratio: 0.5, criterion: l1}        # structured: whole filters/neurons
//         - fine_tune: {epochs: 2, distill: true}            # the unoptimized model as teacher
//         - quantize: {dtype: int8, method: ptq, calib: percentile, per_channel: true}
//     - name: fp16
//       steps: [{quantize: {dtype: fp16}}]
//
// Steps and their knobs (anything else is an error naming the file, candidate, step and field):
//   prune      flops_ratio (structured, default) | sparsity (unstructured magnitude), criterion, global
//   factorize  energy, flops_ratio, tucker_rank (energy|vbmf), conv_method (tucker2|cp), svd, tucker
//   student    zoo, width, depth: replace the model by a fresh zoo model (train it with fine_tune+distill)
//   fine_tune  epochs, lr, distill (bool), alpha, temperature
//   quantize   dtype (int8|fp16|bf16), method (ptq|qat), calib, per_channel, calib_samples,
//              max_accuracy_drop (int8 mixed precision), epochs (qat)
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace edgeopt::optimize {

struct Step {
  std::string op;        // prune | factorize | student | fine_tune | quantize
  nlohmann::json args;   // knobs, validated by validate_step
  // "prune flops_ratio=0.5", the same string for the same step (resume keys use it).
  std::string describe() const;
};

struct Recipe {
  std::string name;
  std::vector<Step> steps;
  // The steps' descriptions joined by " | ": equal keys mean equal work.
  std::string key() const;
  nlohmann::json to_json() const;
};

// Throws InvalidArgument naming `where` (file/candidate/step) and the bad field or value.
void validate_step(const Step& s, const std::string& where);
// Parses {"candidates": [...]} or {"steps": [...]} (the file format above); `source` names the file in errors.
std::vector<Recipe> recipes_from_json(const nlohmann::json& j, const std::string& source);
// YAML or JSON text (`source` names it in errors). Throws InvalidArgument for bad content.
std::vector<Recipe> parse_recipes(const std::string& text, const std::string& source);
// YAML (or JSON, a subset) text -> JSON, plain scalars typed (int, float, bool, null), quoted ones
// strings; bounded against alias cycles and alias bombs (64 levels, 100,000 values). Throws
// InvalidArgument naming `source` (and line:column for YAML syntax errors). Recipes and the
// controller's policy files share it.
nlohmann::json yaml_text_to_json(const std::string& text, const std::string& source);
// Reads YAML or JSON. Throws NotFound for a missing file, InvalidArgument for bad content.
std::vector<Recipe> load_recipes(const std::string& path);

// What the automatic search knows how to shrink.
enum class Family { kConvNet, kRecurrent, kMlp };
const char* family_name(Family f);

struct AutoOptions {
  int fine_tune_epochs = 2;     // per structural candidate (pruning, factorization)
  int student_epochs = 10;      // zoo students trained from scratch by distillation
  double max_accuracy_drop = 0.5;
};
// The candidates the automatic search measures for a model family: precisions alone (int8 PTQ with
// two calibrations, fp16), structured pruning at several FLOP ratios and low-rank factorization,
// each fine-tuned with the unoptimized model as teacher, in fp32 and then in int8, and for
// recurrent/MLP models smaller zoo students trained by distillation (also with one layer).
// Deterministic.
std::vector<Recipe> auto_recipes(Family f, const std::string& zoo_name, const AutoOptions& o);

}  // namespace edgeopt::optimize

// Shared by the train and eval verbs: data-set flags and the JSON of an evaluation.
#pragma once
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "train/data/load_dataset.h"
#include "train/loop/evaluate.h"

namespace edgeopt::cli {

// Adds --data-dir, --val-fraction, --window, --horizon, --target, --label, --max-train, --max-test.
void add_dataset_flags(CLI::App* cmd, train::DatasetOptions& o);
std::string dataset_spec_help();
nlohmann::json eval_to_json(const train::EvalResult& r);
// A human summary: the headline metrics, the baselines, and the confusion matrix when small.
std::string eval_to_text(const train::EvalResult& r);

}  // namespace edgeopt::cli

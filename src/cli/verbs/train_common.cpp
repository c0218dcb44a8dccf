#include "cli/verbs/train_common.h"

#include <cstdio>

namespace edgeopt::cli {

void add_dataset_flags(CLI::App* cmd, train::DatasetOptions& o) {
  cmd->add_option("--data-dir", o.data_dir, "Directory searched first for the named data sets' files");
  cmd->add_option("--val-fraction", o.val_fraction, "Fraction of the training data held out for validation");
  cmd->add_option("--window", o.window, "Time series: input window length (readings)");
  cmd->add_option("--horizon", o.horizon, "Time series: steps ahead to forecast");
  cmd->add_option("--target", o.target, "CSV time series: the column to forecast");
  cmd->add_option("--label", o.label, "CSV table: the label column (classification)");
  cmd->add_option("--max-train", o.max_train, "Use only the first N training samples (quick runs)");
  cmd->add_option("--max-test", o.max_test, "Use only the first N test samples");
}

std::string dataset_spec_help() {
  std::string s = "Data SPEC: a short name (";
  auto names = train::named_datasets();
  for (size_t i = 0; i < names.size(); ++i) s += (i ? ", " : "") + names[i];
  return s + "), an IDX or .npy directory, x.npy,y.npy, or a CSV file (with --target or --label)";
}

nlohmann::json eval_to_json(const train::EvalResult& r) {
  nlohmann::json j;
  j["task"] = r.task;
  j["split"] = r.split;
  for (const auto& [k, v] : r.metrics) j[k] = v;
  if (!r.confusion.empty()) {
    j["confusion_matrix"] = r.confusion;
    j["class_names"] = r.class_names;
  }
  return j;
}

std::string eval_to_text(const train::EvalResult& r) {
  std::string s;
  char buf[256];
  auto get = [&](const char* k) {
    auto it = r.metrics.find(k);
    return it == r.metrics.end() ? std::nan("") : it->second;
  };
  if (r.task == "classification") {
    std::snprintf(buf, sizeof buf, "%s: accuracy %.2f%%  macro-F1 %.4f  precision %.4f  recall %.4f  (%d samples)\n",
                  r.split.c_str(), 100 * get("accuracy"), get("macro_f1"), get("precision"), get("recall"),
                  static_cast<int>(get("count")));
    s += buf;
    for (size_t k = 0; k < r.class_names.size(); ++k) {
      const std::string& n = r.class_names[k];
      std::snprintf(buf, sizeof buf, "  %-14s precision %.3f  recall %.3f  F1 %.3f\n", n.c_str(),
                    get(("precision/" + n).c_str()), get(("recall/" + n).c_str()), get(("f1/" + n).c_str()));
      s += buf;
    }
    if (r.metrics.count("event/event_recall")) {
      std::snprintf(buf, sizeof buf, "  events: recall %.3f  row precision %.3f  false alarms/hour %.3f\n",
                    get("event/event_recall"), get("event/precision"), get("event/false_alarms_per_hour"));
      s += buf;
    }
  } else {
    std::snprintf(buf, sizeof buf, "%s: MAE %.4f  RMSE %.4f  MAPE %.2f%%  (%d samples)\n", r.split.c_str(), get("mae"),
                  get("rmse"), get("mape"), static_cast<int>(get("count")));
    s += buf;
    if (r.metrics.count("baseline_rmse")) {
      std::snprintf(buf, sizeof buf,
                    "  baselines on the same windows: persistence RMSE %.4f (model/persistence %.3f), "
                    "ridge RMSE %.4f (model/ridge %.3f)\n",
                    get("baseline_rmse"), get("rmse_over_baseline"), get("linear_rmse"), get("rmse_over_linear"));
      s += buf;
    }
  }
  return s;
}

}  // namespace edgeopt::cli

// `edgeopt eval`: metrics of a model on a split of a data set.
#include <cstdio>

#include "cli/verbs/train_common.h"
#include "cli/verbs/verbs.h"
#include "onnx/import.h"

namespace edgeopt::cli {

namespace {
struct EvalArgs {
  std::string model, data, split = "test";
  bool json = false;
  uint64_t seed = 1;
  train::DatasetOptions data_opts;
};
}  // namespace

void add_eval_verb(CLI::App& app) {
  auto a = std::make_shared<EvalArgs>();
  CLI::App* cmd = app.add_subcommand("eval", "Measure a model on held-out data: accuracy/F1 or MAE/RMSE with baselines");
  cmd->add_option("model", a->model, "MODEL.onnx")->required();
  cmd->add_option("--data", a->data, dataset_spec_help())->required();
  cmd->add_option("--split", a->split, "train, val or test")->default_val("test");
  cmd->add_option("--seed", a->seed, "Seed of the train/val split (use the training seed)")->default_val(1);
  cmd->add_flag("--json", a->json, "Print one JSON object (accuracy as a fraction, macro_f1, precision, recall, "
                                   "mae, rmse, baseline_rmse, linear_rmse as they apply)");
  add_dataset_flags(cmd, a->data_opts);
  cmd->footer("Example:\n  edgeopt eval cnn.onnx --data fashion-mnist --json");
  cmd->callback([a] {
    a->data_opts.seed = a->seed;
    Graph g = onnx::load_model(a->model);
    train::DataSplits d = train::load_dataset(a->data, a->data_opts);
    train::EvalResult r = train::evaluate(g, d, a->split);
    if (a->json) std::printf("%s\n", eval_to_json(r).dump().c_str());
    else std::printf("%s", eval_to_text(r).c_str());
  });
}

}  // namespace edgeopt::cli

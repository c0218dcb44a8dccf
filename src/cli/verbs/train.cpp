// `edgeopt train`: pre-train a zoo model (or fine-tune an ONNX model) on a data set, export ONNX.
#include <cstdio>
#include <fstream>

#include "cli/verbs/train_common.h"
#include "cli/verbs/verbs.h"
#include "onnx/export.h"
#include "onnx/import.h"
#include "train/loop/trainer.h"
#include "train/zoo/zoo.h"

namespace edgeopt::cli {

namespace {

struct TrainArgs {
  std::string model, data, out, report;
  train::DatasetOptions data_opts;
  train::TrainOptions opts;
  int64_t width = 0, depth = 0;
  float width_mult = 1.f, dropout = -1.f;
  float lr = -1.f;
  int64_t batch = -1;
  int augment_pad = 0;
  bool hflip = false, no_progress = false;
  std::string residual = "auto";
};

void apply_defaults(TrainArgs& a, bool image) {
  train::apply_zoo_train_defaults(a.model, image, a.opts, a.batch, a.lr);
  a.opts.augment.pad = a.augment_pad;
  a.opts.augment.hflip = a.hflip;
  a.opts.progress = !a.no_progress;
}

void run_train(TrainArgs& a) {
  a.data_opts.seed = a.opts.seed;
  train::DataSplits d = train::load_dataset(a.data, a.data_opts);
  std::fprintf(stderr, "%s\n", d.describe().c_str());
  Graph g;
  const bool from_onnx = a.model.size() > 5 && a.model.substr(a.model.size() - 5) == ".onnx";
  std::vector<int64_t> in_shape(d.train.x.shape().dims().begin() + 1, d.train.x.shape().dims().end());
  if (from_onnx) {
    g = onnx::load_model(a.model);
  } else {
    train::ZooOptions zo = train::zoo_options_for_data(a.model, d, a.opts.seed);
    zo.width = a.width;
    zo.depth = a.depth;
    zo.width_mult = a.width_mult;
    if (a.dropout >= 0) zo.dropout = a.dropout;
    if (a.residual == "off") zo.residual_feature = -1;
    else if (a.residual == "on" && zo.residual_feature < 0)
      throw_error(ErrorCode::kInvalidArgument, "--residual on needs env_lstm/env_gru and a forecast whose target is an input feature");
    g = train::build_zoo_model(a.model, zo);
  }
  apply_defaults(a, in_shape.size() == 3);
  train::TrainReport rep = train::train_model(g, d, a.opts);
  train::EvalResult ev = train::evaluate(g, d, "test");
  std::printf("%s", eval_to_text(ev).c_str());
  g.metadata["edgeopt.dataset"] = d.name;
  g.metadata["edgeopt.seed"] = std::to_string(a.opts.seed);
  onnx::save_model(g, a.out);
  std::printf("trained in %.1f s (%lld steps, best epoch %d by val %s %.4f); wrote %s\n", rep.seconds,
              static_cast<long long>(rep.steps), rep.best_epoch, rep.val_metric_name.c_str(), rep.best_val_metric,
              a.out.c_str());
  if (!a.report.empty()) {
    nlohmann::json j;
    j["model"] = a.model;
    j["data"] = d.name;
    j["data_description"] = d.describe();
    j["provenance"] = d.provenance;
    j["seed"] = a.opts.seed;
    j["batch"] = a.opts.batch;
    j["lr"] = a.opts.lr;
    j["parameters"] = g.parameter_count();
    j["train_seconds"] = rep.seconds;
    j["best_epoch"] = rep.best_epoch;
    j["val_metric_name"] = rep.val_metric_name;
    j["best_val_metric"] = rep.best_val_metric;
    for (const auto& e : rep.epochs)
      j["epochs"].push_back({{"epoch", e.epoch}, {"train_loss", e.train_loss}, {"val_metric", e.val_metric},
                             {"seconds", e.seconds}, {"samples_per_s", e.samples_per_s}, {"lr", e.lr}});
    j["test"] = eval_to_json(ev);
    std::ofstream(a.report) << j.dump(2) << "\n";
  }
}

}  // namespace

void add_train_verb(CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  CLI::App* cmd = app.add_subcommand("train", "Pre-train a zoo model or fine-tune an ONNX model on real data, in C++");
  cmd->add_option("--model", a->model,
                  "A zoo model (vision_cnn, mobilenet_v2, env_lstm, env_gru, safety_mlp) or MODEL.onnx")
      ->required();
  cmd->add_option("--data", a->data, dataset_spec_help())->required();
  cmd->add_option("--out", a->out, "Where to write the trained model (ONNX, weights included)")->required();
  cmd->add_option("--epochs", a->opts.epochs, "Passes over the training data")->default_val(10);
  cmd->add_option("--seed", a->opts.seed, "Seed for data order, initialization, dropout (reproducible runs)")->default_val(1);
  cmd->add_option("--batch", a->batch, "Batch size (default: what works for the model: 128 images, 32 series, 64 MLP)");
  cmd->add_option("--lr", a->lr, "Peak learning rate (default per model, e.g. 2e-3)");
  cmd->add_option("--optimizer", a->opts.optimizer, "sgd, adam or adamw")->default_val("adamw");
  cmd->add_option("--weight-decay", a->opts.weight_decay, "Weight decay")->default_val(1e-4);
  cmd->add_option("--schedule", a->opts.schedule, "cosine, step or constant (with linear warm-up)")->default_val("cosine");
  cmd->add_option("--label-smoothing", a->opts.label_smoothing, "Cross-entropy label smoothing")->default_val(0.0);
  cmd->add_option("--loss", a->opts.loss, "auto, cross_entropy, mse, mae or huber")->default_val("auto");
  cmd->add_option("--clip-norm", a->opts.clip_norm, "Clip the global gradient norm (0: off)")->default_val(5.0);
  cmd->add_option("--augment-pad", a->augment_pad, "Images: random crop after zero-padding by N pixels");
  cmd->add_flag("--augment-flip", a->hflip, "Images: random horizontal flips");
  cmd->add_option("--width", a->width, "Zoo knob: base channels / hidden units");
  cmd->add_option("--depth", a->depth, "Zoo knob: blocks / layers");
  cmd->add_option("--width-mult", a->width_mult, "mobilenet_v2 width multiplier");
  cmd->add_option("--residual", a->residual,
                  "env_lstm/env_gru: forecast = last observed target + learned change (auto: on when the "
                  "target is an input feature; on; off)")
      ->default_val("auto");
  cmd->add_option("--dropout", a->dropout, "Dropout before the classifier head");
  cmd->add_option("--checkpoint", a->opts.checkpoint, "Write a checkpoint here after every epoch");
  cmd->add_flag("--resume", a->opts.resume, "Continue from --checkpoint");
  cmd->add_option("--max-steps-per-epoch", a->opts.max_steps_per_epoch, "Cap steps per epoch (quick runs)");
  cmd->add_option("--report", a->report, "Write a JSON report (epochs, timings, test metrics)");
  cmd->add_flag("--no-progress", a->no_progress, "No progress bar");
  add_dataset_flags(cmd, a->data_opts);
  cmd->footer(
      "Examples:\n"
      "  edgeopt train --model vision_cnn --data fashion-mnist --epochs 8 --seed 1 --out cnn.onnx\n"
      "  edgeopt train --model env_lstm --data seattle-weather --epochs 60 --seed 1 --out lstm.onnx\n"
      "  edgeopt train --model safety_mlp --data wsn-events --epochs 20 --seed 1 --out mlp.onnx\n"
      "  edgeopt train --model cnn.onnx --data fashion-mnist --epochs 1 --lr 1e-4 --out tuned.onnx  # fine-tune");
  cmd->callback([a] { run_train(*a); });
}

}  // namespace edgeopt::cli

// `edgeopt optimize`: one command from a model and data to the best candidate within budgets, with
// a report (optimize/optimize.h does the work; this file is flags and the printed summary).
#include <cstdio>

#include "cli/verbs/train_common.h"
#include "cli/verbs/verbs.h"
#include "optimize/optimize.h"

namespace edgeopt::cli {

namespace {

struct OptimizeArgs {
  optimize::OptimizeOptions o;
  double max_latency_ms = -1, max_size_mb = -1;
  bool no_progress = false, no_ort = false;
  OptimizeArgs() { o.auto_search = false; }  // --auto is explicit; without --recipe it is implied
};

std::string cell(const nlohmann::json& v, const char* f, double scale = 1) {
  if (v.is_null()) return "-";
  char b[48];
  std::snprintf(b, sizeof b, f, scale * v.get<double>());
  return b;
}

void print_summary(const nlohmann::json& r) {
  const bool cls = r["model"]["metric"] == "accuracy";
  std::printf("\n%-4s %-24s %9s %9s %11s %11s %10s %s\n", "id", "candidate", cls ? "test acc" : "test RMSE",
              cls ? "drop pt" : "RMSE +%", "latency ms", "size KiB", "energy mJ", "status");
  auto row = [&](const nlohmann::json& c) {
    std::string status = c["status"].get<std::string>();
    if (c.value("pareto", false)) status += " (pareto)";
    for (const auto& why : c["reject_reasons"]) status += "; " + why.get<std::string>();
    std::printf("%-4s %-24s %9s %9s %11s %11s %10s %s\n", c["id"].get<std::string>().c_str(),
                c["name"].get<std::string>().substr(0, 24).c_str(),
                cls ? cell(c["accuracy"], "%.2f%%", 100).c_str() : cell(c["rmse"], "%.4f").c_str(),
                cell(c.value(cls ? "accuracy_drop_points" : "rmse_increase_pct", nlohmann::json()), "%+.2f").c_str(),
                cell(c["latency_ms"], "%.4f").c_str(), cell(c["size_bytes"], "%.1f", 1.0 / 1024).c_str(),
                cell(c.value("energy_mj_per_inference", nlohmann::json()), "%.4f").c_str(), status.c_str());
  };
  row(r["baseline"]);
  for (const auto& c : r["candidates"]) row(c);
  if (r["best"].is_null()) {
    std::printf("\nno candidate meets the budgets (see the reasons above)\n");
  } else {
    const auto& b = r["best"];
    const auto& s = r["summary"];
    std::printf("\nbest: %s %s: %.2fx faster than the baseline", b["id"].get<std::string>().c_str(),
                b["name"].get<std::string>().c_str(), s["speedup_vs_baseline"].get<double>());
    if (s.contains("speedup_vs_ort_fp32"))
      std::printf(", %.2fx faster than ONNX Runtime on the baseline", s["speedup_vs_ort_fp32"].get<double>());
    std::printf(", %.1f%% smaller, ", s["size_reduction_pct"].get<double>());
    if (cls) std::printf("%+.2f points test accuracy\n", -s["accuracy_drop_points"].get<double>());
    else std::printf("test RMSE %+.2f%%\n", s["rmse_increase_pct"].get<double>());
  }
}

}  // namespace

void add_optimize_verb(CLI::App& app) {
  auto a = std::make_shared<OptimizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "optimize", "The whole pipeline: compress, quantize and measure candidates; pick the best within budgets");
  cmd->add_option("model", a->o.model, "MODEL.onnx (trained), or a zoo name (vision_cnn, env_lstm, safety_mlp, ...) to train first")
      ->required();
  cmd->add_option("--data", a->o.data, dataset_spec_help())->required();
  cmd->add_option("--out", a->o.out_dir, "Output directory: report.json/md/html, candidates/, stages/ (rerun to resume)")
      ->required();
  // The data-set flags' --target (a CSV column) is --target-column here: --target is the hardware.
  add_dataset_flags(cmd, a->o.data_opts);
  cmd->remove_option(cmd->get_option("--target"));
  cmd->add_option("--target-column", a->o.data_opts.target, "CSV time series: the column to forecast");
  cmd->add_option("--target", a->o.target, "host (this machine, measured) or a hardware profile name")->default_val("host");
  cmd->add_option("--recipe", a->o.recipe_file, "YAML/JSON recipe: the candidates to build (see docs/optimize.md)");
  cmd->add_flag("--auto", a->o.auto_search, "Search pruning ratios, ranks, distillation and precisions (default without --recipe)");
  cmd->add_option("--max-latency-ms", a->max_latency_ms, "Budget: batch-1 p50 latency on the target");
  cmd->add_option("--max-size-mb", a->max_size_mb, "Budget: model file size in MB (10^6 bytes)");
  cmd->add_option("--max-accuracy-drop", a->o.budgets.max_accuracy_drop,
                  "Budget: accuracy points lost (classifiers) or percent RMSE increase (forecasters), on the "
                  "validation split (default 0.5 points / 2%)");
  cmd->add_option("--selection-confidence", a->o.budgets.selection_confidence,
                  "The accuracy budget must hold for the upper bound of this one-sided confidence level (paired "
                  "bootstrap against the baseline on the validation split); 0: the point estimate; default 0.9 "
                  "for classifiers, 0 for forecasters");
  cmd->add_option("--objective", a->o.objective, "What the best candidate minimizes within the budgets: latency, size or energy")
      ->default_val("latency");
  cmd->add_option("--seed", a->o.seed, "Seed of data splits, training, calibration (same seed, same result)")->default_val(1);
  cmd->add_option("--threads", a->o.threads, "Threads for latency (1 gives stable numbers on a shared machine)")->default_val(1);
  cmd->add_option("--epochs", a->o.train_epochs, "Training epochs when MODEL is a zoo name")->default_val(8);
  cmd->add_option("--fine-tune-epochs", a->o.fine_tune_epochs, "Fine-tuning epochs per structural candidate (default: 4 images, 10 others)");
  cmd->add_option("--max-steps-per-epoch", a->o.max_steps_per_epoch, "Cap training steps per epoch (quick runs)");
  cmd->add_option("--latency-rounds", a->o.latency_rounds, "Interleaved timing rounds over all candidates")->default_val(5);
  cmd->add_option("--latency-runs", a->o.latency_runs, "Runs per candidate per round")->default_val(40);
  cmd->add_option("--host-power-w", a->o.host_power_w,
                  "Host power (W) while the model runs, for energy estimates when RAPL is unreadable "
                  "(default: 5 W per thread, an assumption labelled estimate)");
  cmd->add_flag("--no-ort", a->no_ort, "Do not time the baseline in ONNX Runtime");
  cmd->add_flag("--no-progress", a->no_progress, "No progress output");
  cmd->footer(
      "Every candidate is measured here: accuracy (or RMSE) on the validation split for selection and on the\n"
      "test split for the report, batch-1 latency on this machine (all candidates timed interleaved), file\n"
      "size, session memory, energy. The best is the fastest candidate within every budget (--objective).\n"
      "An interrupted run resumes: rerun the same command.\n\n"
      "Examples:\n"
      "  edgeopt optimize vision_cnn --data fashion-mnist --auto --out out/opt            # train, then search\n"
      "  edgeopt optimize cnn.onnx --data fashion-mnist --auto --max-latency-ms 0.05 --out out/opt\n"
      "  edgeopt optimize lstm.onnx --data seattle-weather --recipe recipe.yaml --out out/lstm\n"
      "  edgeopt optimize mlp.onnx --data wsn-events --auto --max-accuracy-drop 0.3 --max-size-mb 0.05 --out out/mlp");
  cmd->callback([a] {
    if (a->max_latency_ms > 0) a->o.budgets.max_latency_ms = a->max_latency_ms;
    if (a->max_size_mb > 0) a->o.budgets.max_size_mb = a->max_size_mb;
    a->o.progress = !a->no_progress;
    a->o.ort = !a->no_ort;
    if (!a->o.recipe_file.empty() && a->o.auto_search)
      throw_error(ErrorCode::kInvalidArgument, "give --recipe FILE or --auto, not both");
    if (a->o.recipe_file.empty()) a->o.auto_search = true;
    nlohmann::json r = optimize::run_optimize(a->o);
    print_summary(r);
    std::printf("report: %s/report.json, report.md, report.html\n", a->o.out_dir.c_str());
  });
}

}  // namespace edgeopt::cli

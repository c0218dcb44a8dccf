// `edgeopt prune`: unstructured magnitude pruning (masks kept through fine-tuning) or structured
// pruning to a FLOP budget, then fine-tuning; prints before/after accuracy, size, FLOPs, latency.
#include <filesystem>
#include <cstdio>
#include <fstream>

#include "cli/verbs/compress_common.h"
#include "cli/verbs/verbs.h"
#include "compress/prune/magnitude.h"
#include "compress/prune/structured.h"
#include "onnx/export.h"
#include "onnx/import.h"

namespace edgeopt::cli {

namespace {

struct PruneArgs {
  CompressArgs c;
  bool structured = false, global = false;
  double flops_ratio = 0.5, sparsity = 0.9;
  std::string criterion = "l1";
  int64_t channel_multiple = 1;
  int gradual_rounds = 1, final_epochs = 0;
  int64_t min_weights = 1024;
  bool sparse_storage = false;
};

void run_prune(PruneArgs& a) {
  train::DataSplits d = load_compress_data(a.c);
  Graph g = onnx::load_model(a.c.model);
  const Graph original = onnx::load_model(a.c.model);  // own weights: fine-tuning updates g in place
  Measurement before = measure(g, d);
  nlohmann::json j;
  train::TrainOptions t = a.c.train;
  if (a.structured) {
    EDGEOPT_CHECK_ARG(a.flops_ratio > 0 && a.flops_ratio < 1, "--flops-ratio must be in (0, 1), got " +
                                                                   std::to_string(a.flops_ratio));
    compress::StructuredReport r = compress::prune_structured(
        g, {.flops_ratio = a.flops_ratio, .criterion = a.criterion, .channel_multiple = a.channel_multiple});
    std::printf("structured pruning (%s): kept %.1f%% of the channels per layer, FLOPs %lld -> %lld\n",
                a.criterion.c_str(), 100 * r.keep_ratio, static_cast<long long>(r.flops_before),
                static_cast<long long>(r.flops_after));
    for (const auto& l : r.layers)
      std::printf("  %-24s %4lld -> %4lld channels\n", l.node.c_str(), static_cast<long long>(l.before), static_cast<long long>(l.after));
    j["structured"] = r.to_json();
    if (t.epochs > 0) j["fine_tune"]["best_val_metric"] = train::train_model(g, d, t).best_val_metric;
  } else if (a.gradual_rounds > 1) {
    compress::GradualOptions go{.final_sparsity = a.sparsity, .rounds = a.gradual_rounds,
                                .epochs_per_round = std::max(1, t.epochs / a.gradual_rounds),
                                .final_epochs = a.final_epochs, .global = a.global,
                                .min_weights = a.min_weights};
    compress::GradualReport r = compress::prune_gradual(g, d, t, go);
    for (size_t i = 0; i < r.sparsity_per_round.size(); ++i)
      std::printf("  %s %zu: sparsity %.1f%%, val %.4f\n", i < static_cast<size_t>(a.gradual_rounds) ? "round" : "final",
                  i + 1, 100 * r.sparsity_per_round[i], r.val_metric_per_round[i]);
    j["gradual"] = r.to_json();
  } else {
    compress::MagnitudeReport r =
        compress::prune_magnitude(g, {.sparsity = a.sparsity, .global = a.global, .min_weights = a.min_weights}, &t.masks);
    std::printf("magnitude pruning (%s): %.1f%% of %lld prunable weights are zero\n", a.global ? "global" : "layer-wise",
                100 * r.sparsity(), static_cast<long long>(r.pruned_numel));
    j["magnitude"] = r.to_json();
    if (t.epochs > 0) j["fine_tune"]["best_val_metric"] = train::train_model(g, d, t).best_val_metric;
  }
  Measurement after = measure(g, d);
  add_paired_latency(before, after, original, g, a.c.latency_runs, a.c.latency_threads);
  print_before_after(before, after);
  // Unstructured with --sparse-storage: pruned weights go to disk as ONNX sparse initializers, so the
  // file shrinks with the sparsity (ONNX Runtime densifies them at load; ONNX's strict shape
  // inference, onnx.checker full_check, does not accept them as inputs of dense ops).
  const bool sparse_file = !a.structured && a.sparse_storage;
  onnx::save_model(g, a.c.out, {.sparse_initializers = sparse_file});
  const auto file_bytes = std::filesystem::file_size(a.c.out);
  std::printf("wrote %s (%.1f KiB on disk%s)\n", a.c.out.c_str(), static_cast<double>(file_bytes) / 1024.0,
              sparse_file ? ", pruned weights as sparse initializers" : "");
  j["file_bytes"] = file_bytes;
  if (!a.c.report.empty()) {
    j["model"] = a.c.model;
    j["data"] = d.name;
    j["epochs"] = t.epochs;
    j["seed"] = t.seed;
    j["before"] = before.to_json();
    j["after"] = after.to_json();
    std::ofstream(a.c.report) << j.dump(2) << "\n";
  }
}

}  // namespace

void add_prune_verb(CLI::App& app) {
  auto a = std::make_shared<PruneArgs>();
  CLI::App* cmd = app.add_subcommand("prune", "Prune a model (unstructured sparsity or whole channels) and fine-tune it");
  cmd->add_option("model", a->c.model, "MODEL.onnx (trained)")->required();
  add_compress_flags(cmd, a->c, 2);
  cmd->add_flag("--structured", a->structured, "Remove whole filters/neurons/hidden units (the graph shrinks)");
  cmd->add_option("--flops-ratio", a->flops_ratio, "Structured: fraction of FLOPs kept")->default_val(0.5);
  cmd->add_option("--criterion", a->criterion, "Structured: l1, l2 or bn_scale")->default_val("l1");
  cmd->add_option("--channel-multiple", a->channel_multiple,
                  "Structured: round each layer's kept channels up to a multiple (8 suits the int8 conv kernels)")
      ->default_val(1);
  cmd->add_option("--sparsity", a->sparsity, "Unstructured: fraction of prunable weights set to zero")->default_val(0.9);
  cmd->add_flag("--global", a->global, "Unstructured: one magnitude threshold over all layers (default: per layer)");
  cmd->add_option("--gradual-rounds", a->gradual_rounds,
                  "Unstructured: prune in N rounds on a polynomial schedule, fine-tuning epochs/N epochs each")
      ->default_val(1);
  cmd->add_option("--final-epochs", a->final_epochs, "Gradual: extra fine-tuning epochs at the final sparsity")
      ->default_val(0);
  cmd->add_option("--min-weights", a->min_weights, "Unstructured: leave weights with fewer entries dense")->default_val(1024);
  cmd->add_flag("--sparse-storage", a->sparse_storage,
                "Unstructured: write weights with >= 60% zeros as ONNX sparse initializers (smaller file; ONNX "
                "Runtime and edgeopt load them, onnx.checker's full_check does not)");
  cmd->footer(
      "Examples:\n"
      "  edgeopt prune cnn.onnx --data fashion-mnist --structured --flops-ratio 0.5 --epochs 2 --out cnn.pruned.onnx\n"
      "  edgeopt prune cnn.onnx --data fashion-mnist --sparsity 0.9 --gradual-rounds 3 --epochs 3 --out cnn.sparse.onnx");
  cmd->callback([a] { run_prune(*a); });
}

}  // namespace edgeopt::cli

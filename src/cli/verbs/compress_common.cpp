#include "cli/verbs/compress_common.h"

#include <cstdio>
#include <tuple>

#include "core/thread_pool.h"

#include "cli/verbs/train_common.h"

namespace edgeopt::cli {

void add_compress_flags(CLI::App* cmd, CompressArgs& a, int epochs_default) {
  cmd->add_option("--data", a.data, dataset_spec_help())->required();
  cmd->add_option("--out", a.out, "Where to write the compressed model (ONNX)")->required();
  cmd->add_option("--report", a.report, "Write a JSON report (before/after metrics, what each pass changed)");
  cmd->add_option("--epochs", a.train.epochs, "Fine-tuning epochs after compressing (0: none)")->default_val(epochs_default);
  cmd->add_option("--seed", a.train.seed, "Seed of the train/val split and of fine-tuning (use the training seed)")
      ->default_val(1);
  cmd->add_option("--lr", a.lr, "Fine-tuning peak learning rate (default: 1e-3 images, 1e-3 series)");
  cmd->add_option("--batch", a.batch, "Fine-tuning batch size (default: 128 images, 32 otherwise)");
  cmd->add_option("--max-steps-per-epoch", a.train.max_steps_per_epoch, "Cap fine-tuning steps per epoch (quick runs)");
  cmd->add_option("--latency-runs", a.latency_runs, "Batch-1 runs timed per model for the median latency (0: skip)")
      ->default_val(100);
  cmd->add_option("--latency-threads", a.latency_threads,
                  "Threads for the latency measurement (1 gives stable numbers on a shared machine; 0: all)")
      ->default_val(1);
  cmd->add_flag("--no-progress", a.no_progress, "No progress bar");
  add_dataset_flags(cmd, a.data_opts);
}

train::DataSplits load_compress_data(CompressArgs& a) {
  a.data_opts.seed = a.train.seed;
  train::DataSplits d = train::load_dataset(a.data, a.data_opts);
  const bool image = d.train.x.rank() == 4;
  a.train.batch = a.batch > 0 ? a.batch : (image ? 128 : 32);
  a.train.lr = a.lr > 0 ? a.lr : 1e-3f;
  a.train.progress = !a.no_progress;
  std::fprintf(stderr, "%s\n", d.describe().c_str());
  return d;
}

nlohmann::json Measurement::to_json() const {
  nlohmann::json j = stats.to_json();
  j["test"] = eval_to_json(eval);
  return j;
}

Measurement measure(const Graph& g, const train::DataSplits& d) {
  Measurement m;
  m.eval = train::evaluate(g, d, "test");
  m.stats = compress::model_stats(g, 0);
  return m;
}

void add_paired_latency(Measurement& before, Measurement& after, const Graph& gb, const Graph& ga, int runs,
                        int threads) {
  if (runs <= 0) return;
  const int saved = num_threads();
  if (threads > 0) set_num_threads(threads);
  std::tie(before.stats.latency_ms, after.stats.latency_ms) = compress::paired_latency_ms(gb, ga, runs);
  set_num_threads(saved);
}

double headline_metric(const Measurement& m) {
  const auto& k = m.eval.task == "classification" ? "accuracy" : "rmse";
  auto it = m.eval.metrics.find(k);
  return it == m.eval.metrics.end() ? 0 : it->second;
}

void print_before_after(const Measurement& b, const Measurement& a) {
  const bool cls = b.eval.task == "classification";
  auto row = [](const char* name, double x, double y, const char* fmt) {
    char bx[64], by[64];
    std::snprintf(bx, sizeof bx, fmt, x);
    std::snprintf(by, sizeof by, fmt, y);
    std::printf("  %-22s %16s %16s   x%.3f\n", name, bx, by, x != 0 ? y / x : 0.0);
  };
  std::printf("  %-22s %16s %16s   %s\n", "", "before", "after", "after/before");
  if (cls) {
    std::printf("  %-22s %15.2f%% %15.2f%%   %+.2f pt\n", "test accuracy", 100 * headline_metric(b),
                100 * headline_metric(a), 100 * (headline_metric(a) - headline_metric(b)));
  } else {
    row("test RMSE", headline_metric(b), headline_metric(a), "%.4f");
  }
  row("parameters", static_cast<double>(b.stats.parameters), static_cast<double>(a.stats.parameters), "%.0f");
  row("non-zero parameters", static_cast<double>(b.stats.nonzero_parameters), static_cast<double>(a.stats.nonzero_parameters), "%.0f");
  row("dense size (KiB)", b.stats.dense_bytes / 1024.0, a.stats.dense_bytes / 1024.0, "%.1f");
  row("sparse size (KiB)", b.stats.sparse_bytes / 1024.0, a.stats.sparse_bytes / 1024.0, "%.1f");
  row("FLOPs/sample", static_cast<double>(b.stats.flops), static_cast<double>(a.stats.flops), "%.0f");
  row("effective FLOPs", static_cast<double>(b.stats.effective_flops), static_cast<double>(a.stats.effective_flops), "%.0f");
  if (b.stats.latency_ms > 0 && a.stats.latency_ms > 0) {
    row("latency b=1 (ms)", b.stats.latency_ms, a.stats.latency_ms, "%.4f");  // medians, timed alternately
    std::printf("  speedup: %.2fx\n", b.stats.latency_ms / a.stats.latency_ms);
  }
}

}  // namespace edgeopt::cli

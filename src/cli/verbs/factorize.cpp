// `edgeopt factorize`: truncated SVD (Gemm/MatMul/1x1 Conv) and Tucker-2 (KxK Conv) to an energy
// threshold or a FLOP budget, then fine-tuning; prints before/after accuracy, size, FLOPs, latency.
#include <cstdio>
#include <fstream>

#include "cli/verbs/compress_common.h"
#include "cli/verbs/verbs.h"
#include "compress/lowrank/factorize.h"
#include "onnx/export.h"
#include "onnx/import.h"

namespace edgeopt::cli {

namespace {

struct FactorizeArgs {
  CompressArgs c;
  compress::FactorizeOptions o;
  bool no_svd = false, no_tucker = false;
};

void run_factorize(FactorizeArgs& a) {
  train::DataSplits d = load_compress_data(a.c);
  Graph g = onnx::load_model(a.c.model);
  const Graph original = onnx::load_model(a.c.model);  // own weights: fine-tuning updates g in place
  Measurement before = measure(g, d);
  a.o.svd = !a.no_svd;
  a.o.tucker = !a.no_tucker;
  compress::FactorizeReport r = compress::factorize(g, a.o);
  std::printf("factorized at energy %.4f: FLOPs %lld -> %lld\n", r.energy, static_cast<long long>(r.flops_before),
              static_cast<long long>(r.flops_after));
  for (const auto& l : r.layers) {
    std::string ranks, full;
    for (size_t i = 0; i < l.rank.size(); ++i) {
      ranks += (i ? "," : "") + std::to_string(l.rank[i]);
      full += (i ? "," : "") + std::to_string(l.full_rank[i]);
    }
    std::printf("  %-24s %-8s rank %s of %s, params %lld -> %lld\n", l.node.c_str(), l.method.c_str(), ranks.c_str(),
                full.c_str(), static_cast<long long>(l.params_before), static_cast<long long>(l.params_after));
  }
  nlohmann::json j;
  j["factorize"] = r.to_json();
  train::TrainOptions t = a.c.train;
  if (t.epochs > 0) j["fine_tune"]["best_val_metric"] = train::train_model(g, d, t).best_val_metric;
  Measurement after = measure(g, d);
  add_paired_latency(before, after, original, g, a.c.latency_runs, a.c.latency_threads);
  print_before_after(before, after);
  onnx::save_model(g, a.c.out);
  std::printf("wrote %s\n", a.c.out.c_str());
  if (!a.c.report.empty()) {
    j["model"] = a.c.model;
    j["data"] = d.name;
    j["epochs"] = t.epochs;
    j["before"] = before.to_json();
    j["after"] = after.to_json();
    std::ofstream(a.c.report) << j.dump(2) << "\n";
  }
}

}  // namespace

void add_factorize_verb(CLI::App& app) {
  auto a = std::make_shared<FactorizeArgs>();
  CLI::App* cmd = app.add_subcommand("factorize", "Low-rank SVD and Tucker-2 decomposition of a model's layers, then fine-tune");
  cmd->add_option("model", a->c.model, "MODEL.onnx (trained)")->required();
  add_compress_flags(cmd, a->c, 2);
  cmd->add_option("--energy", a->o.energy, "Fraction of squared singular values kept per layer")->default_val(0.9);
  cmd->add_option("--flops-ratio", a->o.flops_ratio,
                  "Instead of --energy: the largest energy whose model has at most this fraction of the FLOPs");
  cmd->add_option("--max-cost", a->o.max_cost, "Only replace a layer when the factors cost <= this fraction of it")
      ->default_val(0.8);
  cmd->add_option("--tucker-rank", a->o.tucker_rank, "Tucker-2 ranks: energy (as --energy) or vbmf (EVBMF estimate)")
      ->default_val("energy");
  cmd->add_flag("--no-svd", a->no_svd, "Skip SVD of Gemm/MatMul/1x1 Conv");
  cmd->add_flag("--no-tucker", a->no_tucker, "Skip the decomposition of KxK Conv (Tucker-2 or CP)");
  cmd->add_option("--conv-method", a->o.conv_method,
                  "KxK Conv: tucker2 (1x1, KxK core, 1x1) or cp (1x1, Kx1 and 1xK depthwise, 1x1; the rank "
                  "is the smallest whose fit reaches --energy)")
      ->default_val("tucker2");
  cmd->footer(
      "Examples:\n"
      "  edgeopt factorize cnn.onnx --data fashion-mnist --flops-ratio 0.45 --epochs 2 --out cnn.lowrank.onnx\n"
      "  edgeopt factorize cnn.onnx --data fashion-mnist --energy 0.95 --no-tucker --out cnn.svd.onnx");
  cmd->callback([a] { run_factorize(*a); });
}

}  // namespace edgeopt::cli

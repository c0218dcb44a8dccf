// `edgeopt partition`: the edge-cloud split plan of a model (every cut's crossing bytes and
// predicted latency, privacy applied), the two halves as ONNX, plan.json, and optionally a
// Triton-layout repository of cloud halves for an OIP server.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "cli/verbs/split_common.h"
#include "cli/verbs/train_common.h"
#include "cli/verbs/verbs.h"
#include "onnx/export.h"
#include "onnx/import.h"
#include "split/partitioner.h"

namespace edgeopt::cli {

namespace {

struct PartitionArgs {
  std::string model, edge = "host", cloud, data, out, repo, transport = "auto", objective = "latency", name, cloud_model;
  std::string cut = "auto";
  std::vector<std::string> private_layers;
  double bandwidth = 0, rtt = 10, cloud_request_ms = 0, min_offload_gain = 0.05;
  bool allow_raw = false, json = false, all_transports = false;
  int runs = 20;
  int64_t max_eval = 2000;
  uint64_t seed = 1;
  train::DatasetOptions data_opts;
};

void print_table(const split::Partition& p) {
  std::printf("%4s  %-28s %5s %10s %5s %9s %9s %8s %9s %10s  %s\n", "cut", "after node", "#tens", "up bytes", "wire",
              "edge ms", "xfer ms", "rtt ms", "cloud ms", "total ms", "privacy");
  for (size_t k = 0; k < p.plan.cuts.size(); ++k) {
    const auto& c = p.plan.cuts[k];
    const auto& cut = p.cuts[k];
    std::string after = k == 0 ? "(all-cloud)" : cut.after_node;
    if (k + 1 == p.plan.cuts.size()) after += " (all-edge)";
    if (after.size() > 28) after = after.substr(0, 25) + "...";
    std::printf("%4zu  %-28s %5zu %10lld %5s %9.3f %9.3f %8.3f %9.3f %10.3f  %s%s\n", k, after.c_str(), cut.crossing.size(),
                static_cast<long long>(c.up_bytes), cut.all_edge() ? "-" : split::transport_name(c.transport), c.edge_ms,
                c.transfer_ms, c.rtt_ms, c.cloud_ms, c.total_ms, c.allowed ? "allowed" : "forbidden: ",
                c.reason.c_str());
  }
}

void run_partition(PartitionArgs& a) {
  EDGEOPT_CHECK_ARG(a.edge == "host", "--edge: only 'host' (this machine, measured) is supported, got '" + a.edge + "'");
  EDGEOPT_CHECK_ARG(a.bandwidth > 0, "--bandwidth must be > 0 Mbit/s");
  split::PartitionOptions o;
  o.privacy = {a.allow_raw, a.private_layers};
  if (a.transport != "auto") o.transports = {split::transport_from_name(a.transport)};
  o.objective = split::objective_from_name(a.objective);
  o.min_offload_gain = a.min_offload_gain;
  o.network = {a.bandwidth, a.rtt};
  o.cloud = a.cloud;
  o.cloud_model = a.cloud_model;
  o.cloud_request_ms = a.cloud_request_ms;
  o.profile_runs = a.runs;
  Graph model = onnx::load_model(a.model);
  o.model_prefix = a.name.empty() ? model_prefix_from_path(a.model) : a.name;
  SplitData d = load_split_data(model, a.data, a.data_opts, a.seed);
  std::fprintf(stderr, "profiling %s on this host (%d runs)...\n", a.model.c_str(), a.runs);
  split::Partition p = split::partition_model(model, d.sample, d.have_data ? &d.calib : nullptr, o);
  if (a.cut != "auto") {
    char* end = nullptr;
    const size_t k = std::strtoul(a.cut.c_str(), &end, 10);
    EDGEOPT_CHECK_ARG(*end == 0 && k < p.cuts.size(), "--cut must be auto or 0.." + std::to_string(p.cuts.size() - 1) +
                                                          ", got '" + a.cut + "'");
    EDGEOPT_CHECK_ARG(p.cuts[k].allowed, "--cut " + a.cut + " is forbidden: " + p.cuts[k].reason);
    p.plan.chosen = k;
  }
  nlohmann::json j = split::plan_to_json(p, o);
  j["chosen"]["forced"] = a.cut != "auto";
  const auto& b = p.plan.best();
  if (d.have_data && !p.cuts[b.cut].all_edge()) {
    std::fprintf(stderr, "checking the split against the full model on %s...\n", a.data.c_str());
    const split::SplitAccuracy acc = split::evaluate_split(p.graph, p.halves(b.cut, b.transport), d.splits.test, a.max_eval);
    j["accuracy"] = {{"data", a.data},          {"split", "test"},         {"samples", acc.samples},
                     {"metric", acc.metric},     {"full", acc.full},         {"split_model", acc.split},
                     {"agreement", acc.agreement}, {"max_abs_diff", acc.max_abs_diff}};
  }
  if (!a.out.empty()) {
    std::filesystem::create_directories(a.out);
    const split::SplitHalves h = p.halves(b.cut, b.transport);
    onnx::save_model(h.edge, (std::filesystem::path(a.out) / "edge.onnx").string());
    if (!h.all_edge()) onnx::save_model(h.cloud, (std::filesystem::path(a.out) / "cloud.onnx").string());
    std::ofstream((std::filesystem::path(a.out) / "plan.json").string()) << j.dump(2) << "\n";
  }
  if (!a.repo.empty()) {
    const auto names = split::write_cloud_repository(p, o, a.repo, a.all_transports);
    j["repository"] = {{"dir", a.repo}, {"models", names}};
    std::fprintf(stderr, "wrote %zu cloud models to %s\n", names.size(), a.repo.c_str());
  }
  if (a.json) {
    std::printf("%s\n", j.dump(2).c_str());
    return;
  }
  std::printf("edge:    this host, %s\ncloud:   %s\nnetwork: %.3f Mbit/s, RTT %.3f ms; objective %s\n", p.edge.source.c_str(),
              p.cloud.source.c_str(), a.bandwidth, a.rtt, a.objective.c_str());
  print_table(p);
  const auto& edge_only = p.plan.cuts.back();
  const bool edge_all = p.cuts[b.cut].all_edge();
  std::printf("chosen:  cut %zu (%s), %s: predicted %.3f ms, %.3f mJ (all-edge %.3f ms)\n", b.cut,
              b.cut == 0 ? "all-cloud" : edge_all ? "all-edge" : ("after " + p.cuts[b.cut].after_node).c_str(),
              edge_all ? "nothing sent" : (std::string(split::transport_name(b.transport)) + " wire").c_str(), b.total_ms,
              b.energy_mj, edge_only.total_ms);
  if (j.contains("accuracy")) {
    const auto& acc = j["accuracy"];
    std::printf("accuracy on %s test (%lld samples): %s full %.4f, split %.4f; top-1 agreement %.2f%%, max |diff| %.4g\n",
                a.data.c_str(), acc["samples"].get<long long>(), acc["metric"].get<std::string>().c_str(),
                acc["full"].get<double>(), acc["split_model"].get<double>(), 100 * acc["agreement"].get<double>(),
                acc["max_abs_diff"].get<double>());
  }
  if (!a.out.empty()) std::printf("wrote edge.onnx, cloud.onnx, plan.json to %s\n", a.out.c_str());
}

}  // namespace

void add_partition_verb(CLI::App& app) {
  auto a = std::make_shared<PartitionArgs>();
  CLI::App* cmd = app.add_subcommand("partition", "Plan an edge-cloud split: latency of every cut, privacy, the two halves as ONNX");
  cmd->add_option("model", a->model, "MODEL.onnx (f32, one input)")->required();
  cmd->add_option("--edge", a->edge, "Edge target: 'host' = this machine, profiled per layer")->default_val("host");
  cmd->add_option("--cloud", a->cloud, "speedup:X (the cloud is X times faster per layer) or the http:// URL of an OIP "
                                       "server serving the full model (its speed is measured)")->required();
  cmd->add_option("--cloud-request-ms", a->cloud_request_ms, "With speedup:X: the server's fixed cost per request, ms")
      ->default_val(0);
  cmd->add_option("--cloud-model", a->cloud_model, "With a URL: the full model's name there (default <name>_full)");
  cmd->add_option("--bandwidth", a->bandwidth, "Link bandwidth, Mbit/s")->required();
  cmd->add_option("--rtt-ms", a->rtt, "Round-trip time, ms")->default_val(10);
  cmd->add_option("--private-layers", a->private_layers, "Nodes whose outputs and inputs must stay on the edge")->delimiter(',');
  cmd->add_flag("--allow-raw-inputs", a->allow_raw, "Allow the raw input to leave the edge (all-cloud)");
  cmd->add_option("--transport", a->transport, "Cut tensor wire format: int8, fp16, fp32 or auto (cheapest per cut)")->default_val("auto");
  cmd->add_option("--cut", a->cut, "auto (the solver's pick) or a cut index to export instead")->default_val("auto");
  cmd->add_option("--objective", a->objective, "latency or energy")->default_val("latency");
  cmd->add_option("--min-offload-gain", a->min_offload_gain,
                  "Offload only when the predicted gain over all-edge is at least this fraction (0.05 = 5%): "
                  "near-ties stay on the edge, where a slow or lost cloud cannot hurt")
      ->default_val(0.05)->check(CLI::Range(0.0, 0.99));
  cmd->add_option("--data", a->data, "Data set for the profiling sample, the int8 scales and the accuracy check: " + dataset_spec_help());
  cmd->add_option("--out", a->out, "Write edge.onnx, cloud.onnx and plan.json here");
  cmd->add_option("--repo", a->repo, "Also write every allowed cut's cloud half (and <name>_full) in Triton's layout here");
  cmd->add_flag("--all-transports", a->all_transports, "With --repo: every transport per cut, not only the planned one");
  cmd->add_option("--name", a->name, "Model name prefix on the cloud (default: the file name)");
  cmd->add_option("--runs", a->runs, "Profiling runs per layer")->default_val(20);
  cmd->add_option("--max-eval", a->max_eval, "Test samples for the accuracy check")->default_val(2000);
  cmd->add_option("--seed", a->seed, "Seed (train/val split, calibration subset)")->default_val(1);
  cmd->add_flag("--json", a->json, "Print plan.json instead of the table");
  add_dataset_flags(cmd, a->data_opts);
  cmd->footer(
      "Examples:\n"
      "  edgeopt partition cnn.onnx --edge host --cloud speedup:8 --bandwidth 10 --rtt-ms 20 --data fashion-mnist --out split/\n"
      "  edgeopt partition cnn.onnx --cloud speedup:8 --bandwidth 1 --private-layers conv1 --transport fp16\n"
      "  edgeopt partition cnn.onnx --cloud http://10.0.0.2:8080 --bandwidth 100 --data fashion-mnist --repo repo/ --json");
  cmd->callback([a] { run_partition(*a); });
}

}  // namespace edgeopt::cli

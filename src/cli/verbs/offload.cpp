// `edgeopt offload`: runs real requests through an edge-cloud split against an OIP server (the
// cloud halves written by `partition --repo`), with the deadline fallback, and reports measured
// end-to-end latency: for the adaptive plan (--cut auto), one cut, or every allowed cut (--cut all).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <thread>

#include "cli/verbs/split_common.h"
#include "cli/verbs/train_common.h"
#include "cli/verbs/verbs.h"
#include "onnx/import.h"
#include "runtime/session.h"
#include "split/edge_node.h"
#include "split/partitioner.h"

namespace edgeopt::cli {

namespace {

struct OffloadArgs {
  std::string model, plan, cloud, data, cut = "auto";
  std::string cloud_ca, cloud_cert, cloud_key, cloud_token_file;
  int requests = 50, warmup = 3;
  double deadline_ms = 1000, interval_ms = 0, bandwidth = 0, rtt = -1, duration_s = 0;
  bool json = false, no_progress = false;
  uint64_t seed = 1;
  train::DatasetOptions data_opts;
};

struct Series {
  std::vector<double> ms;
  int64_t cloud = 0, local = 0, misses = 0, answered = 0, wrong = 0;
  double max_abs_diff = 0;
  double pct(double q) const {
    if (ms.empty()) return 0;
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
  }
  double mean() const {
    double s = 0;
    for (double v : ms) s += v;
    return ms.empty() ? 0 : s / static_cast<double>(ms.size());
  }
  nlohmann::json json() const {
    return {{"requests", ms.size()}, {"answered", answered}, {"lost", static_cast<int64_t>(ms.size()) - answered},
            {"cloud_answers", cloud}, {"local_answers", local}, {"deadline_misses", misses},
            {"mean_ms", mean()}, {"p50_ms", pct(0.5)}, {"p95_ms", pct(0.95)}, {"max_abs_diff_vs_full", max_abs_diff},
            {"top1_disagreements", wrong}};
  }
};

void progress(bool on, const std::string& what, int i, int n) {
  if (!on) return;
  const int w = 30, f = n ? w * i / n : w;
  std::fprintf(stderr, "\r%-24s [%s%s] %d/%d", what.c_str(), std::string(static_cast<size_t>(f), '#').c_str(),
               std::string(static_cast<size_t>(w - f), '.').c_str(), i, n);
  if (i == n) std::fprintf(stderr, "\n");
}

void run_offload(OffloadArgs& a) {
  Graph model = onnx::load_model(a.model);
  SplitData d = load_split_data(model, a.data, a.data_opts, a.seed);
  std::ifstream pf(a.plan);
  EDGEOPT_CHECK(pf.good(), ErrorCode::kNotFound, "cannot open plan '" + a.plan + "'");
  const nlohmann::json pj = nlohmann::json::parse(pf, nullptr, false);
  EDGEOPT_CHECK_ARG(!pj.is_discarded(), "plan '" + a.plan + "' is not JSON");
  split::PartitionOptions o;
  split::Partition p = split::partition_from_json(model, d.sample, pj, &o);
  split::NetworkEstimate prior = o.network;
  if (a.bandwidth > 0) prior.bandwidth_mbps = a.bandwidth;
  if (a.rtt >= 0) prior.rtt_ms = a.rtt;
  split::EdgeNodeOptions eo;
  eo.cloud_url = a.cloud;
  eo.cloud_client.ca_file = a.cloud_ca;
  eo.cloud_client.cert_file = a.cloud_cert;
  eo.cloud_client.key_file = a.cloud_key;
  if (!a.cloud_token_file.empty()) eo.cloud_client.bearer_token = split::read_bearer_token_file(a.cloud_token_file);
  eo.model_prefix = o.model_prefix;
  eo.deadline_ms = a.deadline_ms;
  split::EdgeNode node(p.graph, p.cuts, p.edge, p.cloud, p.wire, o.solver(), prior, eo);
  runtime::Session full(p.graph);
  const std::string in = p.graph.inputs[0].name, out = p.graph.outputs[0].name;
  const int64_t pool = d.have_data ? std::min<int64_t>(d.splits.test.x.shape()[0], 512) : 1;
  auto input = [&](int i) { return d.have_data ? split::slice_rows(d.splits.test.x, i % pool, 1) : d.sample; };
  const bool bar = !a.no_progress && !a.json;

  // --duration-s bounds a run by time (a soak): it stops after the request under way when the time is up.
  const auto started = std::chrono::steady_clock::now();
  auto time_up = [&] {
    return a.duration_s > 0 &&
           std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() >= a.duration_s;
  };
  auto run_series = [&](const std::string& label, int n, auto&& call) {
    Series s;
    for (int i = 0; i < n && !time_up(); ++i) {
      const Tensor x = input(i);
      if (i % 10 == 0) node.probe();
      split::EdgeAnswer r = call(x);
      const Tensor want = full.run({{in, x}}).at(out);
      auto it = r.outputs.find(out);
      if (it != r.outputs.end()) {
        ++s.answered;
        int64_t aw = 0, ag = 0;
        for (int64_t k = 0; k < want.numel(); ++k) {
          s.max_abs_diff = std::max(s.max_abs_diff, std::abs(want.at(k) - it->second.at(k)));
          if (want.at(k) > want.at(aw)) aw = k;
          if (it->second.at(k) > it->second.at(ag)) ag = k;
        }
        s.wrong += aw != ag;
      }
      s.ms.push_back(r.total_ms);
      (r.from_cloud ? s.cloud : s.local)++;
      s.misses += !r.met_deadline;
      progress(bar, label, i + 1, n);
      if (a.interval_ms > 0) std::this_thread::sleep_for(std::chrono::microseconds(static_cast<int64_t>(a.interval_ms * 1e3)));
    }
    return s;
  };

  nlohmann::json rep;
  rep["model"] = a.model;
  rep["cloud"] = a.cloud;
  rep["deadline_ms"] = a.deadline_ms;
  rep["prior"] = {{"bandwidth_mbps", prior.bandwidth_mbps}, {"rtt_ms", prior.rtt_ms}};
  if (a.cut == "all") {
    // Every allowed cut, measured round-robin (one request per cut per round) so that a change in
    // machine load hits every cut alike; the estimator learns from all of them (many payload sizes).
    std::vector<size_t> ks;
    for (size_t k = 0; k < p.cuts.size(); ++k)
      if (p.cuts[k].allowed) ks.push_back(k);
    std::map<size_t, Series> per;
    const int rounds = a.warmup + a.requests;
    for (int r = 0; r < rounds && !time_up(); ++r) {
      for (size_t k : ks) {
        const Tensor x = input(r);
        if (r % 10 == 0 && k == ks.front()) node.probe();
        split::EdgeAnswer ans = node.infer_at({{in, x}}, k, node.plan().cuts[k].transport);
        if (r < a.warmup) continue;
        Series& s = per[k];
        const Tensor want = full.run({{in, x}}).at(out);
        auto it = ans.outputs.find(out);
        if (it != ans.outputs.end()) {
          ++s.answered;
          for (int64_t i = 0; i < want.numel(); ++i)
            s.max_abs_diff = std::max(s.max_abs_diff, std::abs(want.at(i) - it->second.at(i)));
        }
        s.ms.push_back(ans.total_ms);
        (ans.from_cloud ? s.cloud : s.local)++;
        s.misses += !ans.met_deadline;
      }
      progress(bar, "all cuts", r + 1, rounds);
    }
    for (size_t k : ks) {
      nlohmann::json cj = per[k].json();
      cj["cut"] = k;
      cj["after_node"] = p.cuts[k].after_node;
      cj["transport"] = split::transport_name(node.plan().cuts[k].transport);
      rep["cuts"].push_back(cj);
    }
    const split::NetworkEstimate est = node.network();
    const split::Plan learned = split::solve_split(p.cuts, p.edge, p.cloud, est, o.solver());
    size_t best = 0;
    double best_ms = 1e300;
    for (const auto& c : rep["cuts"])
      if (c["p50_ms"].get<double>() < best_ms) {
        best_ms = c["p50_ms"].get<double>();
        best = c["cut"].get<size_t>();
      }
    auto measured = [&](size_t k) -> double {
      for (const auto& c : rep["cuts"])
        if (c["cut"].get<size_t>() == k) return c["p50_ms"].get<double>();
      return -1;
    };
    for (auto& c : rep["cuts"]) c["predicted_ms"] = learned.cuts[c["cut"].get<size_t>()].total_ms;
    rep["estimate"] = {{"bandwidth_mbps", est.bandwidth_mbps}, {"rtt_ms", est.rtt_ms}};
    rep["chosen"] = {{"cut", learned.best().cut}, {"predicted_ms", learned.best().total_ms},
                     {"measured_p50_ms", measured(learned.best().cut)}};
    const auto& prior_pick = p.plan.best();
    rep["chosen_prior"] = {{"cut", prior_pick.cut}, {"predicted_ms", prior_pick.total_ms},
                           {"measured_p50_ms", measured(prior_pick.cut)}};
    rep["best_measured"] = {{"cut", best}, {"p50_ms", best_ms}};
    rep["all_edge_p50_ms"] = measured(p.cuts.size() - 1);
    rep["all_cloud_p50_ms"] = p.cuts[0].allowed ? nlohmann::json(measured(0)) : nlohmann::json(nullptr);
    if (!a.json) {
      std::printf("%4s  %-24s %5s %10s %10s %10s %7s %6s\n", "cut", "after node", "wire", "predicted", "p50 ms", "mean ms",
                  "cloud", "local");
      for (const auto& c : rep["cuts"])
        std::printf("%4zu  %-24s %5s %10.3f %10.3f %10.3f %7lld %6lld\n", c["cut"].get<size_t>(),
                    c["after_node"].get<std::string>().substr(0, 24).c_str(), c["transport"].get<std::string>().c_str(),
                    c["predicted_ms"].get<double>(), c["p50_ms"].get<double>(), c["mean_ms"].get<double>(),
                    c["cloud_answers"].get<long long>(), c["local_answers"].get<long long>());
      std::printf("estimate: %.3f Mbit/s, RTT %.3f ms; chosen cut %zu measured %.3f ms; best measured cut %zu %.3f ms\n",
                  est.bandwidth_mbps, est.rtt_ms, learned.best().cut, measured(learned.best().cut), best, best_ms);
    }
  } else {
    const bool fixed = a.cut != "auto";
    size_t k = 0;
    if (fixed) {
      char* end = nullptr;
      k = std::strtoul(a.cut.c_str(), &end, 10);
      EDGEOPT_CHECK_ARG(*end == 0 && k < p.cuts.size(), "--cut must be auto, all or 0.." + std::to_string(p.cuts.size() - 1));
      EDGEOPT_CHECK_ARG(p.cuts[k].allowed, "cut " + a.cut + " is forbidden: " + p.cuts[k].reason);
    }
    const split::Transport t = node.plan().cuts[k].transport;
    std::map<size_t, int64_t> used;  // cut -> requests (a count, not a list: a soak sends millions)
    auto call = [&](const Tensor& x) {
      split::EdgeAnswer r = fixed ? node.infer_at({{in, x}}, k, t) : node.infer({{in, x}});
      ++used[r.cut];
      return r;
    };
    Series s = run_series(fixed ? "cut " + a.cut : "adaptive", a.requests, call);
    rep["run"] = s.json();
    for (const auto& [cut, count] : used) rep["cuts_used"][std::to_string(cut)] = count;
  }
  const auto& st = node.stats();
  rep["fallbacks"] = st.fallbacks;
  rep["fallback_reasons"] = st.fallback_reasons;
  rep["replans"] = st.replans;
  rep["final_plan_cut"] = node.plan().best().cut;
  rep["estimate"] = {{"bandwidth_mbps", node.network().bandwidth_mbps}, {"rtt_ms", node.network().rtt_ms}};
  if (a.json) {
    std::printf("%s\n", rep.dump(2).c_str());
    return;
  }
  if (rep.contains("run")) {
    const auto& r = rep["run"];
    std::printf("%lld requests: %lld answered, %lld lost; %lld from the cloud, %lld local; p50 %.3f ms, p95 %.3f ms, "
                "mean %.3f ms; %lld deadline misses\n",
                r["requests"].get<long long>(), r["answered"].get<long long>(), r["lost"].get<long long>(),
                r["cloud_answers"].get<long long>(), r["local_answers"].get<long long>(), r["p50_ms"].get<double>(),
                r["p95_ms"].get<double>(), r["mean_ms"].get<double>(), r["deadline_misses"].get<long long>());
  }
  std::printf("fallbacks %lld %s; replans %lld; estimate %.3f Mbit/s RTT %.3f ms; plan now cut %zu\n",
              static_cast<long long>(st.fallbacks), rep["fallback_reasons"].dump().c_str(), static_cast<long long>(st.replans),
              node.network().bandwidth_mbps, node.network().rtt_ms, node.plan().best().cut);
}

}  // namespace

void add_offload_verb(CLI::App& app) {
  auto a = std::make_shared<OffloadArgs>();
  CLI::App* cmd = app.add_subcommand("offload", "Run requests through an edge-cloud split against an OIP server, measured");
  cmd->add_option("model", a->model, "MODEL.onnx (the one given to partition)")->required();
  cmd->add_option("--plan", a->plan, "plan.json from `edgeopt partition --out`")->required();
  cmd->add_option("--cloud", a->cloud, "http:// or https:// URL of the OIP server with the cloud halves (partition --repo)")->required();
  cmd->add_option("--cloud-ca", a->cloud_ca, "PEM CA the https:// cloud's certificate must chain to (else the system store)");
  cmd->add_option("--cloud-cert", a->cloud_cert, "PEM client certificate for a cloud that requires mTLS (with --cloud-key)");
  cmd->add_option("--cloud-key", a->cloud_key, "PEM private key of --cloud-cert");
  cmd->add_option("--cloud-token-file", a->cloud_token_file, "File whose first line is the bearer token for the cloud server");
  cmd->add_option("--data", a->data, "Requests are test samples of this data set (else noise): " + dataset_spec_help());
  cmd->add_option("--requests", a->requests, "Requests (per cut with --cut all)")->default_val(50);
  cmd->add_option("--warmup", a->warmup, "Unmeasured requests per cut first (--cut all)")->default_val(3);
  cmd->add_option("--deadline-ms", a->deadline_ms, "Per-request deadline; past it the edge answers alone")->default_val(1000);
  cmd->add_option("--interval-ms", a->interval_ms, "Pause between requests")->default_val(0);
  cmd->add_option("--duration-s", a->duration_s, "Stop after this many seconds even before --requests (0: no limit)")
      ->default_val(0);
  cmd->add_option("--cut", a->cut, "auto (the adaptive plan), all (measure every allowed cut) or a cut index")->default_val("auto");
  cmd->add_option("--bandwidth", a->bandwidth, "Override the plan's bandwidth prior, Mbit/s");
  cmd->add_option("--rtt-ms", a->rtt, "Override the plan's RTT prior, ms");
  cmd->add_option("--seed", a->seed, "Seed of the data split")->default_val(1);
  cmd->add_flag("--json", a->json, "Print one JSON report");
  cmd->add_flag("--no-progress", a->no_progress, "No progress bar");
  add_dataset_flags(cmd, a->data_opts);
  cmd->footer(
      "Examples:\n"
      "  edgeopt partition cnn.onnx --cloud speedup:8 --bandwidth 10 --data fashion-mnist --out split/ --repo repo/\n"
      "  (serve repo/ with any OIP server, e.g. bench/kserve_cloud.py repo/ --port 8080)\n"
      "  edgeopt offload cnn.onnx --plan split/plan.json --cloud http://127.0.0.1:8080 --data fashion-mnist --requests 200\n"
      "  edgeopt offload cnn.onnx --plan split/plan.json --cloud http://127.0.0.1:8080 --cut all --json");
  cmd->callback([a] { run_offload(*a); });
}

}  // namespace edgeopt::cli

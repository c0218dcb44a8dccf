#include "split/partitioner.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>

#include "onnx/export.h"
#include "runtime/session.h"
#include "split/edge_node.h"
#include "split/oip_client.h"

namespace edgeopt::split {

Tensor slice_rows(const Tensor& x, int64_t begin, int64_t n) {
  EDGEOPT_CHECK_ARG(x.rank() >= 1 && begin >= 0 && n >= 0 && begin + n <= x.shape()[0],
                    "rows [" + std::to_string(begin) + ", " + std::to_string(begin + n) + ") of " + x.describe());
  std::vector<int64_t> dims = x.shape().dims();
  const size_t row = x.nbytes() / static_cast<size_t>(std::max<int64_t>(dims[0], 1));
  dims[0] = n;
  Tensor t(x.dtype(), Shape(dims));
  if (n) std::memcpy(t.raw(), static_cast<const uint8_t*>(x.raw()) + static_cast<size_t>(begin) * row, row * static_cast<size_t>(n));
  return t;
}

namespace {

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

LayerProfile cloud_profile_for(const Graph& g, const LayerProfile& edge, const Tensor& sample, const PartitionOptions& o) {
  const std::string sp = "speedup:";
  if (o.cloud.rfind(sp, 0) == 0) {
    const std::string v = o.cloud.substr(sp.size());
    char* end = nullptr;
    const double x = std::strtod(v.c_str(), &end);
    EDGEOPT_CHECK_ARG(!v.empty() && *end == 0 && x > 0 && std::isfinite(x),
                      "--cloud speedup:X needs a number > 0, got '" + o.cloud + "'");
    return scale_profile(edge, x, "speed factor " + v + "x of the edge profile, " + std::to_string(o.cloud_request_ms) +
                                      " ms per request (given, not measured)", o.cloud_request_ms);
  }
  EDGEOPT_CHECK_ARG(o.cloud.rfind("http://", 0) == 0,
                    "--cloud must be speedup:X or an http:// URL of an OIP server, got '" + o.cloud + "'");
  // The tail: the last cut's cloud half (one node), on the first wire the plan may use that the
  // repository has; its edge-side wire tensors come from running its edge half on the sample.
  std::string tail;
  std::map<std::string, Tensor> tail_in;
  std::vector<std::string> tail_out;
  const std::vector<Cut> cuts = enumerate_cuts(g, measure_value_shapes(g, sample), {.allow_raw_inputs = true});
  if (cuts.size() >= 2) {
    const Cut& last = cuts[cuts.size() - 2];
    // fp32 needs no scales (int8's are calibrated later); `partition --repo` always writes it
    // for the last cut when fp32 is among the transports, and --all-transports writes every wire.
    for (Transport t : {Transport::kF32}) {
      SplitHalves h = split_model(g, last, t);
      SplitRunner r(h);
      auto e = r.run_edge({{g.inputs[0].name, sample}});
      for (const auto& w : h.wire) tail_in[w.wire_name] = e.at(w.wire_name);
      tail_out = h.cloud_outputs;
      tail = cloud_model_name(o.model_prefix, last.index, t);
      break;
    }
  }
  return measure_cloud_profile(g, edge, o.cloud, o.cloud_model.empty() ? o.model_prefix + "_full" : o.cloud_model,
                               sample, o.network.bandwidth_mbps, o.profile_runs, tail, tail_in, tail_out);
}

}  // namespace

LayerProfile measure_cloud_profile(const Graph& g, const LayerProfile& edge, const std::string& url,
                                   const std::string& model, const Tensor& sample, double bandwidth_mbps, int runs,
                                   const std::string& tail, const std::map<std::string, Tensor>& tail_inputs,
                                   const std::vector<std::string>& tail_outputs) {
  OipClient c(url);
  std::vector<double> rtt, total;
  for (int i = 0; i < 5; ++i) {
    double ms = 0;
    if (!c.ready(5000, &ms))
      throw_error(ErrorCode::kUnavailable, "cloud " + url + " is not ready (GET /v2/health/ready failed)");
    rtt.push_back(ms);
  }
  std::vector<std::string> outs;
  for (const auto& o : g.outputs) outs.push_back(o.name);
  int64_t bytes = 0;
  for (int i = 0; i < std::max(3, runs) + 1; ++i) {
    OipResult r = c.infer(model, {{g.inputs[0].name, sample}}, outs, 30000);
    if (!r.ok())
      throw_error(ErrorCode::kUnavailable, "measuring the cloud: " + r.error +
                                               " (serve the full model there, e.g. from `partition --repo`)");
    if (i) total.push_back(r.ms);  // the first request may load the model lazily
    bytes = r.bytes_sent + r.bytes_received;
  }
  std::vector<double> tail_ms;
  int64_t tail_bytes = 0;
  if (!tail.empty()) {
    for (int i = 0; i < std::max(3, runs) + 1; ++i) {
      OipResult r = c.infer(tail, tail_inputs, tail_outputs, 30000);
      if (!r.ok()) {
        tail_ms.clear();  // not served (another wire in the repository): overhead unknown
        break;
      }
      if (i) tail_ms.push_back(r.ms);
      tail_bytes = r.bytes_sent + r.bytes_received;
    }
  }
  char src[512];
  // Floor at 1% of the edge: a cloud measured as "free" would make every split look like all-cloud.
  const double floor_ms = 0.01 * edge.total_ms();
  if (!tail_ms.empty()) {
    const double overhead = std::max(0.0, median(tail_ms) - median(rtt) - transfer_ms(tail_bytes, bandwidth_mbps));
    const double cloud_ms = std::max(median(total) - median(tail_ms) - transfer_ms(bytes - tail_bytes, bandwidth_mbps), floor_ms);
    const double speedup = edge.total_ms() / cloud_ms;
    std::snprintf(src, sizeof src,
                  "measured: %s model '%s' median %.3f ms - tail '%s' %.3f ms - transfer difference %.3f ms = %.3f ms "
                  "of compute (speed factor %.2fx of this host, per layer) + %.3f ms per request (tail - RTT %.3f ms)",
                  url.c_str(), model.c_str(), median(total), tail.c_str(), median(tail_ms),
                  transfer_ms(bytes - tail_bytes, bandwidth_mbps), cloud_ms, speedup, overhead, median(rtt));
    return scale_profile(edge, speedup, src, overhead);
  }
  const double net = median(rtt) + transfer_ms(bytes, bandwidth_mbps);
  const double cloud_ms = std::max(median(total) - net, floor_ms);
  const double speedup = edge.total_ms() / std::max(cloud_ms, 1e-6);
  std::snprintf(src, sizeof src,
                "measured: %s model '%s' median %.3f ms - RTT %.3f ms - transfer %.3f ms = %.3f ms for the whole "
                "model, speed factor %.2fx of this host applied per layer",
                url.c_str(), model.c_str(), median(total), median(rtt), net - median(rtt), cloud_ms, speedup);
  return scale_profile(edge, speedup, src);
}

Partition partition_model(Graph model, const Tensor& sample, const Tensor* calib, const PartitionOptions& o) {
  Partition p;
  p.graph = prepare_for_partition(std::move(model));
  p.cuts = enumerate_cuts(p.graph, measure_value_shapes(p.graph, sample), o.privacy);
  p.edge = profile_edge(p.graph, sample, o.profile_runs);
  p.cloud = cloud_profile_for(p.graph, p.edge, sample, o);
  std::vector<Transport> ts = o.transports;
  if (ts.empty()) {
    ts = {Transport::kF32, Transport::kF16};
    if (calib) ts.push_back(Transport::kInt8);
  }
  const bool int8 = std::count(ts.begin(), ts.end(), Transport::kInt8) != 0;
  EDGEOPT_CHECK_ARG(!int8 || calib, "the int8 transport needs calibration data (--data) for its scales");
  if (int8) p.wire = calibrate_transport(p.graph, *calib);
  SolverOptions so = o.solver();
  so.transports = ts;
  p.plan = solve_split(p.cuts, p.edge, p.cloud, o.network, so);
  return p;
}

namespace {
nlohmann::json profile_json(const LayerProfile& p) {
  return {{"source", p.source}, {"node_ms", p.node_ms}, {"request_ms", p.request_ms}};
}
LayerProfile profile_from(const nlohmann::json& j) {
  LayerProfile p;
  p.source = j.at("source").get<std::string>();
  p.request_ms = j.value("request_ms", 0.0);
  p.node_ms = j.at("node_ms").get<std::vector<double>>();
  return p;
}
}  // namespace

nlohmann::json plan_to_json(const Partition& p, const PartitionOptions& o) {
  nlohmann::json j;
  j["format"] = "edgeopt.split.plan/1";
  j["model_prefix"] = o.model_prefix;
  for (const auto& n : p.graph.nodes) j["nodes"].push_back(n.name);
  j["privacy"] = {{"allow_raw_inputs", o.privacy.allow_raw_inputs}, {"private_layers", o.privacy.private_layers}};
  j["objective"] = objective_name(o.objective);
  j["min_offload_gain"] = o.min_offload_gain;
  j["energy"] = {{"edge_active_w", o.energy.edge_active_w}, {"edge_idle_w", o.energy.edge_idle_w},
                 {"radio_active_w", o.energy.radio_active_w}, {"radio_nj_per_bit", o.energy.radio_nj_per_bit}};
  std::vector<std::string> ts;
  for (Transport t : {Transport::kF32, Transport::kF16, Transport::kInt8})
    if (t != Transport::kInt8 || !p.wire.int8.empty())
      if (o.transports.empty() || std::count(o.transports.begin(), o.transports.end(), t)) ts.push_back(transport_name(t));
  j["transports"] = ts;
  j["network"] = {{"bandwidth_mbps", p.plan.network.bandwidth_mbps}, {"rtt_ms", p.plan.network.rtt_ms}};
  j["cloud"] = o.cloud;
  j["edge_profile"] = profile_json(p.edge);
  j["cloud_profile"] = profile_json(p.cloud);
  j["int8_wire"] = nlohmann::json::object();
  for (const auto& [name, q] : p.wire.int8) j["int8_wire"][name] = {q.scale, q.zero_point};
  for (size_t i = 0; i < p.plan.cuts.size(); ++i) {
    const CutPrediction& c = p.plan.cuts[i];
    const Cut& cut = p.cuts[i];
    nlohmann::json cj{{"cut", c.cut},          {"after_node", cut.after_node}, {"transport", transport_name(c.transport)},
                      {"up_bytes", c.up_bytes}, {"down_bytes", c.down_bytes},   {"edge_ms", c.edge_ms},
                      {"transfer_ms", c.transfer_ms}, {"rtt_ms", c.rtt_ms},     {"cloud_ms", c.cloud_ms},
                      {"total_ms", c.total_ms}, {"energy_mj", c.energy_mj},     {"allowed", c.allowed},
                      {"reason", c.reason}};
    cj["crossing"] = nlohmann::json::array();
    for (const auto& t : cut.crossing)
      cj["crossing"].push_back({{"name", t.name}, {"dtype", dtype_name(t.dtype)}, {"shape", t.shape.dims()}});
    j["cuts"].push_back(cj);
  }
  const CutPrediction& b = p.plan.best();
  j["chosen"] = {{"cut", b.cut}, {"transport", transport_name(b.transport)}, {"total_ms", b.total_ms},
                 {"energy_mj", b.energy_mj}, {"after_node", p.cuts[b.cut].after_node},
                 {"cloud_model", p.cuts[b.cut].all_edge() ? "" : cloud_model_name(o.model_prefix, b.cut, b.transport)}};
  return j;
}

Partition partition_from_json(Graph model, const Tensor& sample, const nlohmann::json& j, PartitionOptions* o) {
  try {
    EDGEOPT_CHECK_ARG(j.value("format", "") == "edgeopt.split.plan/1", "not an edgeopt split plan (format field)");
    o->model_prefix = j.at("model_prefix").get<std::string>();
    o->privacy.allow_raw_inputs = j.at("privacy").at("allow_raw_inputs").get<bool>();
    o->privacy.private_layers = j.at("privacy").at("private_layers").get<std::vector<std::string>>();
    o->objective = objective_from_name(j.at("objective").get<std::string>());
    o->min_offload_gain = j.value("min_offload_gain", 0.05);
    const auto& e = j.at("energy");
    o->energy = {e.at("edge_active_w"), e.at("edge_idle_w"), e.at("radio_active_w"), e.at("radio_nj_per_bit")};
    o->transports.clear();
    for (const auto& t : j.at("transports")) o->transports.push_back(transport_from_name(t.get<std::string>()));
    o->network = {j.at("network").at("bandwidth_mbps").get<double>(), j.at("network").at("rtt_ms").get<double>()};
    o->cloud = j.at("cloud").get<std::string>();
    Partition p;
    p.graph = prepare_for_partition(std::move(model));
    const auto nodes = j.at("nodes").get<std::vector<std::string>>();
    std::vector<std::string> have;
    for (const auto& n : p.graph.nodes) have.push_back(n.name);
    EDGEOPT_CHECK_ARG(nodes == have, "the plan was made for another model (its " + std::to_string(nodes.size()) +
                                         " node names differ from this model's " + std::to_string(have.size()) + ")");
    p.cuts = enumerate_cuts(p.graph, measure_value_shapes(p.graph, sample), o->privacy);
    p.edge = profile_from(j.at("edge_profile"));
    p.cloud = profile_from(j.at("cloud_profile"));
    for (const auto& [name, q] : j.at("int8_wire").items()) p.wire.int8[name] = {q.at(0).get<float>(), q.at(1).get<int32_t>()};
    p.plan = solve_split(p.cuts, p.edge, p.cloud, o->network, o->solver());
    return p;
  } catch (const nlohmann::json::exception& ex) {
    throw_error(ErrorCode::kInvalidArgument, std::string("bad plan.json: ") + ex.what());
  }
}

SplitAccuracy evaluate_split(const Graph& full, const SplitHalves& h, const train::Dataset& ds, int64_t max_samples) {
  EDGEOPT_CHECK_ARG(ds.x.defined() && ds.x.shape()[0] > 0, "evaluate_split: empty data split");
  const int64_t n = std::min<int64_t>(ds.x.shape()[0], max_samples);
  runtime::Session fs(full);
  SplitRunner sr(h);
  const std::string in = full.inputs[0].name, out = full.outputs[0].name;
  const bool cls = ds.y.defined() && ds.y.dtype() == DType::kI64;
  SplitAccuracy a;
  a.samples = n;
  a.metric = cls ? "accuracy" : "rmse";
  double se_f = 0, se_s = 0;
  int64_t agree = 0, right_f = 0, right_s = 0;
  for (int64_t b = 0; b < n; b += 64) {
    const int64_t m = std::min<int64_t>(64, n - b);
    const Tensor x = slice_rows(ds.x, b, m);
    const Tensor yf = fs.run({{in, x}}).at(out), ys = sr.run({{in, x}}).at(out);
    const int64_t k = yf.numel() / m;
    for (int64_t i = 0; i < m; ++i) {
      int64_t af = 0, as = 0;
      for (int64_t c = 0; c < k; ++c) {
        const double f = yf.at(i * k + c), s = ys.at(i * k + c);
        a.max_abs_diff = std::max(a.max_abs_diff, std::abs(f - s));
        if (f > yf.at(i * k + af)) af = c;
        if (s > ys.at(i * k + as)) as = c;
        if (!cls && ds.y.defined() && ds.y.numel() == ds.x.shape()[0] * k) {
          const double y = ds.y.at((b + i) * k + c);
          se_f += (f - y) * (f - y);
          se_s += (s - y) * (s - y);
        }
      }
      agree += af == as;
      if (cls) {
        const int64_t y = static_cast<int64_t>(ds.y.at(b + i));
        right_f += af == y;
        right_s += as == y;
      }
    }
  }
  a.agreement = static_cast<double>(agree) / static_cast<double>(n);
  if (cls) {
    a.full = static_cast<double>(right_f) / static_cast<double>(n);
    a.split = static_cast<double>(right_s) / static_cast<double>(n);
  } else {
    const int64_t k = full.outputs.empty() ? 1 : std::max<int64_t>(1, ds.y.numel() / std::max<int64_t>(1, ds.x.shape()[0]));
    a.full = std::sqrt(se_f / static_cast<double>(n * k));
    a.split = std::sqrt(se_s / static_cast<double>(n * k));
  }
  return a;
}

std::vector<std::string> write_cloud_repository(const Partition& p, const PartitionOptions& o, const std::string& dir,
                                                bool all_transports) {
  namespace fs = std::filesystem;
  std::vector<std::string> names;
  auto put = [&](const std::string& name, const Graph& g) {
    const fs::path d = fs::path(dir) / name / "1";
    fs::create_directories(d);
    onnx::save_model(g, (d / "model.onnx").string());
    names.push_back(name);
  };
  put(o.model_prefix + "_full", p.graph);
  std::vector<Transport> ts;
  for (Transport t : {Transport::kF32, Transport::kF16, Transport::kInt8})
    if ((t != Transport::kInt8 || !p.wire.int8.empty()) &&
        (o.transports.empty() || std::count(o.transports.begin(), o.transports.end(), t)))
      ts.push_back(t);
  for (size_t k = 0; k < p.cuts.size(); ++k) {
    const Cut& c = p.cuts[k];
    if (!c.allowed || c.all_edge()) continue;
    for (Transport t : ts) {
      if (!all_transports && t != p.plan.cuts[k].transport) continue;
      put(cloud_model_name(o.model_prefix, k, t), p.halves(k, t).cloud);
    }
  }
  return names;
}

}  // namespace edgeopt::split

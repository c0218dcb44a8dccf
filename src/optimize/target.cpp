// The optimize report's hardware side: the target, model costs for the roofline, energy, the
// per-platform table (measured GPU rows when the CUDA backend and a GPU are present), and the
// report files (rendered by src/report).
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <map>
#include <tuple>
#include <unordered_set>

#include "compress/model_stats.h"
#include "core/error.h"
#include "hw/energy.h"
#include "hw/host_info.h"
#include "kernels/op_def.h"
#include "optimize/measure.h"
#include "report/report.h"
#include "runtime/session.h"

namespace edgeopt::optimize {

using nlohmann::json;

namespace {

// Documented assumption when the host's power is neither measured (RAPL) nor configured: a busy
// modern x86/ARM server core draws roughly 3-6 W (package TDP / cores, e.g. 360 W / 96 cores for
// a Zen 4 EPYC 9654); 5 W per core, labelled "estimate" wherever it is used.
constexpr double kAssumedWattsPerCore = 5.0;

std::string fmt(const char* f, double v) {
  char b[64];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

Target resolve_target(const std::string& name, int threads, double host_power_w) {
  Target t;
  t.name = name;
  t.host = name == "host";
  if (t.host) {
    hw::HostInfo h = hw::detect_host();
    hw::HostProfileOptions ho;
    ho.threads = threads;
    ho.active_power_w = host_power_w > 0 ? host_power_w : kAssumedWattsPerCore * threads;
    t.profile = hw::make_host_profile(h, ho);
    t.info = {{"name", "host"},
              {"kind", "cpu"},
              {"source", "measured"},
              {"cpu_model", h.cpu_model},
              {"arch", h.arch},
              {"isa", h.isa.names()},
              {"hwy_best_target", h.hwy_best_target},
              {"hwy_targets", h.hwy_targets},
              {"logical_cores", h.logical_cores},
              {"physical_cores", h.physical_cores},
              {"threads", threads},
              {"l1d_bytes", h.l1d_bytes},
              {"l2_bytes", h.l2_bytes},
              {"l3_bytes", h.l3_bytes},
              {"memory_bytes", h.memory_bytes},
              {"peak_gops_f32", t.profile.peak_gops_f32},
              {"peak_gops_int8", t.profile.peak_gops_int8},
              {"memory_bandwidth_gbs", t.profile.memory_bandwidth_gbs},
              {"active_power_w", t.profile.active_power_w},
              {"power_source", host_power_w > 0 ? "configured" : "estimate (5 W per busy core, assumed)"}};
  } else {
    t.profile = hw::find_builtin_profile(name);
    t.info = {{"name", name},
              {"kind", hw::device_kind_name(t.profile.kind)},
              {"source", "estimate"},
              {"description", t.profile.description},
              {"dtypes", t.profile.dtypes()},
              {"peak_gops_f32", t.profile.peak_gops_f32},
              {"peak_gops_f16", t.profile.peak_gops_f16},
              {"peak_gops_int8", t.profile.peak_gops_int8},
              {"memory_bandwidth_gbs", t.profile.memory_bandwidth_gbs},
              {"active_power_w", t.profile.active_power_w},
              {"spec_source", t.profile.source}};
  }
  return t;
}

hw::ModelCost model_cost(const Graph& g) {
  const auto shapes = compress::infer_value_shapes(g);
  std::unordered_map<std::string, const Node*> producer;
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs) producer[o] = &n;
  auto weight_precision = [&](const Node& n) {
    if (n.inputs.size() < 2) return 32;
    for (size_t i = 1; i < std::min<size_t>(n.inputs.size(), 3); ++i) {
      auto it = producer.find(n.inputs[i]);
      if (it == producer.end()) continue;
      const Node& p = *it->second;
      if (p.op_type == "DequantizeLinear" && !p.inputs.empty() && g.initializers.count(p.inputs[0])) {
        const DType dt = g.initializers.at(p.inputs[0]).dtype();
        if (dt == DType::kI8 || dt == DType::kU8) return 8;
      }
      if (p.op_type == "Cast" && !p.inputs.empty() && g.initializers.count(p.inputs[0]) &&
          g.initializers.at(p.inputs[0]).dtype() == DType::kF16)
        return 16;
    }
    return 32;
  };
  hw::ModelCost c;
  for (const auto& n : g.nodes) {
    std::vector<Shape> in, out;
    for (const auto& v : n.inputs) in.push_back(v.empty() ? Shape{} : shapes.count(v) ? shapes.at(v) : Shape{-1});
    for (const auto& v : n.outputs) out.push_back(v.empty() ? Shape{} : shapes.count(v) ? shapes.at(v) : Shape{-1});
    const double macs = static_cast<double>(kernels::node_macs(n, in, out));
    if (macs <= 0) continue;
    const int p = weight_precision(n);
    (p == 8 ? c.macs_int8 : p == 16 ? c.macs_f16 : c.macs_f32) += macs;
  }
  for (const auto& [k, t] : g.initializers) c.weight_bytes += static_cast<double>(t.nbytes());
  std::unordered_set<std::string> io;
  for (const auto& v : g.inputs) io.insert(v.name);
  for (const auto& v : g.outputs) io.insert(v.name);
  for (const auto& n : g.nodes)
    for (const auto& o : n.outputs) {
      auto it = shapes.find(o);
      if (it == shapes.end() || io.count(o)) continue;
      const bool q = n.op_type == "QuantizeLinear";
      c.activation_bytes += 2.0 * static_cast<double>(it->second.numel()) * (q ? 1 : 4);  // written + read
    }
  for (const auto& name : io) {
    auto it = shapes.find(name);
    if (it != shapes.end()) c.io_bytes += 4.0 * static_cast<double>(it->second.numel());
  }
  runtime::Session s(g);
  c.nodes = static_cast<int64_t>(s.graph().nodes.size());
  return c;
}

void annotate_energy(json& card, const Graph& g, const Tensor& sample, const Target& t, int threads) {
  if (t.host) {
    hw::EnergyMeter meter;
    if (meter.available()) {
      runtime::Session s(g);
      std::map<std::string, Tensor> feeds;
      for (const auto& vi : g.inputs)
        if (!g.is_initializer(vi.name)) feeds[vi.name] = sample;
      for (int i = 0; i < 5; ++i) s.run(feeds);
      // At least half a second of inferences, so the counters' resolution (about 15 uJ on RAPL)
      // and the read overhead are negligible.
      const auto t0 = std::chrono::steady_clock::now();
      int64_t n = 0;
      meter.start();
      while (std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < 0.5) {
        s.run(feeds);
        ++n;
      }
      const hw::EnergyReading r = meter.stop();
      card["energy_mj_per_inference"] = 1e3 * r.joules / static_cast<double>(n);
      card["energy_source"] = "measured";
      card["energy_backend"] = r.backend;
      card["energy_note"] = "whole package while the model ran (" + meter.reason() + ")";
      return;
    }
    const double w = t.profile.active_power_w;
    card["energy_mj_per_inference"] = w * card["latency_ms"].get<double>();  // W x ms = mJ
    card["energy_source"] = "estimate";
    card["energy_note"] = meter.reason() + "; estimate: " + fmt("%.1f W", w) + " x measured latency (" +
                          std::to_string(threads) + " thread(s))";
    return;
  }
  // Named device: apply_target_estimate already set latency and energy.
}

std::string apply_target_estimate(json& card, const Graph& g, const Target& t) {
  const hw::RooflineEstimate e = hw::estimate_roofline(model_cost(g), t.profile);
  card["host_latency_ms"] = card["latency_ms"];
  card["latency_source"] = "estimate";
  if (!e.supported) {
    card["latency_ms"] = nullptr;
    card["energy_mj_per_inference"] = nullptr;
    card["energy_source"] = "estimate";
    return t.name + ": " + e.reason;
  }
  card["latency_ms"] = e.latency_ms;
  card["latency_p99_ms"] = e.latency_ms;
  card["energy_mj_per_inference"] = e.energy_known ? json(e.energy_mj) : json(nullptr);
  card["energy_source"] = "estimate";
  card["roofline"] = {{"bound", e.bound}, {"compute_ms", e.compute_ms}, {"memory_ms", e.memory_ms},
                      {"overhead_ms", e.overhead_ms}};
  return "";
}

json platform_table(const json& base_card, const Graph& base, const json& best_card, const Graph& best,
                    const Target& host) {
  json rows = json::array();
  auto dtype_of = [](const hw::ModelCost& c) {
    return c.macs_int8 > 0 ? (c.macs_f32 > 0 ? "int8+fp32" : "int8") : c.macs_f16 > 0 ? "fp16" : "fp32";
  };
  const hw::ModelCost cb = model_cost(base), cs = model_cost(best);
  // This machine: measured latency; power/energy measured or estimated as the cards say.
  for (const auto& [variant, card, cost] : {std::tuple{"baseline", &base_card, &cb}, std::tuple{"best", &best_card, &cs}}) {
    const double ms = (*card).value("host_latency_ms", (*card)["latency_ms"]).get<double>();
    const bool measured_energy = (*card).value("energy_source", "") == "measured" && host.host;
    json r = {{"platform", "host (" + host.info.value("cpu_model", std::string("this machine")) + ")"},
              {"variant", variant},
              {"dtype", dtype_of(*cost)},
              {"latency_ms", ms},
              {"throughput_per_s", 1000.0 / ms},
              {"memory_mb", (*card)["peak_memory_mb"]},
              {"source", "measured"}};
    if (host.host) {
      r["energy_mj_per_inference"] = (*card)["energy_mj_per_inference"];
      r["power_w"] = measured_energy ? json((*card)["energy_mj_per_inference"].get<double>() / ms) : json(host.profile.active_power_w);
      r["energy_source"] = measured_energy ? "measured" : "estimate";
    }
    rows.push_back(r);
  }
  for (const auto& p : hw::builtin_profiles()) {
    for (const auto& [variant, cost] : {std::pair{"baseline", &cb}, std::pair{"best", &cs}}) {
      const hw::RooflineEstimate e = hw::estimate_roofline(*cost, p);
      json r = {{"platform", p.name}, {"variant", variant}, {"dtype", dtype_of(*cost)}, {"source", "estimate"}};
      if (!e.supported) {
        r["latency_ms"] = nullptr;
        r["note"] = e.reason;
      } else {
        r["latency_ms"] = e.latency_ms;
        r["throughput_per_s"] = e.throughput_per_s;
        r["power_w"] = e.energy_known ? json(e.power_w) : json(nullptr);
        r["energy_mj_per_inference"] = e.energy_known ? json(e.energy_mj) : json(nullptr);
        r["memory_mb"] = e.memory_mb;
        r["bound"] = e.bound;
      }
      rows.push_back(r);
    }
  }
  return rows;
}

void write_report_files(const std::filesystem::path& dir, const json& r) { report::write_report(dir, r); }

namespace {

// Runs argv with stdout captured (stderr too, for the reason on failure); false when it could not
// start or exited non-zero. A hung child is killed after timeout_s.
bool run_capture(const std::vector<std::string>& args, std::string* out, int timeout_s) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    close(fds[0]);
    close(fds[1]);
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return false;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_s);
  char buf[4096];
  bool killed = false;
  for (;;) {
    pollfd pfd{fds[0], POLLIN, 0};
    const int r = poll(&pfd, 1, 200);
    if (r > 0) {
      const ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out->append(buf, static_cast<size_t>(n));
    }
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      killed = true;
      break;
    }
  }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (killed) *out += "\n(killed after " + std::to_string(timeout_s) + " s)";
  return !killed && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

std::string cuda_bench_program() {
  char self[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) return "";
  std::string exe(self, static_cast<size_t>(n));
  exe = exe.substr(0, exe.rfind('/') + 1) + "edgeopt-cuda-bench";
  return access(exe.c_str(), X_OK) == 0 ? exe : "";
}

json cuda_platform_rows(const std::string& bench_program,
                        const std::vector<std::pair<std::string, std::string>>& variant_paths, std::string* note) {
  json rows = json::array();
  if (bench_program.empty() || access(bench_program.c_str(), X_OK) != 0) {
    *note = "cuda: not measured (this edgeopt was built without the CUDA backend)";
    return rows;
  }
  std::vector<std::string> reasons;
  for (const auto& [variant, path] : variant_paths) {
    std::string out;
    const bool ok = run_capture({bench_program, path, "--batch", "1", "--iters", "200", "--warmup", "20", "--json"},
                                &out, 300);
    // The JSON is the last line; anything before it is the program's own logging.
    const size_t end = out.find_last_not_of("\n");
    const size_t start = end == std::string::npos ? 0 : out.rfind('\n', end);
    const std::string last = end == std::string::npos ? "" : out.substr(start == std::string::npos ? 0 : start + 1);
    json j = ok ? json::parse(last, nullptr, false) : json();
    if (!ok || j.is_discarded() || !j.is_object() || !j.contains("latency_ms")) {
      reasons.push_back(variant + ": " + (last.empty() ? std::string("no output") : last.substr(0, 300)));
      if (last.find("no CUDA device") != std::string::npos) break;  // the next model would say the same
      continue;
    }
    const double ms = j["latency_ms"].value("p50", 0.0);
    json r = {{"platform", "cuda (" + j.value("gpu", std::string("GPU")) + ")"},
              {"variant", variant},
              {"dtype", j.value("dtype", std::string("fp32"))},
              {"latency_ms", ms},
              {"throughput_per_s", j.value("throughput_per_s", ms > 0 ? 1000.0 / ms : 0.0)},
              {"power_w", j.value("power_w", json(nullptr))},
              {"energy_mj_per_inference", j.value("energy_mj_per_inference", json(nullptr))},
              {"memory_mb", j.contains("arena_bytes") && j.contains("weight_bytes")
                                ? json((j["arena_bytes"].get<double>() + j["weight_bytes"].get<double>()) / 1048576.0)
                                : json(nullptr)},
              {"gpu_memory_used_mb", j.value("gpu_memory_used_mb", json(nullptr))},
              {"energy_source", j.value("energy_method", std::string("unknown"))},
              {"source", "measured (CUDA, NVML)"}};
    rows.push_back(r);
  }
  if (!reasons.empty()) {
    std::string msg = "cuda: not measured for ";
    for (size_t i = 0; i < reasons.size(); ++i) msg += (i ? "; " : "") + reasons[i];
    *note = msg;
  }
  return rows;
}

}  // namespace edgeopt::optimize

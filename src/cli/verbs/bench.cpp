// edgeopt bench MODEL.onnx [--threads N] [--iters K] [--warmup W] [--batch B] [--json] [--profile] [--device cuda]:
// latency percentiles, throughput, peak RSS and the memory plan of the optimized runtime on random
// inputs shaped like the model's (dynamic dims 1, the batch dim B).
#include <sys/resource.h>
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli/verbs/bench_cuda.h"
#include "cli/verbs/verbs.h"
#include "core/thread_pool.h"
#include "kernels/microkernels/gemm/gemm.h"
#include "onnx/import.h"
#include "runtime/session.h"

namespace edgeopt::cli {

namespace {

struct Options {
  std::string model;
  int threads = 0;
  int iters = 50;
  int warmup = 5;
  int64_t batch = 1;
  bool json = false;
  bool profile = false;
  bool no_optimize = false;
  int top = 10;
  uint32_t seed = 0;
  std::string device = "cpu";
  std::string dtype = "fp32";
  std::string bf16_compute = "auto";
};

// The feed shape of a graph input: unknown dims are 1, the leading (batch) dim is `batch` when it is
// dynamic; a fixed leading dim must already equal it.
Shape feed_shape(const ValueInfo& vi, int64_t batch) {
  std::vector<int64_t> dims(vi.shape.dims().begin(), vi.shape.dims().end());
  for (size_t d = 0; d < dims.size(); ++d) {
    if (dims[d] >= 0) continue;
    dims[d] = d == 0 ? batch : 1;
  }
  if (!dims.empty() && batch != 1)
    EDGEOPT_CHECK_ARG(dims[0] == batch, "input '" + vi.name + "' has a fixed batch dim " + std::to_string(dims[0]) +
                                            ", so --batch " + std::to_string(batch) + " cannot apply");
  return Shape(dims);
}

// Uniform [-1, 1) floats; zeros for integer and bool inputs (valid indices for any table).
Tensor random_feed(const ValueInfo& vi, const Shape& shape, std::mt19937& rng) {
  if (vi.dtype != DType::kF32) return Tensor::zeros(vi.dtype, shape);
  Tensor t(DType::kF32, shape);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
  return t;
}

double percentile(const std::vector<double>& sorted, double p) {
  // Nearest rank: the smallest value with at least p% of the samples at or below it.
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

// User + system CPU time of the whole process so far (all threads), in ms.
double process_cpu_ms() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 + static_cast<double>(ts.tv_nsec) * 1e-6;
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

void run_bench(const Options& o) {
  EDGEOPT_CHECK_ARG(o.iters >= 1, "--iters must be >= 1, got " + std::to_string(o.iters));
  EDGEOPT_CHECK_ARG(o.warmup >= 0, "--warmup must be >= 0, got " + std::to_string(o.warmup));
  EDGEOPT_CHECK_ARG(o.batch >= 1, "--batch must be >= 1, got " + std::to_string(o.batch));
  EDGEOPT_CHECK_ARG(o.threads >= 0, "--threads must be >= 0 (0: the default), got " + std::to_string(o.threads));
  if (o.threads > 0) set_num_threads(o.threads);
  EDGEOPT_CHECK_ARG(o.device == "cpu" || o.device == "cuda", "--device must be cpu or cuda, got '" + o.device + "'");
  if (o.device == "cuda") {
    EDGEOPT_CHECK_ARG(!o.profile, "--profile is not available with --device cuda (use Nsight Systems)");
    run_bench_cuda({o.model, o.dtype, o.batch, o.iters, o.warmup, o.json, !o.no_optimize, o.seed});
    return;
  }
  EDGEOPT_CHECK_ARG(o.dtype == "fp32", "--dtype " + o.dtype + " needs --device cuda (the CPU runs the model's own "
                                       "dtypes; int8: quantize the model with `edgeopt quantize`)");

  Graph g = onnx::load_model(o.model);
  std::mt19937 rng(o.seed);
  std::map<std::string, Tensor> feeds;
  for (const auto& vi : g.inputs) {
    if (g.is_initializer(vi.name)) continue;  // an input with a default value
    feeds[vi.name] = random_feed(vi, feed_shape(vi, o.batch), rng);
  }
  const size_t nodes_before = g.nodes.size();
  runtime::SessionOptions so;
  so.profile = o.profile;
  so.optimize = !o.no_optimize;
  so.bf16_compute = o.bf16_compute == "on"    ? runtime::passes::Bf16Compute::kOn
                    : o.bf16_compute == "off" ? runtime::passes::Bf16Compute::kOff
                                              : runtime::passes::Bf16Compute::kAuto;
  auto t_load = std::chrono::steady_clock::now();
  runtime::Session session(std::move(g), so);
  const double load_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_load).count();

  for (int i = 0; i < o.warmup; ++i) session.run(feeds);
  default_pool().reset_stats();
  // Per node, each timed run's time: the profile reports medians, so a run that the OS preempted
  // (a busy machine) does not inflate a tiny op's share the way a mean would.
  std::vector<runtime::NodeTiming> prev = session.timings();
  std::vector<std::vector<double>> node_ms(prev.size());
  std::vector<double> ms, cpu;
  ms.reserve(o.iters);
  cpu.reserve(o.iters);
  for (int i = 0; i < o.iters; ++i) {
    const double c0 = process_cpu_ms();
    auto t0 = std::chrono::steady_clock::now();
    session.run(feeds);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    cpu.push_back(process_cpu_ms() - c0);
    if (o.profile) {
      const auto& now = session.timings();
      for (size_t k = 0; k < now.size() && k < prev.size(); ++k)
        node_ms[k].push_back(now[k].total_ms - prev[k].total_ms);
      prev = now;
    }
  }
  std::vector<double> cpu_sorted = cpu;
  std::sort(cpu_sorted.begin(), cpu_sorted.end());
  const double cpu_p50 = percentile(cpu_sorted, 50);
  std::vector<double> sorted = ms;
  std::sort(sorted.begin(), sorted.end());
  double mean = 0;
  for (double v : ms) mean += v;
  mean /= static_cast<double>(ms.size());
  const double p50 = percentile(sorted, 50), p90 = percentile(sorted, 90), p99 = percentile(sorted, 99);
  const double throughput = mean > 0 ? static_cast<double>(o.batch) * 1000.0 / mean : 0.0;
  const auto& st = session.stats();
  // The intra-op pool per timed run: fork-joins, chunks the calling thread ran, sleeps (each a
  // wake-up of tens of microseconds later).
  const ThreadPool::Stats pool = default_pool().stats();
  const double per_run = 1.0 / std::max(1, o.iters);

  // total_ms becomes the median per run times the runs, so ms/run below is the per-node median.
  auto timings = session.timings();
  for (size_t i = 0; i < timings.size() && i < node_ms.size(); ++i) {
    std::sort(node_ms[i].begin(), node_ms[i].end());
    timings[i].total_ms = node_ms[i].empty() ? 0.0 : percentile(node_ms[i], 50) * o.iters;
  }
  std::sort(timings.begin(), timings.end(), [](const auto& a, const auto& b) { return a.total_ms > b.total_ms; });
  double total_node_ms = 0;
  for (const auto& t : timings) total_node_ms += t.total_ms;
  // Per op type, over all nodes (before the top-N cut).
  std::map<std::string, double> by_op;
  for (const auto& t : timings) by_op[t.op_type] += t.total_ms;
  if (timings.size() > static_cast<size_t>(o.top)) timings.resize(static_cast<size_t>(o.top));
  const int64_t runs = o.iters;

  if (o.json) {
    nlohmann::json j;
    j["model"] = o.model;
    j["latency_ms"] = {{"p50", p50}, {"p90", p90}, {"p99", p99}, {"mean", mean}, {"min", sorted.front()},
                       {"max", sorted.back()}};
    j["throughput_per_s"] = throughput;
    j["cpu_ms_p50"] = cpu_p50;
    j["peak_rss_mb"] = peak_rss_mb();
    j["threads"] = num_threads();
    j["batch"] = o.batch;
    j["iters"] = o.iters;
    j["warmup"] = o.warmup;
    j["optimize"] = so.optimize;
    j["nodes_before_opt"] = nodes_before;
    j["nodes_after_opt"] = session.graph().nodes.size();
    j["passes"] = nlohmann::json::array();
    for (const auto& r : session.pass_reports())
      j["passes"].push_back({{"name", r.name}, {"nodes_changed", r.nodes_changed}});
    j["planned_arena_bytes"] = st.planned_arena_bytes;
    j["measured_peak_activation_bytes"] = st.peak_bytes;
    j["initializer_bytes"] = st.initializer_bytes;
    j["load_ms"] = load_ms;
    j["gemm_kernel"] = kernels::gemm::gemm_f32_kernel_name();
    j["pool_per_run"] = {{"jobs", pool.jobs * per_run},
                         {"chunks", pool.chunks * per_run},
                         {"caller_chunks", pool.caller_chunks * per_run},
                         {"caller_sleeps", pool.caller_sleeps * per_run},
                         {"worker_sleeps", pool.worker_sleeps * per_run}};
    if (o.profile) {
      j["top_nodes"] = nlohmann::json::array();
      for (const auto& t : timings)
        j["top_nodes"].push_back({{"node", t.node},
                                  {"op", t.op_type},
                                  {"ms_per_run", t.total_ms / static_cast<double>(runs)},
                                  {"percent", total_node_ms > 0 ? 100.0 * t.total_ms / total_node_ms : 0.0}});
      j["ms_per_op_type"] = nlohmann::json::object();
      for (const auto& [op, t] : by_op) j["ms_per_op_type"][op] = t / static_cast<double>(runs);
    }
    std::printf("%s\n", j.dump().c_str());
    return;
  }

  std::printf("model       %s\n", o.model.c_str());
  std::printf("threads     %d   batch %lld   iters %d (+%d warmup)   gemm %s\n", num_threads(),
              static_cast<long long>(o.batch), o.iters, o.warmup, kernels::gemm::gemm_f32_kernel_name());
  std::printf("nodes       %zu -> %zu after optimization (load %.1f ms)", nodes_before, session.graph().nodes.size(),
              load_ms);
  for (const auto& r : session.pass_reports())
    if (r.nodes_changed) std::printf("  %s: %lld", r.name.c_str(), static_cast<long long>(r.nodes_changed));
  std::printf("\nlatency ms  p50 %.3f   p90 %.3f   p99 %.3f   mean %.3f   min %.3f\n", p50, p90, p99, mean,
              sorted.front());
  std::printf("throughput  %.1f inferences/s   CPU time p50 %.3f ms/run (all threads)\n", throughput, cpu_p50);
  if (num_threads() > 1)
    std::printf("pool        per run: %.1f fork-joins, %.1f chunks (%.1f run by the caller), %.2f caller sleeps, "
                "%.2f worker sleeps\n",
                pool.jobs * per_run, pool.chunks * per_run, pool.caller_chunks * per_run, pool.caller_sleeps * per_run,
                pool.worker_sleeps * per_run);
  std::printf("memory      peak RSS %.1f MB   planned arena %.2f MB   measured peak activations %.2f MB   "
              "weights %.2f MB\n",
              peak_rss_mb(), st.planned_arena_bytes / 1048576.0, st.peak_bytes / 1048576.0,
              st.initializer_bytes / 1048576.0);
  if (o.profile) {
    std::printf("\n%-20s %12s %7s\n", "op type", "ms/run", "%");
    std::vector<std::pair<std::string, double>> ops(by_op.begin(), by_op.end());
    std::sort(ops.begin(), ops.end(), [](const auto& a, const auto& b) { return a.second > b.second; });
    for (const auto& [op, t] : ops)
      std::printf("%-20s %12.4f %6.1f%%\n", op.c_str(), t / static_cast<double>(runs),
                  total_node_ms > 0 ? 100.0 * t / total_node_ms : 0.0);
    std::printf("\n%-40s %-20s %12s %7s\n", ("node (top " + std::to_string(o.top) + " by time)").c_str(), "op",
                "ms/run", "%");
    for (const auto& t : timings)
      std::printf("%-40s %-20s %12.4f %6.1f%%\n", t.node.c_str(), t.op_type.c_str(),
                  t.total_ms / static_cast<double>(runs), total_node_ms > 0 ? 100.0 * t.total_ms / total_node_ms : 0.0);
  }
}

}  // namespace

void add_bench_verb(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand("bench", "Measure latency, throughput and memory of a model on random inputs");
  sub->add_option("model", opts->model, "ONNX model file")->required();
  sub->add_option("-t,--threads", opts->threads, "intra-op threads (0: EDGEOPT_NUM_THREADS or all cores)");
  sub->add_option("-n,--iters", opts->iters, "timed runs (default 50)");
  sub->add_option("-w,--warmup", opts->warmup, "untimed runs first (default 5)");
  sub->add_option("-b,--batch", opts->batch, "batch size for a dynamic leading input dim (default 1)");
  sub->add_option("--seed", opts->seed, "seed of the random inputs");
  sub->add_flag("--json", opts->json, "print one JSON object instead of the table");
  sub->add_flag("--profile", opts->profile,
                "time every node; show the slowest (--top) and the time per op type (per-node medians over the runs)");
  sub->add_option("--top", opts->top, "how many of the slowest nodes --profile lists (default 10)")->check(CLI::PositiveNumber);
  sub->add_flag("--no-optimize", opts->no_optimize, "skip the graph passes (fusion, folding)");
  sub->add_option("--bf16-compute", opts->bf16_compute,
                  "auto (default: bf16 Conv/Gemm/MatMul when the model says edgeopt.compute=bf16, as `quantize "
                  "--dtype bf16` writes, and the CPU has AVX512-BF16), on (any bf16-exact weights) or off")
      ->check(CLI::IsMember({"auto", "on", "off"}));
  sub->add_option("--device", opts->device, "cpu (default) or cuda (needs a build with the CUDA backend and a GPU)");
  sub->add_option("--dtype", opts->dtype,
                  "with --device cuda: fp32 (default, exact f32 math), tf32 (f32 storage, TF32 tensor cores in Conv/Gemm, "
                  "as ONNX Runtime's CUDA EP by default) or fp16 storage (f32 accumulation); int8 layers of a "
                  "quantized (QDQ) model run in int8 either way");
  sub->footer(
      "Example:\n"
      "  edgeopt bench mobilenet_v2.onnx --threads 1 --iters 100 --profile\n"
      "  edgeopt bench model.onnx --batch 8 --json\n"
      "  edgeopt bench model.onnx --device cuda --dtype fp16 --batch 32   (GPU: latency, power W, energy/inference)\n"
      "Latency is wall-clock per Session::run (inputs ready, outputs returned); throughput is\n"
      "batch * 1000 / mean latency; CPU time is the process's user+system time per run (summed over\n"
      "threads): on a busy machine it is the steadier measure of the work done. Peak RSS is the process high-water mark (getrusage).");
  sub->callback([opts] { run_bench(*opts); });
}

}  // namespace edgeopt::cli

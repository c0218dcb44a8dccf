#include "cuda/cuda_bench.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "hw/energy.h"

namespace edgeopt::cuda {
namespace {

double percentile(const std::vector<double>& sorted, double p) {
  const size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * static_cast<double>(sorted.size())));
  return sorted[std::clamp<size_t>(rank, 1, sorted.size()) - 1];
}

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

CudaBenchResult bench_cuda(const Graph& g, const CudaBenchOptions& o) {
  EDGEOPT_CHECK_ARG(o.iters >= 1, "--iters must be >= 1, got " + std::to_string(o.iters));
  EDGEOPT_CHECK_ARG(o.warmup >= 0, "--warmup must be >= 0, got " + std::to_string(o.warmup));
  CudaBenchResult r;
  CudaSessionOptions so;
  so.precision = o.precision;
  so.batch = o.batch;
  so.cuda_graphs = o.cuda_graphs;
  so.optimize = o.optimize;
  const auto t_load = std::chrono::steady_clock::now();
  CudaSession s(g, so);
  r.load_ms = ms_since(t_load);
  r.stats = s.stats();

  // Uniform [-1, 1) floats, zeros for integer inputs (as the CPU bench).
  std::mt19937 rng(o.seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::map<std::string, Tensor> feeds;
  for (const auto& vi : s.input_infos()) {
    Tensor t = Tensor::zeros(vi.dtype, vi.shape);
    if (vi.dtype == DType::kF32)
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
    feeds[vi.name] = t;
  }
  for (int i = 0; i < o.warmup; ++i) s.run(feeds);
  std::vector<double> lat;
  for (int i = 0; i < o.iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    s.run(feeds);
    lat.push_back(ms_since(t0));
  }
  std::sort(lat.begin(), lat.end());
  r.p50 = percentile(lat, 50);
  r.p90 = percentile(lat, 90);
  r.p99 = percentile(lat, 99);
  r.min = lat.front();
  double sum = 0;
  for (double v : lat) sum += v;
  r.mean = sum / static_cast<double>(lat.size());

  Nvml nvml(0);
  r.nvml_note = nvml.why_unavailable();
  hw::EnergyMeterOptions eo;
  eo.use_rapl = false;  // the GPU's energy, not the host CPU package's
  hw::EnergyMeter meter(eo);
  const std::vector<std::map<std::string, Tensor>> requests(static_cast<size_t>(o.iters), feeds);
  if (meter.available()) meter.start();
  const auto t0 = std::chrono::steady_clock::now();
  s.run_many(requests);
  const double total_ms = ms_since(t0);
  r.pipelined_ms = total_ms / o.iters;
  r.throughput_per_s = static_cast<double>(o.batch) * 1000.0 / r.pipelined_ms;
  r.power_w = nvml.power_w();
  r.memory = nvml.memory();
  // NVML's energy counter updates every few ms: only a loop of >= 100 ms gives a meaningful delta.
  if (meter.available()) {
    const hw::EnergyReading e = meter.stop();
    if (total_ms >= 100 && e.joules > 0) {
      r.energy_mj_per_inference = 1e3 * e.joules / o.iters;
      r.energy_method = "NVML energy counter (" + meter.domains().front() + (meter.domains().size() > 1 ? " + others" : "") +
                        ") over " + std::to_string(o.iters) + " pipelined requests";
    }
  }
  if (!r.energy_mj_per_inference && r.power_w) {
    r.energy_mj_per_inference = *r.power_w * r.pipelined_ms;  // W x ms = mJ
    r.energy_method = "NVML power x pipelined time per request (loop too short for the energy counter)";
  }
  return r;
}

}  // namespace edgeopt::cuda

// gemm_bench: GFLOP/s of the fast fp32 GEMM (plain and pre-packed B) per shape and thread count,
// with the fraction of the machine's fp32 FMA peak.
//
//   build/src/gemm_bench --benchmark_filter='Gemm/256'      # EDGEOPT_PEAK_GFLOPS=117 per core
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "core/graph.h"
#include "core/thread_pool.h"
#include "kernels/microkernels/gemm/gemm.h"
#include "kernels/op_def.h"

namespace {

using namespace edgeopt;
using namespace edgeopt::kernels::gemm;

// Measured once per run by an FMA microbenchmark (measure_fma_peak_gflops); EDGEOPT_PEAK_GFLOPS
// overrides it (e.g. a datasheet number).
double peak_gflops_per_thread() {
  static const double peak = [] {
    const char* env = std::getenv("EDGEOPT_PEAK_GFLOPS");
    const double p = env ? std::atof(env) : measure_fma_peak_gflops(7);
    std::fprintf(stderr, "fp32 FMA peak: %.1f GFLOP/s per core (%s)\n", p, env ? "EDGEOPT_PEAK_GFLOPS" : "measured");
    return p;
  }();
  return peak;
}

std::vector<float> random_vec(size_t n) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Args: M, N, K, threads, packed_b (0/1), trans_b (0/1).
void BM_Gemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const int threads = static_cast<int>(state.range(3));
  const bool packed = state.range(4) != 0, tb = state.range(5) != 0;
  ThreadPool pool(threads);
  auto a = random_vec(m * k), b = random_vec(k * n);
  std::vector<float> c(m * n);
  const int64_t ldb = tb ? k : n;
  PackedMatrix pb;
  if (packed) pb = pack_b_f32(tb, k, n, b.data(), ldb);
  for (auto _ : state) {
    if (packed)
      gemm_f32_packed_b(false, m, 1.f, a.data(), k, pb, 0.f, c.data(), n, {}, &pool);
    else
      gemm_f32(false, tb, m, n, k, 1.f, a.data(), k, b.data(), ldb, 0.f, c.data(), n, {}, &pool);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * m * n * k;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.counters["peak%"] = benchmark::Counter(flops * state.iterations() / 1e9 / (peak_gflops_per_thread() * threads) * 100,
                                               benchmark::Counter::kIsRate);
  state.SetLabel(gemm_f32_kernel_name());
}

// Square sizes (the 256^3 and 1024^3 targets), an FC layer at batch 1, conv-shaped products,
// and MobileNetV2's pointwise convs (M = out channels, N = H*W, K = in channels).
constexpr int64_t kShapes[][3] = {{64, 64, 64},    {256, 256, 256}, {512, 512, 512}, {1024, 1024, 1024},
                                  {1, 1000, 1024}, {784, 32, 144},  {32, 784, 144},  {64, 128, 1152},
                                  {96, 12544, 16}, {24, 3136, 144}, {144, 3136, 24}, {320, 49, 960}};

// Single thread: rates use the thread's CPU time, robust when the cores are shared.
void GemmArgs1(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "threads", "packed_b", "trans_b"});
  for (auto& s : kShapes)
    for (int packed : {0, 1}) b->Args({s[0], s[1], s[2], 1, packed, 0});
  b->Args({1, 1000, 1024, 1, 0, 1});  // a Gemm with transB=1 weights, unpacked
}

// Several threads: rates use wall-clock time.
void GemmArgsMT(benchmark::internal::Benchmark* b) {
  b->ArgNames({"M", "N", "K", "threads", "packed_b", "trans_b"});
  for (auto& s : kShapes)
    for (int packed : {0, 1}) b->Args({s[0], s[1], s[2], 2, packed, 0});
  b->UseRealTime();
}

// Conv X [N,16,28,28] * W [32,16,3,3], pad 1, through the OpDef: reference vs fast, forward and
// backward. Args: batch, threads, fast (0/1), backward (0/1).
void BM_Conv(benchmark::State& state) {
  const int64_t batch = state.range(0);
  const int threads = static_cast<int>(state.range(1));
  const bool fast = state.range(2) != 0, backward = state.range(3) != 0;
  set_num_threads(threads);
  const kernels::OpDef* op = kernels::find_op("Conv");
  Node node;
  node.op_type = "Conv";
  node.inputs = {"x", "w", "b"};
  node.outputs = {"y"};
  node.set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  auto fill = [](Shape s) {
    Tensor t(DType::kF32, s);
    auto v = random_vec(t.numel());
    std::copy(v.begin(), v.end(), t.data<float>());
    return t;
  };
  std::vector<Tensor> in{fill({batch, 16, 28, 28}), fill({32, 16, 3, 3}), fill({32})};
  std::vector<Tensor> out(1);
  kernels::ForwardCtx fctx{node, in, out};
  kernels::select_forward(*op, !fast)(fctx);
  std::vector<Tensor> gout{fill(out[0].shape())};
  for (auto _ : state) {
    if (backward) {
      std::vector<Tensor> grads(3);
      kernels::BackwardCtx bctx{node, in, out, {}, gout, grads};
      (fast ? op->backward : op->backward_ref)(bctx);
      benchmark::DoNotOptimize(grads[1].raw());
    } else {
      kernels::ForwardCtx ctx{node, in, out};
      kernels::select_forward(*op, !fast)(ctx);
      benchmark::DoNotOptimize(out[0].raw());
    }
  }
  const double flops = (backward ? 4.0 : 2.0) * batch * 32 * 28 * 28 * 16 * 9;
  state.counters["GFLOP/s"] = benchmark::Counter(flops * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(std::string(fast ? "fast" : "ref") + (backward ? " backward" : " forward"));
  set_num_threads(0);
}

BENCHMARK(BM_Gemm)->Name("Gemm")->Apply(GemmArgs1);
BENCHMARK(BM_Gemm)->Name("GemmMT")->Apply(GemmArgsMT);
BENCHMARK(BM_Conv)
    ->Name("Conv16to32_28x28")
    ->ArgNames({"batch", "threads", "fast", "backward"})
    ->ArgsProduct({{1, 64}, {1, 2}, {0, 1}, {0, 1}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

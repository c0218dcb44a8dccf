// gemm_bf16_bench: GFLOP/s of the bf16 GEMM (both operands pre-packed, or B packed per call as a
// conv does) beside the fp32 GEMM on the same shapes, single thread, with the fraction of the
// core's vdpbf16ps peak measured in the same run (BM_Bf16Peak).
//
//   build/src/gemm_bf16_bench --benchmark_filter='Gemm'    # EDGEOPT_BF16_ISA=scalar forces the fallback
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "core/thread_pool.h"
#include "kernels/microkernels/gemm/gemm.h"
#include "kernels/microkernels/gemm_bf16/gemm_bf16.h"

namespace {

using namespace edgeopt::kernels;
using namespace edgeopt::kernels::gemm_bf16;

// 16 independent accumulator chains of vdpbf16ps zmm: 16 x 32 flops x 2 = 1024 flops per iteration.
__attribute__((target("avx512f,avx512bf16"), noinline)) void bf16_chain(int64_t iters, __m512* out) {
  __m512bh a = (__m512bh)_mm512_set1_epi32(0x3f803f80), b = a;
  __m512 c[16];
  for (auto& x : c) x = _mm512_setzero_ps();
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) c[j] = _mm512_dpbf16_ps(c[j], a, b);
    __asm__ volatile("" : "+v"(a), "+v"(b));
  }
  for (int j = 1; j < 16; ++j) c[0] = _mm512_add_ps(c[0], c[j]);
  *out = c[0];
}

double measured_peak_gflops() {
  static const double peak = [] {
    if (!bf16_compute_supported()) return 0.0;
    double best = 0.0;
    __m512 sink;
    for (int r = 0; r < 5; ++r) {
      const int64_t iters = 1 << 18;
      const auto t0 = std::chrono::steady_clock::now();
      bf16_chain(iters, &sink);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 1024.0 * iters / s / 1e9);
    }
    benchmark::DoNotOptimize(sink);
    return best;
  }();
  return peak;
}

void BM_Bf16Peak(benchmark::State& state) {
  if (!bf16_compute_supported()) {
    state.SkipWithError("no AVX512-BF16 on this CPU");
    return;
  }
  const int64_t iters = 1 << 20;
  __m512 sink;
  for (auto _ : state) {
    bf16_chain(iters, &sink);
    benchmark::DoNotOptimize(sink);
  }
  state.counters["GFLOP/s"] = benchmark::Counter(1024.0 * iters * state.iterations() / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_Bf16Peak)->Unit(benchmark::kMillisecond)->MinTime(0.5);

std::vector<float> random_vec(size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  std::vector<float> v(n);
  for (auto& x : v) x = u(rng);
  return v;
}

// Args: M, N, K.
void run_bf16(benchmark::State& state, bool pack_b_each_call) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto a = random_vec(m * k, 1), b = random_vec(k * n, 2);
  std::vector<float> c(m * n);
  const PackedBf16 pa = pack_a_bf16(m, k, a.data(), k);
  PackedBf16 pb = pack_b_bf16(k, n, b.data(), n, false);
  for (auto _ : state) {
    if (pack_b_each_call) pack_b_bf16_into(pb, k, n, b.data(), n, false);
    gemm_bf16_packed(pa, pb, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * m * n * k * state.iterations();
  state.counters["GFLOP/s"] = benchmark::Counter(flops / 1e9, benchmark::Counter::kIsRate);
  if (measured_peak_gflops() > 0)
    state.counters["bf16_peak%"] =
        benchmark::Counter(flops / 1e9 / measured_peak_gflops() * 100, benchmark::Counter::kIsRate);
  state.SetLabel(isa_name(default_isa()));
}
void BM_Bf16Gemm(benchmark::State& state) { run_bf16(state, false); }
void BM_Bf16GemmWithPacking(benchmark::State& state) { run_bf16(state, true); }

// The fp32 GEMM on the same shape with B pre-packed (its best case), for the ratio.
void BM_F32Gemm(benchmark::State& state) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  const auto a = random_vec(m * k, 1), b = random_vec(k * n, 2);
  std::vector<float> c(m * n);
  const gemm::PackedMatrix pb = gemm::pack_b_f32(false, k, n, b.data(), n);
  edgeopt::ThreadPool one(1);
  for (auto _ : state) {
    gemm::gemm_f32_packed_b(false, m, 1.f, a.data(), k, pb, 0.f, c.data(), n, {}, &one);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["GFLOP/s"] = benchmark::Counter(2.0 * m * n * k * state.iterations() / 1e9, benchmark::Counter::kIsRate);
  state.SetLabel(gemm::gemm_f32_kernel_name());
}

void shapes(benchmark::internal::Benchmark* b) {
  b->Args({256, 256, 256})->Args({1024, 1024, 1024});
  b->Args({64, 3136, 576});  // ResNet-18 layer1 3x3 conv
  b->Args({512, 49, 4608});  // ResNet-18 layer4 3x3 conv (7x7 plane: one full panel, one of 1 column)
  b->Args({1, 1000, 1280});  // MobileNetV2 classifier, batch 1
  b->Unit(benchmark::kMillisecond);
}
BENCHMARK(BM_Bf16Gemm)->Apply(shapes);
BENCHMARK(BM_F32Gemm)->Apply(shapes);
BENCHMARK(BM_Bf16GemmWithPacking)->Args({1024, 1024, 1024})->Args({64, 3136, 576})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// gemm_int8_bench: GOP/s of the int8 GEMM (u8 x s8 -> s32 -> requantized u8) single-thread, as a
// fraction of the core's vpdpbusd peak measured in the same run (BM_VnniPeak).
//
//   build/src/gemm_int8_bench --benchmark_filter='Int8'    # EDGEOPT_INT8_ISA=avx2 forces a target
#include <benchmark/benchmark.h>
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <random>
#include <vector>

#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/quant/requantize.h"

namespace {

using namespace edgeopt::kernels::gemm_int8;

// 16 independent accumulator chains of vpdpbusd zmm: 16 x 64 MACs = 2048 ops per iteration.
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) void vnni_chain(int64_t iters, __m512i* out) {
  __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x05060708);
  __m512i c[16];
  for (auto& x : c) x = _mm512_setzero_si512();
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) c[j] = _mm512_dpbusd_epi32(c[j], a, b);
    __asm__ volatile("" : "+v"(a), "+v"(b));
  }
  for (int j = 1; j < 16; ++j) c[0] = _mm512_add_epi32(c[0], c[j]);
  *out = c[0];
}

bool has_vnni() {
  for (Isa i : supported_isas())
    if (i == Isa::kAvx512Vnni) return true;
  return false;
}

// The best of 5 timed runs of the chain (0 without VNNI): the denominator of peak%.
double measured_peak_gops() {
  static const double peak = [] {
    if (!has_vnni()) return 0.0;
    double best = 0.0;
    __m512i sink;
    for (int r = 0; r < 5; ++r) {
      const int64_t iters = 1 << 18;
      const auto t0 = std::chrono::steady_clock::now();
      vnni_chain(iters, &sink);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      best = std::max(best, 2048.0 * iters / s / 1e9);
    }
    benchmark::DoNotOptimize(sink);
    return best;
  }();
  return peak;
}

void BM_VnniPeak(benchmark::State& state) {
  if (!has_vnni()) {
    state.SkipWithError("no AVX512-VNNI on this CPU");
    return;
  }
  const int64_t iters = 1 << 20;
  __m512i sink;
  for (auto _ : state) {
    vnni_chain(iters, &sink);
    benchmark::DoNotOptimize(sink);
  }
  const double ops = 2048.0 * iters * state.iterations();
  state.counters["GOP/s"] = benchmark::Counter(ops / 1e9, benchmark::Counter::kIsRate);
}
BENCHMARK(BM_VnniPeak)->Unit(benchmark::kMillisecond)->MinTime(0.5);

// Args: M, N, K. Both operands pre-packed (weights are packed once; activations once per call in
// a conv, see BM_Int8GemmWithPacking).
void run_gemm(benchmark::State& state, bool pack_each_call) {
  const int64_t m = state.range(0), n = state.range(1), k = state.range(2);
  std::mt19937 rng(1);
  std::uniform_int_distribution<int> byte(0, 255);
  std::vector<uint8_t> w(m * k), x(k * n);
  for (auto& v : w) v = static_cast<uint8_t>(byte(rng));
  for (auto& v : x) v = static_cast<uint8_t>(byte(rng));
  std::vector<uint8_t> lp(packed_lhs_bytes(m, k)), rp(packed_rhs_bytes(k, n));
  pack_lhs(w.data(), m, k, k, 0, lp.data());
  pack_rhs(x.data(), k, n, n, false, 0, rp.data());
  const auto qm = edgeopt::kernels::quant::quantize_multiplier(1e-5);
  std::vector<int32_t> bias(m, 100), mult(m, qm.multiplier), shift(m, qm.shift);
  Epilogue ep{OutType::kU8, true, bias.data(), mult.data(), shift.data(), 128, 0, 255};
  std::vector<uint8_t> y(m * n);
  for (auto _ : state) {
    if (pack_each_call) pack_rhs(x.data(), k, n, n, false, 0, rp.data());
    gemm_int8(Operands{lp.data(), rp.data(), m, n, k, false}, ep, y.data(), n, nullptr);
    benchmark::DoNotOptimize(y.data());
    benchmark::ClobberMemory();
  }
  const double ops = 2.0 * m * n * k * state.iterations();
  state.counters["GOP/s"] = benchmark::Counter(ops / 1e9, benchmark::Counter::kIsRate);
  if (measured_peak_gops() > 0)
    state.counters["vnni_peak%"] =
        benchmark::Counter(ops / 1e9 / measured_peak_gops() * 100, benchmark::Counter::kIsRate);
  state.SetLabel(isa_name(default_isa()));
}

void BM_Int8Gemm(benchmark::State& state) { run_gemm(state, false); }
void BM_Int8GemmWithPacking(benchmark::State& state) { run_gemm(state, true); }
BENCHMARK(BM_Int8Gemm)
    ->Args({1024, 1024, 1024})
    ->Args({256, 256, 256})
    ->Args({64, 3136, 576})
    ->Args({64, 12544, 168})  // ResNet-18 conv1 (7x7 s2, 3 channels) as row quads
    ->Args({32, 12544, 36})   // MobileNetV2 first conv (3x3 s2, 3 channels) as row quads
    ->Args({96, 12544, 16})   // MobileNetV2 block 2 expand (1x1, 16 -> 96 at 112x112)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Int8GemmWithPacking)->Args({1024, 1024, 1024})->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();

// Peak measurement loops. fp32 goes through Highway (one source, every target); the int8 loops are
// target-attributed intrinsics because Debian's Highway 1.0 has no vpdpbusd op (the int8 GEMM in
// kernels/microkernels/gemm_int8 is written the same way for the same reason).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "hw/peak.cpp"
#include "hwy/foreach_target.h"  // IWYU pragma: keep
#include "hwy/highway.h"

#include <time.h>

#include <algorithm>
#include <cstdint>

HWY_BEFORE_NAMESPACE();
namespace edgeopt::hw::detail {
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

double FmaChainsF32(int64_t iters) {
  using D = hn::ScalableTag<float>;
  const D d;
  constexpr int kChains = 16;
  hn::Vec<D> acc[kChains];
  for (int i = 0; i < kChains; ++i) acc[i] = hn::Set(d, 1.f + 1e-3f * static_cast<float>(i));
  const auto mul = hn::Set(d, 0.99999994f), add = hn::Set(d, 1e-7f);
  timespec t0{}, t1{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  for (int64_t it = 0; it < iters; ++it)
    for (int i = 0; i < kChains; ++i) acc[i] = hn::MulAdd(acc[i], mul, add);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  auto sum = acc[0];
  for (int i = 1; i < kChains; ++i) sum = hn::Add(sum, acc[i]);
  volatile float sink = hn::GetLane(sum);  // keeps the chains alive
  (void)sink;
  const double s = static_cast<double>(t1.tv_sec - t0.tv_sec) + 1e-9 * static_cast<double>(t1.tv_nsec - t0.tv_nsec);
  const double flops = 2.0 * kChains * static_cast<double>(hn::Lanes(d)) * static_cast<double>(iters);
  return s > 0 ? flops / s / 1e9 : 0.0;
}

}  // namespace HWY_NAMESPACE
}  // namespace edgeopt::hw::detail
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "hw/peak.h"

#include <chrono>
#include <new>
#include <vector>

#include "core/error.h"

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace edgeopt::hw {
namespace detail {
HWY_EXPORT(FmaChainsF32);

double thread_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

#if defined(__x86_64__)
// 16 chains of vpdpbusd zmm: 16 x 64 u8*s8 MACs per iteration.
__attribute__((target("avx512f,avx512bw,avx512vnni"), noinline)) double Int8ChainsVnni(int64_t iters) {
  __m512i a = _mm512_set1_epi32(0x01020304), b = _mm512_set1_epi32(0x05060708);
  __m512i c[16];
  for (auto& x : c) x = _mm512_setzero_si512();
  const double t0 = thread_seconds();
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j) c[j] = _mm512_dpbusd_epi32(c[j], a, b);
    __asm__ volatile("" : "+v"(a), "+v"(b));  // the operands are not loop-invariant to the compiler
  }
  const double s = thread_seconds() - t0;
  for (int j = 1; j < 16; ++j) c[0] = _mm512_add_epi32(c[0], c[j]);
  volatile int sink = _mm_cvtsi128_si32(_mm512_castsi512_si128(c[0]));
  (void)sink;
  return s > 0 ? 2.0 * 16 * 64 * static_cast<double>(iters) / s / 1e9 : 0.0;
}

// 16 chains of vpmaddubsw (u8*s8 pairs -> s16) + vpmaddwd (x1 -> s32) + vpaddd: 32 MACs per chain
// step on ymm, the AVX2 int8 GEMM's inner sequence.
__attribute__((target("avx2,fma"), noinline)) double Int8ChainsAvx2(int64_t iters) {
  __m256i a = _mm256_set1_epi32(0x01020304), b = _mm256_set1_epi32(0x05060708);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256i c[16];
  for (auto& x : c) x = _mm256_setzero_si256();
  const double t0 = thread_seconds();
  for (int64_t i = 0; i < iters; ++i) {
#pragma GCC unroll 16
    for (int j = 0; j < 16; ++j)
      c[j] = _mm256_add_epi32(c[j], _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), ones));
    __asm__ volatile("" : "+x"(a), "+x"(b));
  }
  const double s = thread_seconds() - t0;
  for (int j = 1; j < 16; ++j) c[0] = _mm256_add_epi32(c[0], c[j]);
  volatile int sink = _mm_cvtsi128_si32(_mm256_castsi256_si128(c[0]));
  (void)sink;
  return s > 0 ? 2.0 * 16 * 32 * static_cast<double>(iters) / s / 1e9 : 0.0;
}
#endif

}  // namespace detail

double measure_peak_gflops_f32_per_core(int repeats) {
  double best = 0;
  // ~3-10 ms per run on current cores: long enough to dwarf the clock's resolution.
  for (int r = 0; r < std::max(1, repeats); ++r)
    best = std::max(best, HWY_DYNAMIC_DISPATCH(detail::FmaChainsF32)(int64_t{1} << 20));
  return best;
}

double measure_memory_bandwidth_gbs(int64_t bytes, int repeats) {
  const size_t n = static_cast<size_t>(std::max<int64_t>(bytes, 1 << 20)) / sizeof(uint64_t);
  std::vector<uint64_t> buf;
  try {
    buf.assign(n, 1);  // touches every page before timing
  } catch (const std::bad_alloc&) {
    throw_error(ErrorCode::kResourceExhausted,
                "measure_memory_bandwidth_gbs: cannot allocate " + std::to_string(bytes) + " bytes");
  }
  double best = 0;
  for (int r = 0; r < std::max(1, repeats); ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    // Four independent sums so the adds are not one serial chain; the compiler vectorizes each.
    uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (size_t i = 0; i + 4 <= n; i += 4) {
      s0 += buf[i];
      s1 += buf[i + 1];
      s2 += buf[i + 2];
      s3 += buf[i + 3];
    }
    volatile uint64_t sink = s0 + s1 + s2 + s3;
    (void)sink;
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > 0) best = std::max(best, static_cast<double>(n * sizeof(uint64_t)) / s / 1e9);
  }
  return best;
}

std::string int8_peak_isa() {
#if defined(__x86_64__)
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vnni"))
    return "avx512vnni";
  if (__builtin_cpu_supports("avx2")) return "avx2";
#endif
  return "";
}

double measure_peak_gops_int8_per_core(int repeats) {
  const std::string isa = int8_peak_isa();
  double best = 0;
  for (int r = 0; r < std::max(1, repeats); ++r) {
#if defined(__x86_64__)
    if (isa == "avx512vnni") best = std::max(best, detail::Int8ChainsVnni(int64_t{1} << 19));
    else if (isa == "avx2") best = std::max(best, detail::Int8ChainsAvx2(int64_t{1} << 18));
#endif
  }
  return best;
}

}  // namespace edgeopt::hw
#endif  // HWY_ONCE

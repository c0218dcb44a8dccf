// This core's arithmetic peak, measured in a few milliseconds: the compute roof of the `host`
// profile when the user does not configure one.
//
//   double f32 = edgeopt::hw::measure_peak_gflops_f32_per_core();   // e.g. 92 on one Zen 4 core
//   double i8 = edgeopt::hw::measure_peak_gops_int8_per_core();     // 0 where no int8 loop exists
//
// Both run 16 independent accumulator chains (enough to cover FMA latency x issue width on every
// current core) on the calling thread and time them on the thread's CPU clock, best of `repeats`,
// so a descheduled slice does not lower the result. Ops are counted as 2 per multiply-accumulate,
// the convention vendors use for FLOP/s and TOPS. Thread-safe; never throws.
#pragma once

#include <cstdint>
#include <string>

namespace edgeopt::hw {

// fp32 FMA throughput of one core in GFLOP/s on Highway's best dispatched target.
double measure_peak_gflops_f32_per_core(int repeats = 3);

// int8 multiply-accumulate throughput of one core in GOP/s: vpdpbusd zmm chains on AVX512-VNNI,
// vpmaddubsw+vpmaddwd+vpaddd ymm on AVX2 (the same instructions the int8 GEMM uses there).
// Returns 0 on other CPUs (no measured loop; callers then configure the value or fall back).
double measure_peak_gops_int8_per_core(int repeats = 3);

// Single-thread streaming read bandwidth in GB/s over a `bytes` buffer (default 128 MiB, well past
// the last-level cache of edge boards and of most servers' per-core share), best of `repeats`. One
// thread underestimates what all cores pull together on servers; on edge boards one A7x core gets
// most of the LPDDR bandwidth. Throws ResourceExhausted if the buffer cannot be allocated.
double measure_memory_bandwidth_gbs(int64_t bytes = int64_t{128} << 20, int repeats = 2);

// Which int8 loop measure_peak_gops_int8_per_core uses here: "avx512vnni", "avx2" or "".
std::string int8_peak_isa();

}  // namespace edgeopt::hw

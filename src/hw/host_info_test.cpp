#include "hw/host_info.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "hw/hw_test_util.h"
#include "hw/peak.h"

namespace edgeopt::hw {
namespace {

using testing::TempTree;

// /proc/cpuinfo of a Raspberry Pi 4 (64-bit kernel) and of a Pi 5, trimmed to the fields read.
constexpr const char* kPi4Cpuinfo =
    "processor\t: 0\nBogoMIPS\t: 108.00\nFeatures\t: fp asimd evtstrm crc32 cpuid\n"
    "CPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x0\nCPU part\t: 0xd08\n"
    "CPU revision\t: 3\n\nprocessor\t: 1\nFeatures\t: fp asimd evtstrm crc32 cpuid\n\n"
    "Hardware\t: BCM2835\nRevision\t: c03114\nModel\t\t: Raspberry Pi 4 Model B Rev 1.4\n";
constexpr const char* kPi5Cpuinfo =
    "processor\t: 0\nBogoMIPS\t: 108.00\n"
    "Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop "
    "asimddp\nCPU implementer\t: 0x41\nCPU architecture: 8\nCPU variant\t: 0x4\nCPU part\t: 0xd0b\n"
    "CPU revision\t: 1\n\nModel\t\t: Raspberry Pi 5 Model B Rev 1.0\n";

TEST(ParseCacheSize, Units) {
  EXPECT_EQ(parse_cache_size("32K"), 32 * 1024);
  EXPECT_EQ(parse_cache_size("1024K\n"), 1024 * 1024);
  EXPECT_EQ(parse_cache_size("32M"), int64_t{32} << 20);
  EXPECT_EQ(parse_cache_size("512"), 512);
  EXPECT_EQ(parse_cache_size(""), -1);
  EXPECT_EQ(parse_cache_size("K"), -1);
  EXPECT_EQ(parse_cache_size("12Q"), -1);
}

TEST(ParseMeminfo, MemTotal) {
  EXPECT_EQ(parse_meminfo_total("MemTotal:        8052756 kB\nMemFree:  1 kB\n"), int64_t{8052756} * 1024);
  EXPECT_EQ(parse_meminfo_total("MemFree:  1 kB\n"), 0);
  EXPECT_EQ(parse_meminfo_total("MemTotal: lots\n"), 0);
}

TEST(ParseCpuinfoArm, RaspberryPi4) {
  HostInfo h;
  parse_cpuinfo_arm(kPi4Cpuinfo, h);
  EXPECT_EQ(h.cpu_model, "ARM Cortex-A72 (Raspberry Pi 4 Model B Rev 1.4)");
  EXPECT_EQ(h.cpu_vendor, "ARM");
  EXPECT_TRUE(h.isa.neon);
  EXPECT_FALSE(h.isa.dotprod);
  EXPECT_FALSE(h.isa.fp16);
}

TEST(ParseCpuinfoArm, RaspberryPi5HasDotprodAndFp16) {
  HostInfo h;
  parse_cpuinfo_arm(kPi5Cpuinfo, h);
  EXPECT_EQ(h.cpu_model, "ARM Cortex-A76 (Raspberry Pi 5 Model B Rev 1.0)");
  EXPECT_TRUE(h.isa.neon);
  EXPECT_TRUE(h.isa.dotprod);
  EXPECT_TRUE(h.isa.fp16);
  EXPECT_FALSE(h.isa.i8mm);
  const auto names = h.isa.names();
  EXPECT_NE(std::find(names.begin(), names.end(), "dotprod"), names.end());
}

TEST(DetectHost, FakeTree) {
  TempTree t("host");
  t.write("cpu/online", "0-3\n");
  for (int c = 0; c < 4; ++c) {
    // Two cores with two SMT threads each.
    t.write("cpu/cpu" + std::to_string(c) + "/topology/physical_package_id", "0\n");
    t.write("cpu/cpu" + std::to_string(c) + "/topology/core_id", std::to_string(c / 2) + "\n");
  }
  const std::string cache = "cpu/cpu0/cache/";
  t.write(cache + "index0/level", "1\n");
  t.write(cache + "index0/type", "Data\n");
  t.write(cache + "index0/size", "48K\n");
  t.write(cache + "index1/level", "1\n");
  t.write(cache + "index1/type", "Instruction\n");
  t.write(cache + "index1/size", "32K\n");
  t.write(cache + "index2/level", "2\n");
  t.write(cache + "index2/type", "Unified\n");
  t.write(cache + "index2/size", "1280K\n");
  t.write(cache + "index3/level", "3\n");
  t.write(cache + "index3/type", "Unified\n");
  t.write(cache + "index3/size", "24576K\n");
  t.write(cache + "index4/level", "3\n");  // incomplete entry: ignored
  t.write("cpuinfo", kPi5Cpuinfo);
  t.write("meminfo", "MemTotal:        8052756 kB\n");

  HostPaths paths{t.root() / "cpu", t.root() / "cpuinfo", t.root() / "meminfo", /*use_cpuid=*/false};
  const HostInfo h = detect_host(paths);
  EXPECT_EQ(h.logical_cores, 4);
  EXPECT_EQ(h.physical_cores, 2);
  EXPECT_EQ(h.l1d_bytes, 48 * 1024);
  EXPECT_EQ(h.l2_bytes, 1280 * 1024);
  EXPECT_EQ(h.l3_bytes, int64_t{24576} * 1024);
  EXPECT_EQ(h.memory_bytes, int64_t{8052756} * 1024);
  EXPECT_EQ(h.cpu_model, "ARM Cortex-A76 (Raspberry Pi 5 Model B Rev 1.0)");
  EXPECT_TRUE(h.isa.dotprod);
  EXPECT_TRUE(h.notes.empty()) << h.notes.front();
}

TEST(DetectHost, MissingFilesAreNotErrors) {
  TempTree t("empty");
  HostPaths paths{t.root() / "nope", t.root() / "nope_cpuinfo", t.root() / "nope_meminfo", false};
  const HostInfo h = detect_host(paths);
  EXPECT_EQ(h.logical_cores, static_cast<int>(std::thread::hardware_concurrency()));
  EXPECT_EQ(h.physical_cores, h.logical_cores);
  EXPECT_EQ(h.l1d_bytes, 0);
  EXPECT_EQ(h.l3_bytes, 0);
  EXPECT_EQ(h.memory_bytes, 0);
  EXPECT_TRUE(h.cpu_model.empty());
  EXPECT_GE(h.notes.size(), 4u);  // cpuinfo, model, topology, caches, meminfo
}

#if defined(__x86_64__)
// cpuid detection agrees with the compiler's own CPU feature probe.
TEST(DetectHost, ThisMachineMatchesBuiltinCpuSupports) {
  const HostInfo h = detect_host();
  __builtin_cpu_init();
  EXPECT_EQ(h.arch, "x86_64");
  EXPECT_FALSE(h.cpu_model.empty());
  EXPECT_EQ(h.isa.avx2, __builtin_cpu_supports("avx2") != 0);
  EXPECT_EQ(h.isa.fma, __builtin_cpu_supports("fma") != 0);
  EXPECT_EQ(h.isa.avx512f, __builtin_cpu_supports("avx512f") != 0);
  EXPECT_EQ(h.isa.avx512bw, __builtin_cpu_supports("avx512bw") != 0);
  EXPECT_EQ(h.isa.avx512_vnni, __builtin_cpu_supports("avx512vnni") != 0);
  EXPECT_FALSE(h.hwy_best_target.empty());
  EXPECT_EQ(h.hwy_best_target, h.hwy_targets.front());
  EXPECT_GE(h.logical_cores, 1);
  EXPECT_GE(h.logical_cores, h.physical_cores);
  EXPECT_GT(h.memory_bytes, 0);
}
#endif

TEST(Peak, MeasuredPeaksArePlausible) {
  const double f32 = measure_peak_gflops_f32_per_core(2);
  // One core: above a 1 GHz scalar FMA (2 GFLOP/s), below 4 AVX-512 FMA pipes at 6 GHz (768).
  EXPECT_GT(f32, 2.0);
  EXPECT_LT(f32, 768.0);
  const double i8 = measure_peak_gops_int8_per_core(2);
  if (int8_peak_isa().empty()) {
    EXPECT_EQ(i8, 0.0);
  } else {
    EXPECT_GT(i8, f32) << "int8 dot products pack at least 2x the fp32 lanes (" << int8_peak_isa() << ")";
    EXPECT_LT(i8, 8 * 768.0);
  }
}

TEST(Peak, MemoryBandwidthIsPlausible) {
  const double gbs = measure_memory_bandwidth_gbs(int64_t{32} << 20, 1);
  EXPECT_GT(gbs, 0.5);
  EXPECT_LT(gbs, 2000.0);
}

}  // namespace
}  // namespace edgeopt::hw

// hw_probe: prints what edgeopt::hw sees on this machine (host detection, measured peaks and
// bandwidth, the energy meter's status) and the builtin profiles. Not a test; the numbers in
// docs/hardware-profiles.md come from it.
//
//   build/src/hw/hw_probe [--threads N]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>

#include "hw/energy.h"
#include "hw/peak.h"
#include "hw/profiles.h"

namespace {

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : " ") + x;
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace edgeopt::hw;
  int threads = 0;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--threads") && i + 1 < argc) {
      threads = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: hw_probe [--threads N]\n");
      return 2;
    }
  }
  try {
    const HostInfo h = detect_host();
    std::printf("cpu        %s (%s, %s)\n", h.cpu_model.c_str(), h.cpu_vendor.c_str(), h.arch.c_str());
    std::printf("isa        %s\n", joined(h.isa.names()).c_str());
    std::printf("highway    best %s; supported %s\n", h.hwy_best_target.c_str(), joined(h.hwy_targets).c_str());
    std::printf("cores      %d physical, %d logical\n", h.physical_cores, h.logical_cores);
    std::printf("caches     L1d %lld KiB, L2 %lld KiB, L3 %lld KiB\n", static_cast<long long>(h.l1d_bytes >> 10),
                static_cast<long long>(h.l2_bytes >> 10), static_cast<long long>(h.l3_bytes >> 10));
    std::printf("memory     %.2f GiB\n", static_cast<double>(h.memory_bytes) / (1 << 30));
    for (const auto& n : h.notes) std::printf("note       %s\n", n.c_str());
    std::printf("peak fp32  %.1f GFLOP/s per core\n", measure_peak_gflops_f32_per_core(5));
    std::printf("peak int8  %.1f GOP/s per core (%s)\n", measure_peak_gops_int8_per_core(5),
                int8_peak_isa().empty() ? "no loop for this ISA" : int8_peak_isa().c_str());
    std::printf("bandwidth  %.1f GB/s (1 thread, streaming read)\n", measure_memory_bandwidth_gbs());
    const EnergyMeter meter;
    std::printf("energy     %s: %s\n", meter.available() ? meter.backend().c_str() : "unavailable",
                meter.reason().c_str());
    HostProfileOptions o;
    o.threads = threads;
    std::vector<HardwareProfile> all{make_host_profile(h, o)};
    for (const auto& p : builtin_profiles()) all.push_back(p);
    std::printf("\n%-17s %-5s %10s %10s %10s %8s %7s %7s  dtypes\n", "profile", "kind", "fp32 GF/s", "fp16 GF/s",
                "int8 GOP/s", "BW GB/s", "idle W", "act. W");
    for (const auto& p : all)
      std::printf("%-17s %-5s %10.1f %10.1f %10.1f %8.2f %7.1f %7.1f  %s\n", p.name.c_str(), device_kind_name(p.kind),
                  p.peak_gops_f32, p.peak_gops_f16, p.peak_gops_int8, p.memory_bandwidth_gbs, p.idle_power_w,
                  p.active_power_w, joined(p.dtypes()).c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "hw_probe: %s\n", e.what());
    return 1;
  }
  return 0;
}

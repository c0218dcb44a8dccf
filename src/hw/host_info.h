// What this machine is: CPU model, ISA features, Highway targets, cores, caches and memory. The
// `host` hardware profile and every report's "target" section are built from it.
//
//   edgeopt::hw::HostInfo h = edgeopt::hw::detect_host();
//   if (h.isa.avx512_vnni) ...;  std::printf("%s, %d cores, L2 %lld KiB\n", h.cpu_model.c_str(),
//                                            h.physical_cores, (long long)(h.l2_bytes >> 10));
//
// Detection never throws: a missing or unreadable file (a container without sysfs, an ARM board
// without cpuid) leaves the field at its "unknown" value (empty string, 0, false) and adds a line
// to HostInfo::notes saying what could not be read.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace edgeopt::hw {

// ISA features that decide which kernels run. On x86 from cpuid (and xgetbv: a feature the OS does
// not save the registers of counts as absent); on ARM from the "Features" line of /proc/cpuinfo.
struct IsaFeatures {
  bool sse4_2 = false;
  bool avx = false;
  bool avx2 = false;
  bool fma = false;
  bool f16c = false;
  bool avx512f = false;
  bool avx512bw = false;
  bool avx512vl = false;
  bool avx512_vnni = false;  // vpdpbusd on zmm (int8 dot products)
  bool avx_vnni = false;     // vpdpbusd with VEX encoding on ymm (Alder Lake and later)
  bool avx512_bf16 = false;
  bool neon = false;     // "asimd" on AArch64
  bool dotprod = false;  // "asimddp": SDOT/UDOT int8 dot products
  bool fp16 = false;     // "asimdhp": fp16 arithmetic
  bool i8mm = false;     // "i8mm": SMMLA int8 matrix multiply

  // The set flags, lower case, e.g. {"avx2", "fma", "avx512f"}.
  std::vector<std::string> names() const;
};

struct HostInfo {
  std::string arch;        // "x86_64", "aarch64", ...
  std::string cpu_vendor;  // "GenuineIntel", "AuthenticAMD", "ARM", ...
  std::string cpu_model;   // brand string, or "ARM Cortex-A72" from the CPU part number
  IsaFeatures isa;
  std::string hwy_best_target;                 // Highway's dispatch choice, e.g. "AVX3_ZEN4"
  std::vector<std::string> hwy_targets;        // supported and compiled, best first
  int logical_cores = 0;                       // online CPUs
  int physical_cores = 0;                      // distinct (package, core) pairs; = logical if unknown
  int64_t l1d_bytes = 0, l2_bytes = 0, l3_bytes = 0;  // per instance, as cpu0 sees them; 0 = unknown
  int64_t memory_bytes = 0;                    // MemTotal; 0 = unknown
  std::vector<std::string> notes;              // what could not be read, one line each
};

// Where detect_host reads from; tests point these at a fake tree.
struct HostPaths {
  std::filesystem::path sys_cpu = "/sys/devices/system/cpu";
  std::filesystem::path proc_cpuinfo = "/proc/cpuinfo";
  std::filesystem::path proc_meminfo = "/proc/meminfo";
  // false: fill the ISA and model from the cpuinfo file only, even on x86 (for tests).
  bool use_cpuid = true;
};

// Detects this machine. Never throws; unknown fields stay 0/empty (see HostInfo::notes).
HostInfo detect_host(const HostPaths& paths = {});

// Parsers, exposed for tests. A size such as "32K", "1024K", "32M", "512" (bytes) -> bytes; -1 if
// malformed.
int64_t parse_cache_size(std::string_view text);
// "MemTotal:  131891024 kB" -> bytes; 0 if absent.
int64_t parse_meminfo_total(std::string_view meminfo);
// The ARM fields of /proc/cpuinfo: features from "Features", model from "CPU implementer" and
// "CPU part" (e.g. 0x41/0xd08 -> "ARM Cortex-A72"), or "Model name"/"model name" when present.
void parse_cpuinfo_arm(std::string_view cpuinfo, HostInfo& out);

}  // namespace edgeopt::hw

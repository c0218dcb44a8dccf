// Hardware profiles: what a target device can do (peak ops per precision, memory bandwidth and
// size, power), from cited public specifications for named edge devices, and from detection plus
// measurement for `host`. The roofline estimator (hw/roofline.h) turns a profile and a model's cost
// into latency and energy estimates.
//
//   const auto& pi = edgeopt::hw::find_builtin_profile("raspberry-pi-5");   // throws NotFound
//   edgeopt::hw::HardwareProfile host = edgeopt::hw::find_profile("host", {.threads = 2});
//
// Units everywhere: ops are counted as 2 per multiply-accumulate (the vendors' convention for
// FLOP/s and TOPS), peaks in GOP/s (= GFLOP/s for float), bandwidth in GB/s (1e9 bytes/s), memory in
// bytes, power in W. A peak of 0 means the device does not run that precision; a power or memory of
// 0 means the number is not published (the report shows "n/a"). Every number's origin is written in
// `source` (URL or document, and whether it is a spec value, a derivation from spec values, or an
// assumption), and the same list, with the derivations, is in docs/hardware-profiles.md.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "hw/host_info.h"

namespace edgeopt::hw {

enum class DeviceKind { kCpu, kGpu, kTpu, kFpga, kNpu };
// "cpu", "gpu", "tpu", "fpga", "npu".
const char* device_kind_name(DeviceKind kind);

enum class Precision { kF32, kF16, kInt8 };
// "fp32", "fp16", "int8" (the report's dtype names).
const char* precision_name(Precision p);
// Inverse of precision_name; throws InvalidArgument naming the valid names.
Precision parse_precision(std::string_view name);

struct HardwareProfile {
  std::string name;         // lookup key, e.g. "raspberry-pi-4"
  std::string description;  // "Raspberry Pi 4 Model B: BCM2711, 4x Cortex-A72 @ 1.5 GHz"
  DeviceKind kind = DeviceKind::kCpu;
  double peak_gops_f32 = 0;   // 0 = fp32 not supported
  double peak_gops_f16 = 0;   // 0 = no fp16 arithmetic (fp16 weights then run as fp32, see roofline.h)
  double peak_gops_int8 = 0;  // 0 = int8 not supported
  double memory_bandwidth_gbs = 0;  // what model weights/activations stream through
  int64_t memory_bytes = 0;         // device memory (0 = not published)
  // Dataflow accelerators keep weights on chip between inferences, so only the model's inputs and
  // outputs cross the memory link; on_chip_bytes is that capacity (0 = not published: assume the
  // model fits).
  bool weights_on_chip = false;
  int64_t on_chip_bytes = 0;
  double idle_power_w = 0;    // 0 = not published
  double active_power_w = 0;  // while running inference at full load; 0 = not published
  std::string source;         // where every number above comes from
  bool measured = false;      // peaks measured on this machine (host), not taken from a spec

  double peak_gops(Precision p) const;
  bool supports(Precision p) const { return peak_gops(p) > 0; }
  // Supported precisions by name, e.g. {"int8"} for the Edge TPU.
  std::vector<std::string> dtypes() const;
};

// The named edge devices (not `host`), in a fixed order.
const std::vector<HardwareProfile>& builtin_profiles();

// Every name find_profile accepts: "host" and the builtin names.
std::vector<std::string> profile_names();

// A builtin profile by name. Throws NotFound: "unknown hardware profile 'x'; valid: host,
// raspberry-pi-4, ..." (`host` needs find_profile, which detects and measures).
const HardwareProfile& find_builtin_profile(std::string_view name);

// How to build the `host` profile. Zero fields are measured (peaks, bandwidth) or left unknown
// (power: no public number exists for an arbitrary machine; pass the TDP or a measured value).
struct HostProfileOptions {
  int threads = 0;                  // cores the model runs on; 0 = all physical cores
  double peak_gflops_f32 = 0;       // whole-host values (already x threads) when configured
  double peak_gops_int8 = 0;
  double memory_bandwidth_gbs = 0;
  double idle_power_w = 0;
  double active_power_w = 0;
};

// `host` from detect_host() plus measurement: per-core peaks (hw/peak.h) x threads, fp16 = 0 unless
// the CPU has fp16 arithmetic (AVX512-FP16 is not detected; NEON fp16 is, at 2x fp32), int8 peak
// = measured, or = fp32 peak where no int8 loop exists for this ISA (documented fallback).
HardwareProfile make_host_profile(const HostInfo& host, const HostProfileOptions& options = {});

// "host" -> make_host_profile(detect_host(), host_options); otherwise find_builtin_profile(name).
HardwareProfile find_profile(std::string_view name, const HostProfileOptions& host_options = {});

}  // namespace edgeopt::hw

#include "hw/profiles.h"

#include <algorithm>
#include <cstdio>

#include "core/error.h"
#include "hw/peak.h"

namespace edgeopt::hw {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr int64_t kMiB = int64_t{1} << 20;

// The numbers below are copied from the cited documents or derived from them by the arithmetic
// written next to them; docs/hardware-profiles.md has the same table. "assumption" marks the
// values no public source gave us.
std::vector<HardwareProfile> make_builtin_profiles() {
  std::vector<HardwareProfile> v;

  // Raspberry Pi 4 Model B. Spec (raspberrypi.com/products/raspberry-pi-4-model-b/specifications):
  // BCM2711, quad-core Cortex-A72 (ARMv8-A) @ 1.5 GHz; 1/2/4/8 GB LPDDR4-3200 (32-bit bus).
  // Cortex-A72 Software Optimization Guide (ARM UAN 0016A): one 128-bit FMLA per cycle across the
  // two FP pipes -> 4 fp32 FMA = 8 FLOP/cycle/core. fp32 = 4 x 1.5 GHz x 8 = 48 GFLOP/s.
  // ARMv8.0 has no fp16 arithmetic and no SDOT: int8 = 8-lane widening SMLAL, one per cycle ->
  // 16 ops/cycle/core = 96 GOP/s (derivation, assumption on the issue rate).
  // Bandwidth 3200 MT/s x 4 B = 12.8 GB/s. Power measured at the USB-C input by chipwired.com
  // ("How much power a Raspberry Pi uses", Pi 4, USB tester): idle 2.2 W, high load 5.4 W.
  v.push_back({"raspberry-pi-4", "Raspberry Pi 4 Model B: BCM2711, 4x Cortex-A72 @ 1.5 GHz, 4 GB LPDDR4-3200",
               DeviceKind::kCpu, 48.0, 0.0, 96.0, 12.8, 4 * kGiB, false, 0, 2.2, 5.4,
               "spec: https://www.raspberrypi.com/products/raspberry-pi-4-model-b/specifications/ (4x Cortex-A72 "
               "1.5 GHz, LPDDR4-3200 32-bit -> 12.8 GB/s); derived: fp32 = 4 cores x 1.5 GHz x 8 FLOP/cycle "
               "(Cortex-A72 Software Optimization Guide, ARM UAN 0016A: one 128-bit FMLA/cycle) = 48 GFLOP/s; "
               "int8 = 4 x 1.5 GHz x 16 ops/cycle (8-lane SMLAL, no SDOT on ARMv8.0; issue rate assumed) = "
               "96 GOP/s; no fp16 arithmetic; power measured: https://chipwired.com/raspberry-pi-power-use/ "
               "(USB tester: idle 2.2 W, high load 5.4 W)",
               false});

  // Raspberry Pi 5. Spec (raspberrypi.com/products/raspberry-pi-5/): BCM2712, quad-core
  // Cortex-A76 (ARMv8.2-A) @ 2.4 GHz, LPDDR4X-4267 (32-bit bus). Cortex-A76: two 128-bit FP/ASIMD
  // pipes with FMA -> 16 fp32 FLOP/cycle, 32 fp16 FLOP/cycle, SDOT 2 x 16 MACs = 64 int8 ops/cycle.
  // fp32 = 4 x 2.4 x 16 = 153.6, fp16 = 307.2, int8 = 614.4. Bandwidth 4267 MT/s x 4 B = 17.07 GB/s.
  // Idle 3.0 W measured by u-labs.de ("So verbraucht der Raspberry Pi 5 ausgeschaltet ...").
  // Active: no full-load figure found in a public source; derived as the Pi 4's measured 5.4 W x
  // (Pi 5 / Pi 4 "typical bare-board active current", 800 mA / 600 mA, Raspberry Pi documentation,
  // "Power supply") = 7.2 W.
  v.push_back({"raspberry-pi-5", "Raspberry Pi 5: BCM2712, 4x Cortex-A76 @ 2.4 GHz, 8 GB LPDDR4X-4267",
               DeviceKind::kCpu, 153.6, 307.2, 614.4, 17.07, 8 * kGiB, false, 0, 3.0, 7.2,
               "spec: https://www.raspberrypi.com/products/raspberry-pi-5/ (4x Cortex-A76 2.4 GHz, LPDDR4X-4267 "
               "32-bit -> 17.07 GB/s); derived: Cortex-A76 2x128-bit FMA pipes -> fp32 4 x 2.4 GHz x 16 = "
               "153.6 GFLOP/s, fp16 x2 = 307.2, int8 SDOT 64 ops/cycle = 614.4 GOP/s; idle 3.0 W measured: "
               "https://u-labs.de/portal/so-verbraucht-der-raspberry-pi-5-ausgeschaltet-bis-zu-180x-weniger-strom/; "
               "active 7.2 W derived = Pi 4 high load 5.4 W x 800 mA/600 mA (typical bare-board active current, "
               "https://www.raspberrypi.com/documentation/computers/raspberry-pi.html#power-supply)",
               false});

  // NVIDIA Jetson Orin Nano 8GB module (original, 15 W mode). Data sheet DS-11105-001: 1024 CUDA
  // cores, 32 Tensor cores, GPU max 625 MHz; "up to 40 (sparse) INT8 TOPS and 20 (dense)"; 8 GB
  // 128-bit LPDDR5, 68 GB/s; 7 W - 15 W. fp32 = 1024 x 2 x 0.625 GHz = 1280 GFLOP/s; fp16 dense
  // Tensor Core = half the dense int8 rate on Ampere = 10 TFLOP/s (derivation). Idle: not published.
  v.push_back({"jetson-orin-nano", "NVIDIA Jetson Orin Nano 8GB (Ampere GPU, 1024 CUDA / 32 Tensor cores @ 625 MHz)",
               DeviceKind::kGpu, 1280.0, 10000.0, 20000.0, 68.0, 8 * kGiB, false, 0, 0.0, 15.0,
               "spec: NVIDIA Jetson Orin Nano Series Data Sheet DS-11105-001 "
               "(https://developer.nvidia.com/embedded/jetson-modules): 20 dense / 40 sparse INT8 TOPS, 1024 CUDA "
               "cores @ 625 MHz, 8 GB 128-bit LPDDR5 68 GB/s, 7-15 W (active = 15 W mode); derived: fp32 = 1024 x "
               "2 x 0.625 GHz = 1280 GFLOP/s, fp16 Tensor Core dense = int8 dense / 2 = 10 TFLOP/s; idle not "
               "published",
               false});

  // Google Coral USB Accelerator (Edge TPU). coral.ai/products/accelerator: 4 TOPS int8, 2 TOPS
  // per watt -> 2 W; USB 3.0 (5 Gb/s, 8b/10b -> 0.5 GB/s). coral.ai/docs/edgetpu/compiler: "the
  // Edge TPU has roughly 8 MB of SRAM that can cache the model's parameter data"; weights beyond it
  // stream from the host every inference. int8 only (fully quantized TFLite models).
  v.push_back({"coral-edge-tpu", "Google Coral USB Accelerator (Edge TPU, int8 only, 8 MB on-chip SRAM)",
               DeviceKind::kTpu, 0.0, 0.0, 4000.0, 0.5, 8 * kMiB, true, 8 * kMiB, 0.0, 2.0,
               "spec: https://coral.ai/products/accelerator/ (4 TOPS int8, 2 TOPS/W -> 2 W at peak, USB 3.0 "
               "5 Gb/s -> 0.5 GB/s after 8b/10b) and https://coral.ai/docs/edgetpu/compiler/ (~8 MB SRAM caches "
               "parameters; int8 models only); idle not published",
               false});

  // AMD/Xilinx Kria KV260 (K26 SOM) with the Vitis AI DPU B3136 @ 300 MHz, as in AMD's KV260
  // NLP-SmartVision reference design (xilinx.github.io/kria-apps-docs, "Hardware Architecture of
  // the Accelerator"): 0.92 TOPS peak, 0.25 TOPS on DenseBox 640x360, 7.9 W overall (AMD's own
  // estimate). K26 data sheet DS987: 4 GB 64-bit DDR4 at 2400 Mb/s -> 19.2 GB/s. The DPU runs int8
  // only; fp32 would run on the 4x Cortex-A53, which this profile does not model.
  v.push_back({"kria-kv260", "AMD Kria KV260 (K26 SOM, Vitis AI DPU B3136 @ 300 MHz, int8)",
               DeviceKind::kFpga, 0.0, 0.0, 920.0, 19.2, 4 * kGiB, false, 0, 0.0, 7.9,
               "spec: https://xilinx.github.io/kria-apps-docs/kv260/2021.1/build/html/docs/nlp-smartvision/docs/"
               "hw_arch_accel_nlp.html (DPU B3136 @ 300 MHz: 0.92 TOPS peak, 7.9 W overall, estimated by AMD) and "
               "Kria K26 SOM Data Sheet DS987 (4 GB 64-bit DDR4 2400 Mb/s -> 19.2 GB/s); int8 only; idle not "
               "published",
               false});

  // Hailo-8 M.2 module. hailo.ai/products/ai-accelerators/hailo-8-ai-accelerator/: 26 TOPS int8,
  // 2.5 W typical, PCIe Gen3 x4 (8 GT/s x 4 x 128/130 / 8 = 3.94 GB/s). No external DRAM: the
  // dataflow architecture keeps weights and activations on chip (Hailo via cnx-software.com,
  // 2020-10-07); the on-chip capacity is not published.
  v.push_back({"hailo-8", "Hailo-8 M.2 AI accelerator (26 TOPS int8, dataflow, weights on chip)",
               DeviceKind::kNpu, 0.0, 0.0, 26000.0, 3.94, 0, true, 0, 0.0, 2.5,
               "spec: https://hailo.ai/products/ai-accelerators/hailo-8-ai-accelerator/ (26 TOPS int8, 2.5 W "
               "typical, PCIe Gen3 x4 -> 3.94 GB/s); weights on chip, no external DRAM: "
               "https://www.cnx-software.com/2020/10/07/learn-more-about-hailo-8-ai-accelerator-and-understanding-"
               "ai-benchmarks/; on-chip capacity and idle power not published",
               false});
  return v;
}

std::string fixed1(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f", v);
  return buf;
}

}  // namespace

const char* device_kind_name(DeviceKind kind) {
  switch (kind) {
    case DeviceKind::kCpu: return "cpu";
    case DeviceKind::kGpu: return "gpu";
    case DeviceKind::kTpu: return "tpu";
    case DeviceKind::kFpga: return "fpga";
    case DeviceKind::kNpu: return "npu";
  }
  return "?";
}

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kF32: return "fp32";
    case Precision::kF16: return "fp16";
    case Precision::kInt8: return "int8";
  }
  return "?";
}

Precision parse_precision(std::string_view name) {
  for (Precision p : {Precision::kF32, Precision::kF16, Precision::kInt8})
    if (name == precision_name(p)) return p;
  throw_error(ErrorCode::kInvalidArgument, "unknown precision '" + std::string(name) + "'; valid: fp32, fp16, int8");
}

double HardwareProfile::peak_gops(Precision p) const {
  switch (p) {
    case Precision::kF32: return peak_gops_f32;
    case Precision::kF16: return peak_gops_f16;
    case Precision::kInt8: return peak_gops_int8;
  }
  return 0;
}

std::vector<std::string> HardwareProfile::dtypes() const {
  std::vector<std::string> v;
  for (Precision p : {Precision::kF32, Precision::kF16, Precision::kInt8})
    if (supports(p)) v.emplace_back(precision_name(p));
  return v;
}

const std::vector<HardwareProfile>& builtin_profiles() {
  static const std::vector<HardwareProfile> profiles = make_builtin_profiles();
  return profiles;
}

std::vector<std::string> profile_names() {
  std::vector<std::string> names{"host"};
  for (const auto& p : builtin_profiles()) names.push_back(p.name);
  return names;
}

const HardwareProfile& find_builtin_profile(std::string_view name) {
  for (const auto& p : builtin_profiles())
    if (p.name == name) return p;
  std::string valid;
  for (const auto& n : profile_names()) valid += (valid.empty() ? "" : ", ") + n;
  throw_error(ErrorCode::kNotFound, "unknown hardware profile '" + std::string(name) + "'; valid: " + valid);
}

HardwareProfile make_host_profile(const HostInfo& host, const HostProfileOptions& o) {
  EDGEOPT_CHECK_ARG(o.threads >= 0, "host profile: threads must be >= 0 (0 = all physical cores), got " +
                                        std::to_string(o.threads));
  EDGEOPT_CHECK_ARG(o.peak_gflops_f32 >= 0 && o.peak_gops_int8 >= 0 && o.memory_bandwidth_gbs >= 0 &&
                        o.idle_power_w >= 0 && o.active_power_w >= 0,
                    "host profile: configured peaks, bandwidth and power must be >= 0");
  const int cores = std::max(1, host.physical_cores > 0 ? host.physical_cores : host.logical_cores);
  const int threads = o.threads > 0 ? o.threads : cores;
  // Threads beyond the physical cores share FMA units (SMT), so they add no peak.
  const double scale = static_cast<double>(std::min(threads, cores));

  HardwareProfile p;
  p.name = "host";
  p.kind = DeviceKind::kCpu;
  p.description = (host.cpu_model.empty() ? std::string("this machine") : host.cpu_model) + ", " +
                  std::to_string(threads) + " thread(s) of " + std::to_string(cores) + " physical core(s)";
  std::string src;
  if (o.peak_gflops_f32 > 0) {
    p.peak_gops_f32 = o.peak_gflops_f32;
    src += "fp32 peak configured";
  } else {
    const double per_core = measure_peak_gflops_f32_per_core();
    p.peak_gops_f32 = per_core * scale;
    src += "fp32 peak measured: " + fixed1(per_core) + " GFLOP/s/core (FMA chains, " +
           (host.hwy_best_target.empty() ? std::string("?") : host.hwy_best_target) + ") x " +
           std::to_string(static_cast<int>(scale));
  }
  if (o.peak_gops_int8 > 0) {
    p.peak_gops_int8 = o.peak_gops_int8;
    src += "; int8 peak configured";
  } else {
    const double per_core = measure_peak_gops_int8_per_core();
    if (per_core > 0) {
      p.peak_gops_int8 = per_core * scale;
      src += "; int8 peak measured: " + fixed1(per_core) + " GOP/s/core (" + int8_peak_isa() + ") x " +
             std::to_string(static_cast<int>(scale));
    } else {
      p.peak_gops_int8 = p.peak_gops_f32;
      src += "; int8 peak = fp32 peak (no int8 measurement loop for this ISA)";
    }
  }
  // NEON fp16 arithmetic runs 8 lanes where fp32 runs 4; x86 fp16 (AVX512-FP16) is not detected, so
  // fp16 weights on x86 run as fp32 (the roofline then uses the fp32 peak).
  if (host.isa.fp16) {
    p.peak_gops_f16 = 2 * p.peak_gops_f32;
    src += "; fp16 = 2 x fp32 (NEON fp16 arithmetic)";
  }
  if (o.memory_bandwidth_gbs > 0) {
    p.memory_bandwidth_gbs = o.memory_bandwidth_gbs;
    src += "; bandwidth configured";
  } else {
    p.memory_bandwidth_gbs = measure_memory_bandwidth_gbs();
    src += "; bandwidth measured (1-thread streaming read, 128 MiB)";
  }
  p.memory_bytes = host.memory_bytes;
  p.idle_power_w = o.idle_power_w;
  p.active_power_w = o.active_power_w;
  src += o.active_power_w > 0 ? "; power configured" : "; power unknown (not configured)";
  p.source = src;
  p.measured = true;
  return p;
}

HardwareProfile find_profile(std::string_view name, const HostProfileOptions& host_options) {
  if (name == "host") return make_host_profile(detect_host(), host_options);
  return find_builtin_profile(name);
}

}  // namespace edgeopt::hw

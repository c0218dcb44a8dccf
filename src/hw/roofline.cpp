#include "hw/roofline.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"

namespace edgeopt::hw {
namespace {

std::string join_dtypes(const HardwareProfile& p) {
  std::string s;
  for (const auto& d : p.dtypes()) s += (s.empty() ? "" : "/") + d;
  return s;
}

}  // namespace

RooflineConstants roofline_constants(DeviceKind kind) {
  // compute_efficiency: cpu 0.5 from this repository's measurements on its reference machine
  // (bench/README.md: MobileNetV2 runs at ~45% of the measured FMA peak, ResNet-18 near it with
  // Winograd; large GEMMs at 82-89%); fpga 0.27 from AMD's KV260 reference design (DenseBox: 0.25 of
  // 0.92 peak TOPS); gpu/tpu/npu 0.3 is an assumption for batch-1 edge models, which fill a small
  // part of a wide array. memory_efficiency 0.7: STREAM-style kernels typically reach 60-80% of the
  // theoretical DRAM bandwidth (assumption). Overheads: cpu 1 us per node (an operator dispatch in
  // an in-process runtime), gpu 10 us per kernel launch plus 50 us per inference for the
  // host<->device synchronisation, accelerators 200 us per inference for the driver/DMA round trip
  // over USB/PCIe and nothing per node (the compiled program runs the whole graph): assumptions.
  switch (kind) {
    case DeviceKind::kCpu: return {0.5, 0.7, 1.0, 0.0};
    case DeviceKind::kGpu: return {0.3, 0.7, 10.0, 50.0};
    case DeviceKind::kTpu: return {0.3, 0.7, 0.0, 200.0};
    case DeviceKind::kFpga: return {0.27, 0.7, 0.0, 200.0};
    case DeviceKind::kNpu: return {0.3, 0.7, 0.0, 200.0};
  }
  return {0.5, 0.7, 0.0, 0.0};
}

RooflineEstimate estimate_roofline(const ModelCost& c, const HardwareProfile& p) {
  EDGEOPT_CHECK_ARG(c.macs_f32 >= 0 && c.macs_f16 >= 0 && c.macs_int8 >= 0 && c.weight_bytes >= 0 &&
                        c.activation_bytes >= 0 && c.io_bytes >= 0 && c.nodes >= 0,
                    "roofline: model costs must be >= 0 (profile '" + p.name + "')");
  EDGEOPT_CHECK_ARG(p.peak_gops_f32 > 0 || p.peak_gops_f16 > 0 || p.peak_gops_int8 > 0,
                    "roofline: profile '" + p.name + "' has no positive peak for any precision");
  EDGEOPT_CHECK_ARG(p.memory_bandwidth_gbs > 0, "roofline: profile '" + p.name + "' has no memory bandwidth");

  RooflineEstimate e;
  const RooflineConstants k = roofline_constants(p.kind);
  e.compute_efficiency = k.compute_efficiency;
  e.memory_efficiency = k.memory_efficiency;

  auto unsupported = [&](const std::string& why) {
    e.supported = false;
    e.reason = why;
    return e;
  };
  const auto macs_str = [](double m) { return std::to_string(static_cast<long long>(std::llround(m))); };
  double compute_s = 0;
  if (c.macs_f32 > 0) {
    if (!p.supports(Precision::kF32))
      return unsupported(p.name + " runs " + join_dtypes(p) + " only; the model has " + macs_str(c.macs_f32) +
                         " fp32 MACs (quantize it to int8)");
    compute_s += 2 * c.macs_f32 / (p.peak_gops_f32 * 1e9 * k.compute_efficiency);
  }
  if (c.macs_f16 > 0) {
    const double peak = p.supports(Precision::kF16) ? p.peak_gops_f16 : p.peak_gops_f32;
    if (peak <= 0)
      return unsupported(p.name + " runs " + join_dtypes(p) + " only; the model has " + macs_str(c.macs_f16) +
                         " fp16 MACs (quantize it to int8)");
    compute_s += 2 * c.macs_f16 / (peak * 1e9 * k.compute_efficiency);
  }
  if (c.macs_int8 > 0) {
    if (!p.supports(Precision::kInt8))
      return unsupported(p.name + " has no int8 arithmetic; the model has " + macs_str(c.macs_int8) + " int8 MACs");
    compute_s += 2 * c.macs_int8 / (p.peak_gops_int8 * 1e9 * k.compute_efficiency);
  }

  double bytes = c.weight_bytes + c.activation_bytes;
  if (p.weights_on_chip) {
    // Intermediates stay on chip too; weights past the on-chip capacity stream every inference.
    const double spill = p.on_chip_bytes > 0 ? std::max(0.0, c.weight_bytes - static_cast<double>(p.on_chip_bytes)) : 0;
    bytes = c.io_bytes + spill;
  }
  const double memory_s = bytes / (p.memory_bandwidth_gbs * 1e9 * k.memory_efficiency);
  const double overhead_s = (static_cast<double>(c.nodes) * k.node_overhead_us + k.inference_overhead_us) * 1e-6;

  e.supported = true;
  e.compute_ms = compute_s * 1e3;
  e.memory_ms = memory_s * 1e3;
  e.overhead_ms = overhead_s * 1e3;
  e.latency_ms = std::max(e.compute_ms, e.memory_ms) + e.overhead_ms;
  e.bound = e.compute_ms >= e.memory_ms ? "compute" : "memory";
  e.throughput_per_s = e.latency_ms > 0 ? 1e3 / e.latency_ms : 0;
  e.power_w = p.active_power_w;
  e.energy_known = p.active_power_w > 0;
  e.energy_mj = e.energy_known ? p.active_power_w * e.latency_ms : 0;  // W x ms = mJ
  e.memory_mb = (c.weight_bytes + c.activation_bytes) / 1e6;
  return e;
}

}  // namespace edgeopt::hw

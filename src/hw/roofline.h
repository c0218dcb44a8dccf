// Roofline estimate of one batch-1 inference on a hardware profile: latency, throughput and
// energy, always labelled "estimate" (it is a model, not a measurement).
//
//   edgeopt::hw::ModelCost cost{.macs_f32 = 2.3e6, .weight_bytes = 410e3, .activation_bytes = 180e3,
//                               .io_bytes = 3.2e3, .nodes = 9};
//   auto e = edgeopt::hw::estimate_roofline(cost, edgeopt::hw::find_builtin_profile("raspberry-pi-4"));
//   if (e.supported) std::printf("%.3f ms (%s-bound), %.3f mJ\n", e.latency_ms, e.bound.c_str(), e.energy_mj);
//
// The model (docs/hardware-profiles.md has the derivations):
//   compute_s  = sum over precisions p of 2 * macs_p / (peak_p * compute_efficiency(kind))
//   memory_s   = bytes / (bandwidth * memory_efficiency), bytes = weights + activations, or only
//                io_bytes (+ the weights that do not fit) on dataflow devices that keep weights on chip
//   latency_s  = max(compute_s, memory_s) + nodes * node_overhead(kind) + inference_overhead(kind)
//   energy_mJ  = active_power_W * latency_ms  (0 with energy_known = false when the power is unknown)
// fp16 MACs on a device without fp16 arithmetic run at the fp32 peak (weights widened on load);
// fp32 or fp16 MACs on an int8-only device, or int8 MACs on a device without int8, make the
// estimate unsupported, with the reason.
#pragma once
#include <cstdint>
#include <string>

#include "hw/profiles.h"

namespace edgeopt::hw {

// What one inference costs, counted by the caller from the graph (MACs of Conv/Gemm/MatMul/LSTM by
// the precision they run in, bytes of weights as stored, bytes of every intermediate activation
// written once and read once, the model's input + output bytes, and the number of executed nodes).
struct ModelCost {
  double macs_f32 = 0;
  double macs_f16 = 0;
  double macs_int8 = 0;
  double weight_bytes = 0;
  double activation_bytes = 0;
  double io_bytes = 0;
  int64_t nodes = 0;
};

// The documented constants of the model, per device kind (see docs/hardware-profiles.md for where
// each comes from; none was fitted to make a result look good).
struct RooflineConstants {
  double compute_efficiency;    // achievable fraction of the peak ops at batch 1
  double memory_efficiency;     // achievable fraction of the peak bandwidth
  double node_overhead_us;      // per executed node (dispatch / kernel launch)
  double inference_overhead_us; // per inference (host <-> device round trip)
};
RooflineConstants roofline_constants(DeviceKind kind);

struct RooflineEstimate {
  std::string source = "estimate";  // always "estimate"
  bool supported = false;
  std::string reason;               // why not supported; empty when supported
  double compute_ms = 0, memory_ms = 0, overhead_ms = 0;
  double latency_ms = 0;            // max(compute, memory) + overhead
  double throughput_per_s = 0;      // 1000 / latency_ms (batch 1, back to back)
  std::string bound;                // "compute" or "memory"
  bool energy_known = false;        // false when the profile's active power is not published
  double energy_mj = 0;             // active power x latency
  double power_w = 0;               // the active power used
  double memory_mb = 0;             // weights + activations resident (what the device must hold)
  double compute_efficiency = 0, memory_efficiency = 0;  // the constants used
};

// Never throws for an unsupported precision (supported = false + reason); throws InvalidArgument
// for negative costs or a profile with no positive peak at all.
RooflineEstimate estimate_roofline(const ModelCost& cost, const HardwareProfile& profile);

}  // namespace edgeopt::hw

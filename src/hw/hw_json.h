// JSON for the optimize report (docs/report.md): the "target" section from a host or a profile,
// and one "platforms" row from a roofline estimate. Header-only, so edgeopt_hw itself does not link
// nlohmann-json; include it where the report is assembled.
//
//   nlohmann::json target = edgeopt::hw::target_to_json(profile, &host);   // host: measured
//   report["platforms"].push_back(edgeopt::hw::platform_row_to_json(
//       "raspberry-pi-4", "best", edgeopt::hw::Precision::kInt8, estimate));
#pragma once
#include <nlohmann/json.hpp>

#include "hw/host_info.h"
#include "hw/profiles.h"
#include "hw/roofline.h"

namespace edgeopt::hw {

inline nlohmann::json host_info_to_json(const HostInfo& h) {
  return {{"arch", h.arch},
          {"cpu_vendor", h.cpu_vendor},
          {"cpu_model", h.cpu_model},
          {"isa", h.isa.names()},
          {"hwy_best_target", h.hwy_best_target},
          {"hwy_targets", h.hwy_targets},
          {"physical_cores", h.physical_cores},
          {"logical_cores", h.logical_cores},
          {"l1d_bytes", h.l1d_bytes},
          {"l2_bytes", h.l2_bytes},
          {"l3_bytes", h.l3_bytes},
          {"memory_bytes", h.memory_bytes},
          {"notes", h.notes}};
}

// "source" is "measured" for a profile measured on this machine (host) and "estimate" for a
// spec-sheet device (its numbers will be roofline estimates); the citation is "spec_source". Zero
// power/memory (not published) becomes null. With `host`, its detection fields are merged in.
inline nlohmann::json target_to_json(const HardwareProfile& p, const HostInfo* host = nullptr) {
  const auto or_null = [](double v) { return v > 0 ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json j = host ? host_info_to_json(*host) : nlohmann::json::object();
  j["name"] = p.name;
  j["kind"] = device_kind_name(p.kind);
  j["description"] = p.description;
  j["source"] = p.measured ? "measured" : "estimate";
  j["peak_gflops_f32"] = p.peak_gops_f32;
  j["peak_gflops_f16"] = p.peak_gops_f16;
  j["peak_gops_int8"] = p.peak_gops_int8;
  j["memory_bandwidth_gbs"] = p.memory_bandwidth_gbs;
  j["memory_bytes"] = p.memory_bytes > 0 ? nlohmann::json(p.memory_bytes) : nlohmann::json(nullptr);
  j["idle_power_w"] = or_null(p.idle_power_w);
  j["active_power_w"] = or_null(p.active_power_w);
  j["dtypes"] = p.dtypes();
  j["spec_source"] = p.source;
  return j;
}

// One row of the report's "platforms" table, source "estimate". An unsupported estimate gives
// null numbers and its reason in "unsupported"; unknown energy/power give null.
inline nlohmann::json platform_row_to_json(const std::string& platform, const std::string& variant, Precision dtype,
                                           const RooflineEstimate& e) {
  const auto num = [&](double v, bool known) { return known ? nlohmann::json(v) : nlohmann::json(nullptr); };
  nlohmann::json row = {{"platform", platform},
                        {"variant", variant},
                        {"dtype", precision_name(dtype)},
                        {"source", e.source},
                        {"latency_ms", num(e.latency_ms, e.supported)},
                        {"throughput_per_s", num(e.throughput_per_s, e.supported)},
                        {"power_w", num(e.power_w, e.supported && e.power_w > 0)},
                        {"energy_mj_per_inference", num(e.energy_mj, e.supported && e.energy_known)},
                        {"memory_mb", num(e.memory_mb, e.supported)},
                        {"bound", e.supported ? nlohmann::json(e.bound) : nlohmann::json(nullptr)}};
  if (!e.supported) row["unsupported"] = e.reason;
  return row;
}

}  // namespace edgeopt::hw

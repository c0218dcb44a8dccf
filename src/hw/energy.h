// Measured energy: Intel/AMD RAPL counters through Linux powercap sysfs, or NVIDIA GPUs through
// NVML (loaded with dlopen, so nothing links against it). When neither is readable, callers use
// the profile's roofline estimate and label it "estimate" (hw/roofline.h).
//
//   edgeopt::hw::EnergyMeter meter;
//   if (meter.available()) {
//     meter.start();
//     for (int i = 0; i < n; ++i) session.run(...);
//     auto r = meter.stop();
//     double mj_per_inference = 1e3 * r.joules / n;   // source: "measured" (r.backend: "rapl")
//   } else {
//     std::puts(meter.reason().c_str());   // e.g. "RAPL: no /sys/class/powercap; NVML: ..."
//   }
//
// What RAPL measures is the whole package (all cores, caches, the memory controller) plus DRAM
// where the platform exposes it, while the model runs: it includes other processes and idle power,
// so measure with the machine otherwise quiet. Counters are read on start() and stop(); a RAPL
// counter wraps at max_energy_range_uj (262,143 J on many Intel parts: ~44 min at 100 W) and is
// corrected for one wrap per interval, so an interval must be shorter than one full counter range
// (for long runs, sample() more often and sum the intervals).
// Not thread-safe: one meter per measuring thread.
#pragma once
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace edgeopt::hw {

struct EnergyMeterOptions {
  std::filesystem::path powercap_root = "/sys/class/powercap";  // tests point this at a fake tree
  bool use_rapl = true;
  bool use_nvml = true;
  std::string nvml_library = "libnvidia-ml.so.1";
};

// Raw cumulative counters of every domain, in microjoules, and when they were read.
struct EnergySnapshot {
  std::vector<uint64_t> microjoules;
  std::chrono::steady_clock::time_point time;
};

struct EnergyReading {
  double joules = 0;
  double seconds = 0;
  std::string backend;  // "rapl" or "nvml"
  std::string source = "measured";
  double average_watts() const { return seconds > 0 ? joules / seconds : 0; }
};

class EnergyMeter {
 public:
  explicit EnergyMeter(const EnergyMeterOptions& options = {});
  ~EnergyMeter();
  EnergyMeter(const EnergyMeter&) = delete;
  EnergyMeter& operator=(const EnergyMeter&) = delete;

  bool available() const { return !backend_.empty(); }
  // "rapl", "nvml", or "" when unavailable.
  const std::string& backend() const { return backend_; }
  // When unavailable: why, one clause per backend tried. When available: what is measured.
  const std::string& reason() const { return reason_; }
  // One name per counter, e.g. "intel-rapl:0 (package-0)", "intel-rapl:0:2 (dram)", "gpu0 (NVIDIA H100)".
  const std::vector<std::string>& domains() const { return domain_names_; }

  // Reads every counter. Throws FailedPrecondition when unavailable, Unavailable when a counter
  // that was readable at construction no longer is.
  EnergySnapshot sample() const;
  // Joules between two snapshots of this meter (b later than a), each RAPL counter corrected for
  // at most one wrap at its max_energy_range_uj.
  double joules_between(const EnergySnapshot& a, const EnergySnapshot& b) const;

  void start();           // sample() and keep it
  EnergyReading stop();   // since start(); throws FailedPrecondition without a start()

 private:
  struct Nvml;
  std::string backend_, reason_;
  std::vector<std::string> domain_names_;
  std::vector<std::filesystem::path> rapl_files_;  // energy_uj per domain
  std::vector<uint64_t> rapl_max_uj_;              // max_energy_range_uj per domain
  std::unique_ptr<Nvml> nvml_;
  EnergySnapshot started_;
  bool has_start_ = false;
};

// Counter delta with one wrap: b >= a ? b - a : (max_range - a) + b. Exposed for tests.
uint64_t rapl_delta_uj(uint64_t a, uint64_t b, uint64_t max_range_uj);

}  // namespace edgeopt::hw

// GPU power and memory of one CUDA device from NVML, loaded at run time (dlopen of
// libnvidia-ml.so.1, which ships with the driver), so edgeopt has no link-time dependency on it:
// without the library or a device every reading is absent and `why_unavailable()` says why.
// Energy is hw::EnergyMeter's (src/hw/energy.h, NVML's energy counter); this adds what it does not
// read: instantaneous board power and device memory, for the device CUDA numbers (matched by PCI
// bus id, since CUDA and NVML order devices differently).
//
//   cuda::Nvml nvml(/*cuda_device=*/0);
//   if (auto w = nvml.power_w()) ...          // board power now
//   if (auto m = nvml.memory()) ...           // used/total MB
#pragma once
#include <optional>
#include <string>

namespace edgeopt::cuda {

struct GpuMemory {
  double used_mb = 0, total_mb = 0;
};

class Nvml {
 public:
  explicit Nvml(int cuda_device);
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  bool available() const { return device_ != nullptr; }
  const std::string& why_unavailable() const { return why_; }
  std::optional<double> power_w() const;
  std::optional<GpuMemory> memory() const;

 private:
  void* lib_ = nullptr;
  void* device_ = nullptr;  // nvmlDevice_t
  std::string why_;
  // Entry points (NVML's C ABI: status 0 = success).
  int (*shutdown_)() = nullptr;
  int (*power_)(void*, unsigned int*) = nullptr;
  int (*memory_)(void*, void*) = nullptr;
};

}  // namespace edgeopt::cuda

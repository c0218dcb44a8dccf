// GPU power, energy and memory from NVML, loaded at run time (dlopen of libnvidia-ml.so.1, which
// ships with the driver), so edgeopt has no link-time dependency on it: without the library or a
// device every reading is simply absent and `why_unavailable()` says why.
//
//   cuda::Nvml nvml(/*cuda_device=*/0);
//   if (auto w = nvml.power_w()) ...          // board power now
//   if (auto mj = nvml.energy_mj()) ...       // energy counter since driver load (Volta+)
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
  std::optional<double> energy_mj() const;
  std::optional<GpuMemory> memory() const;

 private:
  void* lib_ = nullptr;
  void* device_ = nullptr;  // nvmlDevice_t
  std::string why_;
  // Entry points (NVML's C ABI: status 0 = success).
  int (*shutdown_)() = nullptr;
  int (*power_)(void*, unsigned int*) = nullptr;
  int (*energy_)(void*, unsigned long long*) = nullptr;
  int (*memory_)(void*, void*) = nullptr;
};

}  // namespace edgeopt::cuda

#include "cuda/nvml.h"

#include <cuda_runtime.h>
#include <dlfcn.h>

namespace edgeopt::cuda {
namespace {

struct NvmlMemoryV1 {  // nvmlMemory_t
  unsigned long long total, free, used;
};

template <typename F>
F sym(void* lib, const char* name) {
  return reinterpret_cast<F>(dlsym(lib, name));
}

}  // namespace

Nvml::Nvml(int cuda_device) {
  lib_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (!lib_) {
    why_ = "NVML not available (libnvidia-ml.so.1 not found: no NVIDIA driver)";
    return;
  }
  auto init = sym<int (*)()>(lib_, "nvmlInit_v2");
  auto by_pci = sym<int (*)(const char*, void**)>(lib_, "nvmlDeviceGetHandleByPciBusId_v2");
  shutdown_ = sym<int (*)()>(lib_, "nvmlShutdown");
  power_ = sym<int (*)(void*, unsigned int*)>(lib_, "nvmlDeviceGetPowerUsage");
  memory_ = sym<int (*)(void*, void*)>(lib_, "nvmlDeviceGetMemoryInfo");
  if (!init || !by_pci || !shutdown_) {
    why_ = "NVML not available (libnvidia-ml.so.1 lacks nvmlInit_v2/nvmlDeviceGetHandleByPciBusId_v2)";
    return;
  }
  if (int st = init(); st != 0) {
    why_ = "NVML not available (nvmlInit_v2 returned " + std::to_string(st) + ")";
    shutdown_ = nullptr;
    return;
  }
  // CUDA and NVML number devices differently (CUDA_VISIBLE_DEVICES, ordering): match by PCI bus id.
  char bus[32] = {};
  if (cudaDeviceGetPCIBusId(bus, sizeof(bus), cuda_device) != cudaSuccess) {
    cudaGetLastError();
    why_ = "NVML not available (no PCI bus id for CUDA device " + std::to_string(cuda_device) + ")";
    return;
  }
  void* dev = nullptr;
  if (int st = by_pci(bus, &dev); st != 0) {
    why_ = "NVML not available (no NVML device for PCI bus " + std::string(bus) + ", status " + std::to_string(st) + ")";
    return;
  }
  device_ = dev;
}

Nvml::~Nvml() {
  if (shutdown_) shutdown_();
  if (lib_) dlclose(lib_);
}

std::optional<double> Nvml::power_w() const {
  unsigned int mw = 0;
  if (!device_ || !power_ || power_(device_, &mw) != 0) return std::nullopt;
  return mw / 1000.0;
}

std::optional<GpuMemory> Nvml::memory() const {
  NvmlMemoryV1 m{};
  if (!device_ || !memory_ || memory_(device_, &m) != 0) return std::nullopt;
  return GpuMemory{m.used / 1048576.0, m.total / 1048576.0};
}

}  // namespace edgeopt::cuda

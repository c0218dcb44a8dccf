#include "hw/energy.h"

#include <dlfcn.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.h"

namespace edgeopt::hw {
namespace {

namespace fs = std::filesystem;

bool read_u64(const fs::path& p, uint64_t& v) {
  std::ifstream f(p);
  if (!f) return false;
  unsigned long long x = 0;
  if (!(f >> x)) return false;
  v = x;
  return true;
}

std::string read_line(const fs::path& p) {
  std::ifstream f(p);
  std::string s;
  std::getline(f, s);
  return s;
}

// "intel-rapl:0" -> true, "intel-rapl:0:1" -> false (a subzone).
bool is_top_zone(const std::string& name) { return std::count(name.begin(), name.end(), ':') == 1; }

}  // namespace

uint64_t rapl_delta_uj(uint64_t a, uint64_t b, uint64_t max_range_uj) {
  if (b >= a) return b - a;
  return (max_range_uj >= a ? max_range_uj - a : 0) + b;
}

// NVML entry points, resolved with dlsym. Types follow nvml.h (NVML_SUCCESS == 0).
struct EnergyMeter::Nvml {
  using Init = int (*)();
  using Shutdown = int (*)();
  using Count = int (*)(unsigned*);
  using Handle = int (*)(unsigned, void**);
  using Energy = int (*)(void*, unsigned long long*);
  using Name = int (*)(void*, char*, unsigned);
  void* lib = nullptr;
  Shutdown shutdown = nullptr;
  Energy energy = nullptr;
  std::vector<void*> devices;
  ~Nvml() {
    if (shutdown) shutdown();
    if (lib) dlclose(lib);
  }
};

EnergyMeter::EnergyMeter(const EnergyMeterOptions& o) {
  std::string why;
  if (o.use_rapl) {
    std::vector<std::pair<std::string, fs::path>> zones;  // (zone name, dir), sorted for a stable order
    std::error_code ec;
    if (!fs::is_directory(o.powercap_root, ec)) {
      why = "RAPL: no " + o.powercap_root.string();
    } else {
      for (const auto& e : fs::directory_iterator(o.powercap_root, ec)) {
        const std::string n = e.path().filename().string();
        if (n.rfind("intel-rapl:", 0) != 0 && n.rfind("amd-rapl:", 0) != 0) continue;
        // Powercap lists subzones both nested and at the top level (as symlinks); take top-level
        // package zones and the "dram" subzones, which the package counter does not include. "psys"
        // (whole platform) overlaps the packages, so it is left out.
        const std::string zname = read_line(e.path() / "name");
        if (is_top_zone(n) ? zname.rfind("package", 0) != 0 : zname != "dram") continue;
        zones.emplace_back(n, e.path());
      }
      std::sort(zones.begin(), zones.end());
      std::string unreadable;
      for (const auto& [n, dir] : zones) {
        uint64_t v = 0, max = 0;
        if (!read_u64(dir / "energy_uj", v)) {
          unreadable = (dir / "energy_uj").string();
          continue;
        }
        if (!read_u64(dir / "max_energy_range_uj", max) || max == 0) {
          unreadable = (dir / "max_energy_range_uj").string();
          continue;
        }
        rapl_files_.push_back(dir / "energy_uj");
        rapl_max_uj_.push_back(max);
        domain_names_.push_back(n + " (" + read_line(dir / "name") + ")");
      }
      if (!rapl_files_.empty()) {
        backend_ = "rapl";
        std::string list;
        for (const auto& d : domain_names_) list += (list.empty() ? "" : ", ") + d;
        reason_ = "RAPL energy counters: " + list;
        return;
      }
      why = zones.empty() ? "RAPL: no package zones under " + o.powercap_root.string()
                          : "RAPL: cannot read " + unreadable +
                                " (the counters are root-only on Linux >= 5.10; run as root or relax the mode)";
    }
  } else {
    why = "RAPL: disabled";
  }

  if (o.use_nvml) {
    void* lib = dlopen(o.nvml_library.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
      why += "; NVML: cannot load " + o.nvml_library;
    } else {
      auto nv = std::make_unique<Nvml>();
      nv->lib = lib;
      auto init = reinterpret_cast<Nvml::Init>(dlsym(lib, "nvmlInit_v2"));
      auto count = reinterpret_cast<Nvml::Count>(dlsym(lib, "nvmlDeviceGetCount_v2"));
      auto handle = reinterpret_cast<Nvml::Handle>(dlsym(lib, "nvmlDeviceGetHandleByIndex_v2"));
      auto name = reinterpret_cast<Nvml::Name>(dlsym(lib, "nvmlDeviceGetName"));
      nv->energy = reinterpret_cast<Nvml::Energy>(dlsym(lib, "nvmlDeviceGetTotalEnergyConsumption"));
      auto shutdown = reinterpret_cast<Nvml::Shutdown>(dlsym(lib, "nvmlShutdown"));
      unsigned n = 0;
      if (!init || !count || !handle || !nv->energy || !shutdown) {
        why += "; NVML: " + o.nvml_library + " lacks the energy API (nvmlDeviceGetTotalEnergyConsumption)";
      } else if (int rc = init(); rc != 0) {
        why += "; NVML: nvmlInit_v2 failed with code " + std::to_string(rc);
      } else {
        nv->shutdown = shutdown;
        if (count(&n) != 0) n = 0;
        for (unsigned i = 0; i < n; ++i) {
          void* dev = nullptr;
          unsigned long long mj = 0;
          // Energy counters exist on Volta and later; older GPUs answer NVML_ERROR_NOT_SUPPORTED.
          if (handle(i, &dev) != 0 || nv->energy(dev, &mj) != 0) continue;
          char buf[96] = {};
          if (!name || name(dev, buf, sizeof(buf)) != 0) buf[0] = 0;
          nv->devices.push_back(dev);
          domain_names_.push_back("gpu" + std::to_string(i) + (buf[0] ? std::string(" (") + buf + ")" : ""));
        }
        if (nv->devices.empty()) {
          why += "; NVML: " + std::to_string(n) + " GPU(s), none with an energy counter";
        } else {
          nvml_ = std::move(nv);
          backend_ = "nvml";
          std::string list;
          for (const auto& d : domain_names_) list += (list.empty() ? "" : ", ") + d;
          reason_ = "NVML total energy counters: " + list;
          return;
        }
      }
    }
  } else {
    why += "; NVML: disabled";
  }
  reason_ = why;
}

EnergyMeter::~EnergyMeter() = default;

EnergySnapshot EnergyMeter::sample() const {
  if (!available())
    throw_error(ErrorCode::kFailedPrecondition, "energy meter unavailable: " + reason_);
  EnergySnapshot s;
  s.time = std::chrono::steady_clock::now();
  if (backend_ == "rapl") {
    for (const auto& f : rapl_files_) {
      uint64_t v = 0;
      if (!read_u64(f, v)) throw_error(ErrorCode::kUnavailable, "energy meter: cannot read " + f.string());
      s.microjoules.push_back(v);
    }
  } else {
    for (size_t i = 0; i < nvml_->devices.size(); ++i) {
      unsigned long long mj = 0;
      if (nvml_->energy(nvml_->devices[i], &mj) != 0)
        throw_error(ErrorCode::kUnavailable, "energy meter: NVML energy read failed for " + domain_names_[i]);
      s.microjoules.push_back(static_cast<uint64_t>(mj) * 1000);
    }
  }
  return s;
}

double EnergyMeter::joules_between(const EnergySnapshot& a, const EnergySnapshot& b) const {
  EDGEOPT_CHECK(a.microjoules.size() == domain_names_.size() && b.microjoules.size() == domain_names_.size(),
                ErrorCode::kInvalidArgument,
                "energy meter: snapshots have " + std::to_string(a.microjoules.size()) + " and " +
                    std::to_string(b.microjoules.size()) + " counters, this meter has " +
                    std::to_string(domain_names_.size()));
  double uj = 0;
  for (size_t i = 0; i < a.microjoules.size(); ++i) {
    // NVML counts 64-bit millijoules since driver load: no wrap in practice.
    const uint64_t max = backend_ == "rapl" ? rapl_max_uj_[i] : UINT64_MAX;
    uj += static_cast<double>(rapl_delta_uj(a.microjoules[i], b.microjoules[i], max));
  }
  return uj * 1e-6;
}

void EnergyMeter::start() {
  started_ = sample();
  has_start_ = true;
}

EnergyReading EnergyMeter::stop() {
  EDGEOPT_CHECK(has_start_, ErrorCode::kFailedPrecondition, "energy meter: stop() without start()");
  const EnergySnapshot end = sample();
  has_start_ = false;
  EnergyReading r;
  r.joules = joules_between(started_, end);
  r.seconds = std::chrono::duration<double>(end.time - started_.time).count();
  r.backend = backend_;
  return r;
}

}  // namespace edgeopt::hw

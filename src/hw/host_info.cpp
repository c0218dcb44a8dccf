#include "hw/host_info.h"

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>
#include <utility>

#include "hwy/targets.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#define EDGEOPT_HW_X86 1
#endif

namespace edgeopt::hw {
namespace {

namespace fs = std::filesystem;

// Reads a whole small file; false (and no throw) when it is missing or unreadable.
bool read_file(const fs::path& p, std::string& out) {
  std::ifstream f(p, std::ios::binary);
  if (!f) return false;
  std::ostringstream ss;
  ss << f.rdbuf();
  out = ss.str();
  return !f.bad();
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool read_trimmed(const fs::path& p, std::string& out) {
  if (!read_file(p, out)) return false;
  out = trim(out);
  return true;
}

// "0-3,5,7-8" -> 7; 0 if malformed.
int count_cpu_list(std::string_view list) {
  int n = 0;
  std::stringstream ss{std::string(list)};
  std::string part;
  while (std::getline(ss, part, ',')) {
    part = trim(part);
    if (part.empty()) continue;
    const size_t dash = part.find('-');
    try {
      if (dash == std::string::npos) {
        std::stoi(part);
        ++n;
      } else {
        const int a = std::stoi(part.substr(0, dash)), b = std::stoi(part.substr(dash + 1));
        if (b < a) return 0;
        n += b - a + 1;
      }
    } catch (...) {
      return 0;
    }
  }
  return n;
}

// The value after "key\t: " on the first line that starts with key, or "".
std::string cpuinfo_field(std::string_view text, std::string_view key) {
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    if (line.substr(0, key.size()) == key) {
      const size_t colon = line.find(':');
      if (colon != std::string_view::npos && trim(line.substr(key.size(), colon - key.size())).empty())
        return trim(line.substr(colon + 1));
    }
    pos = end + 1;
  }
  return {};
}

const char* arm_part_name(unsigned implementer, unsigned part) {
  if (implementer != 0x41) return nullptr;  // Arm Ltd. designs only
  static const std::pair<unsigned, const char*> kParts[] = {
      {0xd03, "Cortex-A53"}, {0xd04, "Cortex-A35"},     {0xd05, "Cortex-A55"},     {0xd07, "Cortex-A57"},
      {0xd08, "Cortex-A72"}, {0xd09, "Cortex-A73"},     {0xd0a, "Cortex-A75"},     {0xd0b, "Cortex-A76"},
      {0xd0c, "Neoverse-N1"}, {0xd0d, "Cortex-A77"},    {0xd40, "Neoverse-V1"},    {0xd41, "Cortex-A78"},
      {0xd42, "Cortex-A78AE"}, {0xd44, "Cortex-X1"},    {0xd46, "Cortex-A510"},    {0xd47, "Cortex-A710"},
      {0xd48, "Cortex-X2"},  {0xd49, "Neoverse-N2"},    {0xd4b, "Cortex-A78C"},    {0xd4f, "Neoverse-V2"},
  };
  for (const auto& [p, name] : kParts)
    if (p == part) return name;
  return nullptr;
}

#if defined(EDGEOPT_HW_X86)
uint64_t xgetbv0() {
  uint32_t lo = 0, hi = 0;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  return (static_cast<uint64_t>(hi) << 32) | lo;
}

void detect_x86(HostInfo& h) {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(0, &a, &b, &c, &d)) {
    h.notes.push_back("cpuid leaf 0 unavailable");
    return;
  }
  const unsigned max_leaf = a;
  char vendor[13] = {};
  std::memcpy(vendor, &b, 4);
  std::memcpy(vendor + 4, &d, 4);
  std::memcpy(vendor + 8, &c, 4);
  h.cpu_vendor = vendor;

  __get_cpuid(1, &a, &b, &c, &d);
  const bool osxsave = (c >> 27) & 1;
  const uint64_t xcr0 = osxsave ? xgetbv0() : 0;
  // The OS must save the YMM (bits 1-2) and, for AVX-512, the opmask/ZMM state (bits 5-7).
  const bool os_avx = (xcr0 & 0x6) == 0x6, os_avx512 = os_avx && (xcr0 & 0xE0) == 0xE0;
  h.isa.sse4_2 = (c >> 20) & 1;
  h.isa.avx = os_avx && ((c >> 28) & 1);
  h.isa.fma = h.isa.avx && ((c >> 12) & 1);
  h.isa.f16c = h.isa.avx && ((c >> 29) & 1);
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    h.isa.avx2 = h.isa.avx && ((b >> 5) & 1);
    h.isa.avx512f = os_avx512 && ((b >> 16) & 1);
    h.isa.avx512bw = h.isa.avx512f && ((b >> 30) & 1);
    h.isa.avx512vl = h.isa.avx512f && ((b >> 31) & 1);
    h.isa.avx512_vnni = h.isa.avx512f && ((c >> 11) & 1);
    const unsigned subleaves = a;
    if (subleaves >= 1) {
      __cpuid_count(7, 1, a, b, c, d);
      h.isa.avx_vnni = h.isa.avx2 && ((a >> 4) & 1);
      h.isa.avx512_bf16 = h.isa.avx512f && ((a >> 5) & 1);
    }
  }
  __get_cpuid(0x80000000, &a, &b, &c, &d);
  if (a >= 0x80000004) {
    char brand[49] = {};
    for (unsigned i = 0; i < 3; ++i) {
      unsigned r[4];
      __get_cpuid(0x80000002 + i, &r[0], &r[1], &r[2], &r[3]);
      std::memcpy(brand + 16 * i, r, 16);
    }
    h.cpu_model = trim(brand);
  }
}
#endif

}  // namespace

std::vector<std::string> IsaFeatures::names() const {
  std::vector<std::string> v;
  const std::pair<bool, const char*> all[] = {
      {sse4_2, "sse4_2"},        {avx, "avx"},           {avx2, "avx2"},         {fma, "fma"},
      {f16c, "f16c"},            {avx512f, "avx512f"},   {avx512bw, "avx512bw"}, {avx512vl, "avx512vl"},
      {avx512_vnni, "avx512_vnni"}, {avx_vnni, "avx_vnni"}, {avx512_bf16, "avx512_bf16"}, {neon, "neon"},
      {dotprod, "dotprod"},      {fp16, "fp16"},         {i8mm, "i8mm"},
  };
  for (const auto& [on, name] : all)
    if (on) v.emplace_back(name);
  return v;
}

int64_t parse_cache_size(std::string_view text) {
  const std::string s = trim(text);
  if (s.empty() || !std::isdigit(static_cast<unsigned char>(s[0]))) return -1;
  size_t used = 0;
  long long v = 0;
  try {
    v = std::stoll(s, &used);
  } catch (...) {
    return -1;
  }
  const std::string unit = trim(std::string_view(s).substr(used));
  if (unit.empty() || unit == "B") return v;
  if (unit == "K" || unit == "KB" || unit == "KiB") return v << 10;
  if (unit == "M" || unit == "MB" || unit == "MiB") return v << 20;
  if (unit == "G" || unit == "GB" || unit == "GiB") return v << 30;
  return -1;
}

int64_t parse_meminfo_total(std::string_view meminfo) {
  const std::string v = cpuinfo_field(meminfo, "MemTotal");
  if (v.empty()) return 0;
  try {
    size_t used = 0;
    const long long kb = std::stoll(v, &used);
    return trim(std::string_view(v).substr(used)) == "kB" ? kb * 1024 : 0;
  } catch (...) {
    return 0;
  }
}

void parse_cpuinfo_arm(std::string_view cpuinfo, HostInfo& out) {
  const std::string features = cpuinfo_field(cpuinfo, "Features");
  std::set<std::string> f;
  std::istringstream ss(features);
  for (std::string w; ss >> w;) f.insert(w);
  // AArch64 names; 32-bit kernels report "neon" instead of "asimd".
  out.isa.neon = f.count("asimd") || f.count("neon");
  out.isa.dotprod = f.count("asimddp") > 0;
  out.isa.fp16 = f.count("asimdhp") > 0;
  out.isa.i8mm = f.count("i8mm") > 0;

  std::string model = cpuinfo_field(cpuinfo, "model name");
  if (model.empty()) model = cpuinfo_field(cpuinfo, "Model name");
  const std::string impl = cpuinfo_field(cpuinfo, "CPU implementer"), part = cpuinfo_field(cpuinfo, "CPU part");
  if (!impl.empty() && !part.empty()) {
    try {
      const unsigned i = static_cast<unsigned>(std::stoul(impl, nullptr, 0));
      const unsigned p = static_cast<unsigned>(std::stoul(part, nullptr, 0));
      if (i == 0x41) out.cpu_vendor = "ARM";
      if (const char* name = arm_part_name(i, p)) model = std::string("ARM ") + name;
    } catch (...) {
    }
  }
  // Boards put the product in "Model" ("Raspberry Pi 4 Model B Rev 1.4"); keep it as a suffix.
  const std::string board = cpuinfo_field(cpuinfo, "Model");
  if (!board.empty()) model = model.empty() ? board : model + " (" + board + ")";
  if (!model.empty()) out.cpu_model = model;
}

HostInfo detect_host(const HostPaths& paths) {
  HostInfo h;
#if defined(__x86_64__)
  h.arch = "x86_64";
#elif defined(__aarch64__)
  h.arch = "aarch64";
#elif defined(__arm__)
  h.arch = "arm";
#else
  h.arch = "unknown";
#endif

  std::string cpuinfo;
  const bool have_cpuinfo = read_file(paths.proc_cpuinfo, cpuinfo);
  if (!have_cpuinfo) h.notes.push_back("cannot read " + paths.proc_cpuinfo.string());
#if defined(EDGEOPT_HW_X86)
  if (paths.use_cpuid) {
    detect_x86(h);
  } else if (have_cpuinfo) {
    parse_cpuinfo_arm(cpuinfo, h);
  }
#else
  if (have_cpuinfo) parse_cpuinfo_arm(cpuinfo, h);
#endif
  if (h.cpu_model.empty() && have_cpuinfo) h.cpu_model = cpuinfo_field(cpuinfo, "model name");
  if (h.cpu_model.empty()) h.notes.push_back("CPU model unknown");

  for (int64_t t : hwy::SupportedAndGeneratedTargets()) h.hwy_targets.emplace_back(hwy::TargetName(t));
  if (!h.hwy_targets.empty()) h.hwy_best_target = h.hwy_targets.front();

  std::string text;
  if (read_trimmed(paths.sys_cpu / "online", text)) h.logical_cores = count_cpu_list(text);
  if (h.logical_cores <= 0) {
    h.logical_cores = static_cast<int>(std::thread::hardware_concurrency());
    h.notes.push_back("no " + (paths.sys_cpu / "online").string() + "; logical cores from the C++ runtime");
  }
  // Physical cores: distinct (package, core) pairs over the CPUs that have a topology directory.
  std::set<std::pair<std::string, std::string>> cores;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(paths.sys_cpu, ec)) {
    const std::string name = e.path().filename().string();
    if (name.size() < 4 || name.compare(0, 3, "cpu") != 0 ||
        !std::all_of(name.begin() + 3, name.end(), [](char ch) { return std::isdigit(static_cast<unsigned char>(ch)); }))
      continue;
    std::string pkg, core;
    if (read_trimmed(e.path() / "topology" / "physical_package_id", pkg) &&
        read_trimmed(e.path() / "topology" / "core_id", core))
      cores.emplace(pkg, core);
  }
  h.physical_cores = cores.empty() ? h.logical_cores : static_cast<int>(cores.size());
  if (cores.empty()) h.notes.push_back("no CPU topology in " + paths.sys_cpu.string() + "; physical cores = logical");

  const fs::path cache_dir = paths.sys_cpu / "cpu0" / "cache";
  bool any_cache = false;
  for (const auto& e : fs::directory_iterator(cache_dir, ec)) {
    if (e.path().filename().string().rfind("index", 0) != 0) continue;
    std::string level, type, size;
    if (!read_trimmed(e.path() / "level", level) || !read_trimmed(e.path() / "type", type) ||
        !read_trimmed(e.path() / "size", size))
      continue;
    const int64_t bytes = parse_cache_size(size);
    if (bytes <= 0) continue;
    any_cache = true;
    if (level == "1" && type == "Data") h.l1d_bytes = bytes;
    else if (level == "2" && type != "Instruction") h.l2_bytes = bytes;
    else if (level == "3" && type != "Instruction") h.l3_bytes = bytes;
  }
  if (!any_cache) h.notes.push_back("no cache sizes in " + cache_dir.string());

  if (read_file(paths.proc_meminfo, text)) h.memory_bytes = parse_meminfo_total(text);
  if (h.memory_bytes == 0) h.notes.push_back("no MemTotal in " + paths.proc_meminfo.string());
  return h;
}

}  // namespace edgeopt::hw

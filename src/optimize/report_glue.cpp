// The report's hardware-dependent parts. (Filled from src/hw and src/report once they land.)
#include <fstream>

#include "optimize/measure.h"

namespace edgeopt::optimize {

using nlohmann::json;

json target_json(const std::string& target) { return {{"name", target}}; }

void annotate_energy(size_t n, const std::function<json&(size_t)>& card, const std::function<const Graph&(size_t)>&,
                     const Tensor&, int) {
  for (size_t i = 0; i < n; ++i) {
    card(i)["energy_mj_per_inference"] = nullptr;
    card(i)["energy_source"] = "unavailable";
  }
}

json platform_table(const json&, const Graph&, const json&, const Graph&, const Tensor&) { return json::array(); }

void write_report_files(const std::filesystem::path& dir, const json& report) {
  const auto tmp = dir / "report.json.tmp";
  std::ofstream(tmp) << report.dump(2) << "\n";
  std::filesystem::rename(tmp, dir / "report.json");
}

}  // namespace edgeopt::optimize

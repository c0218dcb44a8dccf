#include "serve/monitor_json.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "serve/server.h"

namespace edgeopt::serve {

double percentile(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double rank = std::ceil(p / 100.0 * static_cast<double>(v.size()));
  const size_t i = static_cast<size_t>(std::clamp(rank, 1.0, static_cast<double>(v.size()))) - 1;
  return v[i];
}

nlohmann::json monitor_snapshot(Server& server, double window_s) {
  using json = nlohmann::json;
  json models = json::array();
  std::map<std::string, json> by_model;
  std::vector<std::string> order;
  for (const auto& e : server.repository().index()) {
    if (!by_model.count(e.name)) {
      order.push_back(e.name);
      by_model[e.name] = {{"name", e.name},
                          {"serving_version", server.repository().serving(e.name)},
                          {"unknown_labels", server.feedback().unknown_total(e.name)},
                          {"versions", json::array()}};
    }
    if (e.version.empty()) continue;
    std::shared_ptr<ModelVersion> mv;
    try {
      mv = server.repository().get(e.name, e.version);
    } catch (const std::exception&) {
      continue;  // dropped since index()
    }
    const VersionStats st = mv->stats();
    double covered = window_s;
    std::vector<double> lat = mv->recent_latencies(window_s, &covered);
    const double n = static_cast<double>(lat.size());
    json v = {{"version", mv->version()}, {"requests", st.requests}, {"failed", st.failed},
              {"rejected", st.rejected}, {"expired", st.expired}, {"queue", mv->queue_size()},
              {"throughput_rps", n / covered}};
    v["p50_ms"] = 1e3 * percentile(lat, 50);
    v["p99_ms"] = 1e3 * percentile(lat, 99);
    if (auto r = server.feedback().rolling(e.name, mv->version())) {
      json rj = {{"task", r->task}, {"n", r->n}, {"labels_total", r->labels_total}};
      if (r->task == "regression") {
        rj["mae"] = r->mae;
        rj["rmse"] = r->rmse;
      } else {
        rj["accuracy"] = r->accuracy;
        rj["precision"] = r->precision;
        rj["recall"] = r->recall;
        rj["f1"] = r->f1;
      }
      v["rolling"] = rj;
    } else {
      v["rolling"] = nullptr;
    }
    if (auto d = mv->drift_status())
      v["drift"] = {{"alarm", d->alarm}, {"max_ks", d->max_ks}, {"max_psi", d->max_psi}, {"samples", d->samples_seen},
                    {"reason", d->reason}};
    else
      v["drift"] = nullptr;
    if (const auto& sb = mv->split()) {
      const auto a = sb->active();
      const auto c = sb->counters();
      const auto w = sb->window(window_s);
      const auto net = sb->network();
      v["split"] = {{"cut", a.cut}, {"all_edge_cut", sb->all_edge_cut()}, {"after_node", a.after_node},
                    {"transport", split::transport_name(a.transport)}, {"placement", a.placement}, {"reason", a.reason},
                    {"cloud_url", sb->spec().cloud_url}, {"answers", c.answers}, {"fallbacks", c.fallbacks},
                    {"cloud_errors", c.cloud_errors}, {"decisions", c.decisions}, {"bytes_sent", c.bytes_sent},
                    {"bytes_received", c.bytes_received}, {"bandwidth_mbps", net.bandwidth_mbps}, {"rtt_ms", net.rtt_ms},
                    {"window", {{"answers", w.answers}, {"edge_only", w.edge_only}, {"split", w.split},
                                {"fallback", w.fallback}, {"fallback_fraction", w.fallback_fraction},
                                {"edge_slowdown", w.edge_slowdown}}}};
    } else {
      v["split"] = nullptr;
    }
    const auto en = server.energy_per_inference(*mv);
    v["energy"] = en.known ? json{{"mj_per_inference", 1e3 * en.joules}, {"source", en.source}} : json(nullptr);
    by_model[e.name]["versions"].push_back(v);
  }
  for (const auto& n : order) models.push_back(by_model[n]);
  json out = {{"time_s", std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count()},
              {"window_s", window_s},
              {"models", models},
              {"controller", nullptr}};
  const auto ext = server.monitor_extension();
  if (ext.status) {
    json c = json::parse(ext.status(), nullptr, false);
    if (!c.is_discarded()) out["controller"] = c;
  }
  return out;
}

}  // namespace edgeopt::serve

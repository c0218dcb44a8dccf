#include "split/solver.h"

#include <cmath>
#include <limits>

namespace edgeopt::split {

const char* objective_name(Objective o) { return o == Objective::kLatency ? "latency" : "energy"; }

Objective objective_from_name(const std::string& name) {
  if (name == "latency") return Objective::kLatency;
  if (name == "energy") return Objective::kEnergy;
  throw_error(ErrorCode::kInvalidArgument, "unknown objective '" + name + "' (known: latency, energy)");
}

CutPrediction predict_cut(const Cut& cut, Transport t, const LayerProfile& edge, const LayerProfile& cloud,
                          const NetworkEstimate& net, const EnergyModel& energy) {
  CutPrediction p;
  p.cut = cut.index;
  p.transport = t;
  p.allowed = cut.allowed;
  p.reason = cut.reason;
  p.edge_ms = edge.prefix_ms(cut.index);
  if (!cut.all_edge()) {
    p.up_bytes = cut.upload_bytes(t);
    p.down_bytes = cut.download_bytes();
    p.transfer_ms = transfer_ms(p.up_bytes + p.down_bytes, net.bandwidth_mbps);
    p.rtt_ms = net.rtt_ms;
    p.cloud_ms = cloud.suffix_ms(cut.index) + cloud.request_ms;
  }
  p.total_ms = p.edge_ms + p.transfer_ms + p.rtt_ms + p.cloud_ms;
  const double bits = static_cast<double>(p.up_bytes + p.down_bytes) * 8.0;
  // W * ms = mJ; nJ/bit * bits = nJ = 1e-6 mJ.
  p.energy_mj = energy.edge_active_w * p.edge_ms + energy.edge_idle_w * (p.rtt_ms + p.cloud_ms) +
                energy.radio_active_w * p.transfer_ms + energy.radio_nj_per_bit * bits * 1e-6;
  return p;
}

Plan solve_split(const std::vector<Cut>& cuts, const LayerProfile& edge, const LayerProfile& cloud,
                 const NetworkEstimate& net, const SolverOptions& opts) {
  EDGEOPT_CHECK_ARG(!cuts.empty() && edge.node_ms.size() + 1 == cuts.size() && cloud.node_ms.size() + 1 == cuts.size(),
                    "split solver: " + std::to_string(cuts.size()) + " cuts but profiles of " +
                        std::to_string(edge.node_ms.size()) + " (edge) and " + std::to_string(cloud.node_ms.size()) +
                        " (cloud) nodes; a graph of n nodes has n + 1 cuts");
  EDGEOPT_CHECK_ARG(!opts.transports.empty(), "split solver: no transport allowed");
  EDGEOPT_CHECK_ARG(net.bandwidth_mbps > 0 && net.rtt_ms >= 0 && std::isfinite(net.bandwidth_mbps),
                    "split solver: bandwidth must be > 0 and rtt >= 0");
  EDGEOPT_CHECK_ARG(opts.min_offload_gain >= 0 && opts.min_offload_gain < 1,
                    "split solver: min_offload_gain must be in [0, 1), got " + std::to_string(opts.min_offload_gain));
  Plan plan;
  plan.network = net;
  plan.objective = opts.objective;
  auto cost = [&](const CutPrediction& p) { return opts.objective == Objective::kLatency ? p.total_ms : p.energy_mj; };
  double best = std::numeric_limits<double>::infinity();
  for (const Cut& c : cuts) {
    CutPrediction pick;
    bool first = true;
    for (Transport t : opts.transports) {
      CutPrediction p = predict_cut(c, t, edge, cloud, net, opts.energy);
      if (first || cost(p) < cost(pick)) pick = p;
      first = false;
    }
    plan.cuts.push_back(pick);
    // <= : on a tie the later cut (more on the edge, less sent) wins.
    if (pick.allowed && cost(pick) <= best) {
      best = cost(pick);
      plan.chosen = plan.cuts.size() - 1;
    }
  }
  // The last cut is all-edge (always allowed). Keep it unless the best offload is clearly better.
  const size_t all_edge = plan.cuts.size() - 1;
  if (plan.chosen != all_edge && cost(plan.cuts[plan.chosen]) > (1 - opts.min_offload_gain) * cost(plan.cuts[all_edge]))
    plan.chosen = all_edge;
  return plan;
}

AdaptivePlanner::AdaptivePlanner(std::vector<Cut> cuts, LayerProfile edge, LayerProfile cloud, SolverOptions opts,
                                 NetworkEstimate initial, double threshold)
    : cuts_(std::move(cuts)), edge_(std::move(edge)), cloud_(std::move(cloud)), opts_(std::move(opts)),
      threshold_(threshold) {
  plan_ = solve_split(cuts_, edge_, cloud_, initial, opts_);
}

bool AdaptivePlanner::update(const NetworkEstimate& net) {
  auto moved = [&](double now, double then) {
    return std::abs(now - then) > threshold_ * std::max(then, 1e-9);
  };
  if (!moved(net.bandwidth_mbps, plan_.network.bandwidth_mbps) &&
      !(moved(net.rtt_ms, plan_.network.rtt_ms) && std::abs(net.rtt_ms - plan_.network.rtt_ms) > 0.5))
    return false;
  plan_ = solve_split(cuts_, edge_, cloud_, net, opts_);
  ++replans_;
  return true;
}

}  // namespace edgeopt::split

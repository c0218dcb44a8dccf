// The split solver: predicts the end-to-end latency (or edge energy) of every cut and transport
// and picks the best one that privacy allows; AdaptivePlanner re-plans when the network changes.
//
//   Plan p = solve_split(cuts, edge, cloud, {.bandwidth_mbps = 10, .rtt_ms = 20}, opts);
//   const CutPrediction& best = p.cuts[p.chosen];
//
// Latency model per request (batch 1), for cut k with transport t:
//   total = edge_ms(k) + [k < n] * (rtt + (up_bytes(t) + down_bytes) * 8 / bandwidth + cloud_ms(k))
// where edge_ms(k) is the edge profile's prefix and cloud_ms(k) the cloud profile's suffix plus its
// per-request overhead (LayerProfile::request_ms). The
// all-edge cut has no network term. Energy model (millijoules, edge side only):
//   energy = edge_active_w * edge_ms + edge_idle_w * (rtt + cloud_ms) + radio_nj_per_bit * bits / 1e6
//            + radio_active_w * transfer_ms
#pragma once
#include <string>
#include <vector>

#include "split/cut_analysis.h"
#include "split/network.h"
#include "split/profile.h"

namespace edgeopt::split {

enum class Objective { kLatency, kEnergy };
const char* objective_name(Objective o);        // "latency", "energy"
Objective objective_from_name(const std::string& name);  // throws InvalidArgument

struct EnergyModel {
  double edge_active_w = 4.0;      // SoC power while computing (a Jetson-class board)
  double edge_idle_w = 1.5;        // while waiting for the cloud
  double radio_active_w = 1.0;     // extra while the link is busy
  double radio_nj_per_bit = 50.0;  // per-bit cost of the radio (Wi-Fi/LTE are ~10-500 nJ/bit)
};

struct SolverOptions {
  std::vector<Transport> transports{Transport::kF32, Transport::kF16, Transport::kInt8};
  Objective objective = Objective::kLatency;
  EnergyModel energy;
  // An offloading cut must beat all-edge by this fraction of all-edge's predicted cost to be
  // chosen. The prediction carries the profiles' and the network estimate's error, and a near-tie
  // offload only adds a dependency on the cloud (and sends data away) for no real gain; measured
  // at 1000 Mbit/s / 5 ms RTT, all-cloud predicted 0.1% better than all-edge ran 6.5% slower.
  double min_offload_gain = 0.05;
};

struct CutPrediction {
  size_t cut = 0;
  Transport transport = Transport::kF32;  // the cheapest allowed for this cut
  int64_t up_bytes = 0, down_bytes = 0;
  double edge_ms = 0, transfer_ms = 0, rtt_ms = 0, cloud_ms = 0, total_ms = 0, energy_mj = 0;
  bool allowed = true;
  std::string reason;
};

struct Plan {
  std::vector<CutPrediction> cuts;  // one per cut, in order
  size_t chosen = 0;                // index into cuts
  NetworkEstimate network;
  Objective objective = Objective::kLatency;
  const CutPrediction& best() const { return cuts[chosen]; }
};

// Predicts one cut with one transport.
CutPrediction predict_cut(const Cut& cut, Transport t, const LayerProfile& edge, const LayerProfile& cloud,
                          const NetworkEstimate& net, const EnergyModel& energy = {});

// Throws InvalidArgument when the profiles do not match the cuts (n + 1 cuts for n nodes), no
// transport is given or the network estimate is not positive. The all-edge cut is always allowed,
// so a plan always exists; ties go to the cut with more work on the edge, and an offloading cut
// wins only when it beats all-edge by opts.min_offload_gain.
Plan solve_split(const std::vector<Cut>& cuts, const LayerProfile& edge, const LayerProfile& cloud,
                 const NetworkEstimate& net, const SolverOptions& opts = {});

// Keeps a plan and re-solves when the bandwidth or RTT estimate moved by more than `threshold`
// (relative) since the last plan. Not thread-safe.
class AdaptivePlanner {
 public:
  AdaptivePlanner(std::vector<Cut> cuts, LayerProfile edge, LayerProfile cloud, SolverOptions opts,
                  NetworkEstimate initial, double threshold = 0.15);
  // Re-plans if needed; returns true when it re-planned (the chosen cut may still be the same).
  bool update(const NetworkEstimate& net);
  const Plan& plan() const { return plan_; }
  const std::vector<Cut>& cuts() const { return cuts_; }
  const LayerProfile& edge_profile() const { return edge_; }
  const LayerProfile& cloud_profile() const { return cloud_; }
  int64_t replans() const { return replans_; }

 private:
  std::vector<Cut> cuts_;
  LayerProfile edge_, cloud_;
  SolverOptions opts_;
  double threshold_;
  Plan plan_;
  int64_t replans_ = 0;
};

}  // namespace edgeopt::split

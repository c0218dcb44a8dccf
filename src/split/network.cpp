#include "split/network.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"

namespace edgeopt::split {

double transfer_ms(int64_t bytes, double mbps) { return static_cast<double>(bytes) * 8.0 / (mbps * 1e6) * 1e3; }

NetworkEstimator::NetworkEstimator(NetworkEstimate prior, double alpha) : est_(prior), alpha_(alpha) {
  EDGEOPT_CHECK_ARG(alpha > 0 && alpha <= 1, "EWMA alpha must be in (0, 1], got " + std::to_string(alpha));
  EDGEOPT_CHECK_ARG(prior.bandwidth_mbps > 0 && prior.rtt_ms >= 0,
                    "network prior needs bandwidth > 0 and rtt >= 0, got " + std::to_string(prior.bandwidth_mbps) +
                        " Mbit/s, " + std::to_string(prior.rtt_ms) + " ms");
}

void NetworkEstimator::add_rtt_sample(double rtt_ms) {
  if (!std::isfinite(rtt_ms) || rtt_ms < 0) return;
  est_.rtt_ms += alpha_ * (rtt_ms - est_.rtt_ms);
  ++rtt_n_;
}

void NetworkEstimator::add_bandwidth_sample(double mbps) {
  if (!std::isfinite(mbps) || mbps <= 0) return;
  est_.bandwidth_mbps += alpha_ * (mbps - est_.bandwidth_mbps);
  ++bw_n_;
}

void NetworkEstimator::observe_offload(int64_t bytes, double wire_ms) {
  if (!std::isfinite(wire_ms) || wire_ms <= 0 || bytes < 0) return;
  const double xfer = wire_ms - est_.rtt_ms;
  if (bytes >= kMinBandwidthSampleBytes && xfer >= 0.25 * wire_ms) {
    add_bandwidth_sample(static_cast<double>(bytes) * 8.0 / (xfer * 1e3));
  } else {
    add_rtt_sample(std::max(0.0, wire_ms - transfer_ms(bytes, est_.bandwidth_mbps)));
  }
}

}  // namespace edgeopt::split

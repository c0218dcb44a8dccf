// Bandwidth and round-trip-time estimates from real transfers, as exponentially weighted moving
// averages (EWMA) seeded with the user's prior.
//
//   NetworkEstimator est({.bandwidth_mbps = 10, .rtt_ms = 20}, /*alpha=*/0.3);
//   est.observe_offload(up + down bytes, /*wire_ms=*/measured round trip minus cloud compute);
//   est.add_rtt_sample(ping_ms);                 // e.g. GET /v2/health/ready
//   NetworkEstimate now = est.estimate();
//
// One offload gives one number, wire_ms = rtt + bits / bandwidth, with two unknowns. The estimator
// splits it with its current RTT: a payload of at least kMinBandwidthSampleBytes whose transfer
// part (wire_ms - rtt) is at least a quarter of wire_ms is a bandwidth sample (bits / transfer
// part); otherwise the payload was too small to tell the bandwidth and the sample updates the RTT
// (wire_ms - bits / bandwidth). Small payloads and health probes keep the RTT right, which keeps
// the bandwidth samples right. Not thread-safe.
#pragma once
#include <cstdint>

namespace edgeopt::split {

inline constexpr int64_t kMinBandwidthSampleBytes = 4096;

struct NetworkEstimate {
  double bandwidth_mbps = 10;  // megabits per second (1e6 bit/s)
  double rtt_ms = 10;
};

// Transfer time of `bytes` at `mbps`, in milliseconds.
double transfer_ms(int64_t bytes, double mbps);

class NetworkEstimator {
 public:
  // alpha: weight of a new sample (0 < alpha <= 1). Throws InvalidArgument for a bad alpha or a
  // non-positive prior.
  explicit NetworkEstimator(NetworkEstimate prior = {}, double alpha = 0.3);
  void add_rtt_sample(double rtt_ms);
  void add_bandwidth_sample(double mbps);
  // bytes: payload both ways; wire_ms: measured request time minus the cloud's compute time.
  // Non-finite or non-positive wire_ms is ignored.
  void observe_offload(int64_t bytes, double wire_ms);
  NetworkEstimate estimate() const { return est_; }
  int64_t rtt_samples() const { return rtt_n_; }
  int64_t bandwidth_samples() const { return bw_n_; }

 private:
  NetworkEstimate est_;
  double alpha_;
  int64_t rtt_n_ = 0, bw_n_ = 0;
};

}  // namespace edgeopt::split

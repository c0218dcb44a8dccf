// The node's live state as one JSON object, for GET /v2/monitor (what the dashboard polls) and for
// a controller: per model the version serving unnamed requests and, per loaded version, request
// counters, latency p50/p99 and throughput over the last `window_s` seconds, rolling ground-truth
// metrics, drift scores and energy per inference; plus the controller's own status when one is
// attached (Server::MonitorExtension).
//
//   {"time_s": 1764117000.2, "window_s": 10, "models": [{"name": "vision_cnn", "serving_version": 2,
//     "unknown_labels": 0, "versions": [{"version": 2, "requests": 812, "failed": 0, "rejected": 0,
//     "expired": 0, "queue": 0, "p50_ms": 1.9, "p99_ms": 4.1, "throughput_rps": 80.2,
//     "rolling": {"task": "classification", "n": 500, "labels_total": 500, "accuracy": 0.89,
//                 "precision": 0.89, "recall": 0.89, "f1": 0.89} | null,
//     "drift": {"alarm": false, "max_ks": 0.07, "max_psi": 0.03, "samples": 800} | null,
//     "energy": {"mj_per_inference": 0.41, "source": "estimate"} | null,
//     "split": {"cut": 3, "all_edge_cut": 9, "after_node": "pool0", "transport": "fp16", "placement": "split",
//               "reason": "plan", "cloud_url": "...", "answers": {"split": 800, "fallback": 12},
//               "fallbacks": {"circuit_open": 10, "unavailable": 2}, "cloud_errors": {...}, "decisions": {...},
//               "bytes_sent": 1.2e6, "bytes_received": 3.2e4, "bandwidth_mbps": 95, "rtt_ms": 0.8,
//               "window": {"answers", "edge_only", "split", "fallback", "fallback_fraction", "edge_slowdown"}} | null}]}],
//    "controller": {...} | null}
#pragma once
#include <nlohmann/json.hpp>

namespace edgeopt::serve {

class Server;

nlohmann::json monitor_snapshot(Server& server, double window_s = 10.0);

// The p-th percentile (0..100, nearest rank) of v; 0 for an empty v. Sorts v.
double percentile(std::vector<double>& v, double p);

}  // namespace edgeopt::serve

// Per-layer latency profiles of a prepared graph (split/cut_analysis.h) on the edge and in the cloud.
//
//   LayerProfile edge = profile_edge(g, sample, /*runs=*/20);       // measured here, per node
//   LayerProfile cloud = scale_profile(edge, 8.0);                   // "the cloud is 8x faster"
//   double ms = edge.prefix_ms(k);                                   // edge compute of cut k
//
// The edge profile comes from runtime::Session's per-node timings (SessionOptions::profile) with
// the runtime's optimizations on, as the edge half will run. Nodes the passes fused into their
// producer (a Relu after a Conv) report 0 and their time is in the producer. The per-node times
// are scaled so they sum to the measured whole-run time (the scheduling overhead between nodes is
// spread in proportion).
#pragma once
#include <string>
#include <vector>

#include "core/graph.h"

namespace edgeopt::split {

struct LayerProfile {
  std::vector<double> node_ms;  // per node of the prepared graph, in its order
  std::string source;           // how it was obtained, for reports
  // Cloud only: the server's fixed cost per request (HTTP, decoding, scheduling) that does not
  // scale with the layers it runs; added once to every offloaded request's cloud time.
  double request_ms = 0;
  double prefix_ms(size_t k) const;  // nodes [0, k)
  double suffix_ms(size_t k) const;  // nodes [k, n)
  double total_ms() const { return prefix_ms(node_ms.size()); }
};

// Median over `runs` timed runs (after 2 warm-up runs) of every node, at batch 1 on this machine.
// Throws what Session throws.
LayerProfile profile_edge(const Graph& g, const Tensor& sample, int runs = 20);

// The cloud as a speed factor of the edge: every node takes edge / speedup. Throws
// InvalidArgument for speedup <= 0.
LayerProfile scale_profile(const LayerProfile& edge, double speedup, const std::string& source = "",
                           double request_ms = 0);

}  // namespace edgeopt::split

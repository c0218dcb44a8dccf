// What every compression verb reports before and after: parameters, bytes, FLOPs, latency.
//
//   auto shapes = infer_value_shapes(g);        // every value's shape for one sample
//   ModelStats s = model_stats(g);              // params, dense and sparse bytes, FLOPs
//   double ms = median_latency_ms(g, 20);       // runtime::Session, batch 1
//
// FLOPs count one sample (dynamic dims as 1), 2 per multiply-accumulate, as `edgeopt inspect` does.
// effective_flops is what the runtime executes after its passes (use_sparse_weights moves pruned
// weights to CSR kernels that skip the zeros), so it drops with unstructured sparsity where the
// sparse kernel is used.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <utility>

#include <nlohmann/json.hpp>

#include "core/graph.h"

namespace edgeopt::compress {

// Runs the graph once on zeros (batch and other dynamic dims = 1) with the reference kernels and
// returns the shape of every value (inputs, initializers, node outputs). Throws what the kernels
// throw for an invalid graph, with the node named.
std::unordered_map<std::string, Shape> infer_value_shapes(const Graph& g);

// How many node inputs read value v (a weight read by one node only can be rewritten in place).
int value_use_count(const Graph& g, const std::string& v);

// FLOPs (2 x MACs) for one sample, from kernels::node_macs over the inferred shapes.
int64_t graph_flops(const Graph& g);

struct ModelStats {
  int64_t parameters = 0;       // float initializer entries
  int64_t nonzero_parameters = 0;
  int64_t dense_bytes = 0;      // f32 weights as stored in ONNX
  int64_t sparse_bytes = 0;     // with weights >= 50% zero stored as CSR (4-byte value + 4-byte index)
  int64_t flops = 0;            // dense graph
  int64_t effective_flops = 0;  // after runtime passes (sparse kernels count only non-zeros)
  double latency_ms = 0;        // median, batch 1 (0 when not measured)
  nlohmann::json to_json() const;
};

// latency_runs > 0 also measures median latency over that many runs (after 3 warm-ups).
ModelStats model_stats(const Graph& g, int latency_runs = 0);
double median_latency_ms(const Graph& g, int runs);
// Median batch-1 latency of two models measured in alternation (a, b, a, b, ...), so load changes
// on a shared machine hit both alike; returns {a_ms, b_ms}.
std::pair<double, double> paired_latency_ms(const Graph& a, const Graph& b, int runs);

}  // namespace edgeopt::compress

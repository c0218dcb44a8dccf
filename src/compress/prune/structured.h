// Structured pruning: remove whole Conv filters, Gemm/MatMul neurons and LSTM/GRU hidden units, so
// the graph physically shrinks (smaller weights, fewer FLOPs, a smaller valid ONNX model).
//
//   StructuredOptions o{.flops_ratio = 0.5, .criterion = "l1"};
//   StructuredReport r = prune_structured(g, o);   // g now has <= 50% of its FLOPs
//
// Dependency-aware: every output channel of a prunable producer (Conv with group 1, Gemm/MatMul
// with a constant weight, LSTM/GRU) is an item; the analysis follows each value's channel axis
// through ops that keep channels apart (BatchNormalization, activations, pools, Dropout, depthwise
// Conv, Flatten, Squeeze/Unsqueeze, Transpose, Concat along the channel axis) to the consumers that
// read it (the next Conv/Gemm/MatMul/LSTM input features). Elementwise ops (Add, Sub, Mul, ...)
// tie the channels of their operands together (a residual Add prunes the same channels on both
// branches); Concat lays its inputs' channels side by side. Channels that reach a graph output or
// an op the analysis does not understand (Reshape, Softmax over channels, ...) are locked and kept.
//
// Criterion per channel, normalized by the layer's mean so tied layers compare: "l1" or "l2" norm
// of the producer's weights for it (for LSTM/GRU: all gate rows of W and R), or "bn_scale" =
// |gamma| of the BatchNormalization right after the producer (L2 where there is none).
// Every prunable layer keeps the same fraction of its channels (at least min_channels); with
// flops_ratio in (0, 1) that fraction is the largest whose pruned graph has <= flops_ratio of the
// original FLOPs (bisection), otherwise keep_ratio is used as given. With channel_multiple > 1 each
// layer's kept count is rounded up to a multiple of it (capped at the layer's size): int8 kernels
// work on channel quads and 8-row tiles, so a 44-channel layer costs as much as a 48-channel one
// and 22 input channels as much as 24 (the FLOPs bisection then picks the ratio for the rounded
// counts, e.g. vision_cnn at 50%: 24/40/80 channels instead of 22/44/88).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/graph.h"

namespace edgeopt::compress {

struct StructuredOptions {
  double flops_ratio = 0.5;       // fraction of FLOPs kept; used when in (0, 1)
  double keep_ratio = 0.5;        // fraction of channels kept per layer when flops_ratio is not used
  std::string criterion = "l1";   // l1 | l2 | bn_scale
  int64_t min_channels = 1;
  int64_t channel_multiple = 1;   // kept channels per layer rounded up to a multiple of this
};

struct PrunedLayer {
  std::string node;        // the producer that names the group (the first when channels are tied)
  int64_t before = 0, after = 0;
};

struct StructuredReport {
  double keep_ratio = 1;
  int64_t flops_before = 0, flops_after = 0, params_before = 0, params_after = 0;
  std::vector<PrunedLayer> layers;
  int64_t locked_channels = 0;  // channels that could not be pruned (graph outputs, unknown ops)
  nlohmann::json to_json() const;
};

// Throws InvalidArgument for an unknown criterion or when nothing in the graph can be pruned.
StructuredReport prune_structured(Graph& g, const StructuredOptions& o);

}  // namespace edgeopt::compress

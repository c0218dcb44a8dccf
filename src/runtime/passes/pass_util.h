// Small graph queries shared by the passes (internal to runtime/passes).
#pragma once
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/graph.h"

namespace edgeopt::runtime::passes::detail {

// How many times each value is read: once per node input naming it, once per graph output.
std::unordered_map<std::string, int> use_counts(const Graph& g);
bool is_graph_output(const Graph& g, const std::string& v);
// The initializer named v, unless a graph input overrides it (an input with a default value can be
// fed at run time, so it is not a constant); nullptr otherwise.
const Tensor* constant_value(const Graph& g, const std::string& v);
// The declared or inferred type/shape of v (a graph input, else Graph::value_info), or nullptr.
const ValueInfo* value_info(const Graph& g, const std::string& v);
// value name -> index of the node producing it.
std::unordered_map<std::string, size_t> producers(const Graph& g);
// Renames every node input `from` to `to` (graph outputs are left alone).
void replace_uses(Graph& g, const std::string& from, const std::string& to);
// The inverse rewrites (split_*): every node `expand` accepts is replaced, in place, by the nodes it
// appends to `out`; `fresh(base)` returns base, with "_" appended until no node output, initializer
// or graph input has that name. Returns how many nodes were expanded.
using FreshName = std::function<std::string(std::string)>;
int64_t expand_nodes(Graph& g, const std::function<bool(Node& n, const FreshName& fresh, std::vector<Node>& out)>& expand);
// Erases the nodes whose flag is set, keeping the order of the others.
void erase_nodes(Graph& g, const std::vector<bool>& erase);
// A constant f32 [n] vector (rank 1) or nullptr.
const Tensor* constant_f32_vector(const Graph& g, const std::string& v, int64_t n);

// The clamp a Relu, or a Clip with constant bounds, applies (kind "Relu"/"Clip"); false for any
// other node (shared by fuse_conv_gemm_activation and fuse_qdq).
bool activation_bounds(const Graph& g, const Node& n, std::string* kind, float* lo, float* hi);

// MaxPool 2-D, kernel 2x2, stride 2, no padding or dilation, floor mode, values only (the pool
// fuse_qconv_maxpool and fuse_conv_maxpool fold into the conv before it).
bool is_plain_maxpool_2x2s2(const Node& n);
// Folds every plain MaxPool 2x2/2 into the node producing its input when the pool is that value's
// only reader (and it is no graph output) and `fuse(producer)` accepts and rewrites the producer;
// the producer then writes the pool's output and the pool is erased. Returns the pools folded.
int fold_maxpool_2x2s2_into_producer(Graph& g, const std::function<bool(Node&)>& fuse);

}  // namespace edgeopt::runtime::passes::detail

// runtime::Session: runs a Graph with the op kernels, freeing each intermediate tensor as soon as
// its last consumer ran, and (on request) timing every node.
//
//   runtime::Session s(std::move(graph));              // validates ops and order once
//   auto out = s.run({{"input", x}});                  // name -> Tensor
//   s.stats().peak_bytes;                              // peak of live activations
//   s.stats().planned_arena_bytes;                     // what a static arena plan would need
//
// With options.optimize (the default) the constructor first rewrites its private copy of the graph
// with runtime/passes (identity removal, constant folding, BatchNorm folding, Conv/Gemm+activation
// fusion, dead code); graph() is then the optimized graph, pass_reports() says what changed.
//
// Construction throws Unimplemented listing *all* unsupported nodes at once, and InvalidArgument
// for dangling values or cycles. run() throws InvalidArgument for a missing, extra, mis-typed or
// mis-shaped input, naming it; kernel errors carry the node name and op type.
// Ops with a prepare step (OpDef::prepare) cache work on constant inputs once, here: e.g. Conv and
// Gemm weights packed for the GEMM microkernel. The initializers must not be modified in place
// while the Session lives (a fast kernel falls back to unpacked weights only when the tensor
// storage itself changed).
// A Session is not thread-safe: use one per thread (they can share nothing mutable).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "kernels/op_def.h"
#include "runtime/memory_plan.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime {

struct SessionOptions {
  bool profile = false;         // time every node
  bool reference_only = false;  // run the reference kernels only (conformance), not the fast ones
  bool optimize = true;         // run the graph passes (runtime/passes/passes.h) at construction
  // bf16 compute (passes::use_bf16_compute): kAuto follows the model's edgeopt.compute metadata
  // on CPUs with AVX512-BF16; kOn / kOff force it.
  passes::Bf16Compute bf16_compute = passes::Bf16Compute::kAuto;
};

struct NodeTiming {
  std::string node;
  std::string op_type;
  double total_ms = 0;
  int64_t calls = 0;
};

struct RunStats {
  size_t peak_bytes = 0;       // peak bytes of live activations (inputs + intermediates) in the last run
  size_t initializer_bytes = 0;
  double last_run_ms = 0;
  // Arena size of the static greedy plan (memory_plan.h) over the last run's activation sizes and
  // the tensor lifetimes (inputs, intermediates, outputs); compare with peak_bytes (measured).
  size_t planned_arena_bytes = 0;
};

// Throws Unimplemented listing every node whose op_type has no kernel (all at once).
void check_ops_supported(const Graph& g);

class Session {
 public:
  explicit Session(Graph graph, SessionOptions opts = {});
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds);

  const Graph& graph() const { return graph_; }
  const RunStats& stats() const { return stats_; }
  // Per-node timings accumulated over all runs (empty unless options.profile).
  const std::vector<NodeTiming>& timings() const { return timings_; }
  // What each optimization pass changed (empty unless options.optimize) and the node count before.
  const std::vector<passes::PassReport>& pass_reports() const { return pass_reports_; }
  size_t nodes_before_optimize() const { return nodes_before_optimize_; }
  // The plan behind stats().planned_arena_bytes, one buffer per planned_values() entry.
  const MemoryPlan& memory_plan() const { return plan_; }
  const std::vector<std::string>& planned_values() const { return plan_names_; }

 private:
  void validate_feeds(const std::map<std::string, Tensor>& feeds) const;
  Graph graph_;
  SessionOptions opts_;
  std::vector<size_t> order_;
  std::vector<const kernels::OpDef*> ops_;           // per node index
  std::map<std::string, size_t> last_use_;           // value -> position in order_ of last consumer
  // The run loop works on integer slots (one per activation = one memory-plan buffer), resolved
  // once here, so a step costs no string lookups: small models are dominated by per-node overhead.
  struct Step {
    const Node* node = nullptr;
    kernels::ForwardFn forward = nullptr;
    std::vector<int64_t> in_slots;               // per input: slot, or -1 (constant or omitted)
    std::vector<const Tensor*> in_consts;        // per input: the initializer, or null
    std::vector<int64_t> out_slots;              // per output: slot, or -1 (omitted)
    std::vector<int64_t> free_after;             // slots whose last reader is this step
    std::shared_ptr<const kernels::OpState> state;  // from OpDef::prepare, or null
  };
  std::vector<Step> steps_;                          // per position in order_
  std::vector<int64_t> input_slots_;                 // per graph input
  RunStats stats_;
  std::vector<NodeTiming> timings_;                  // per position in order_
  std::vector<passes::PassReport> pass_reports_;
  size_t nodes_before_optimize_ = 0;
  // Memory plan: one buffer per activation (feeds, then node outputs in order).
  std::map<std::string, size_t> plan_index_;         // value -> buffer index
  std::vector<std::string> plan_names_;
  std::vector<BufferLifetime> plan_buffers_;         // lifetimes fixed at construction, sizes per run
  std::vector<std::vector<size_t>> plan_outputs_;    // per position in order_: buffer per output (or npos)
  std::vector<size_t> plan_sizes_;                   // bytes per buffer in the current run
  MemoryPlan plan_;
};

}  // namespace edgeopt::runtime

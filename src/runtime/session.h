// runtime::Session: runs a Graph with the op kernels, freeing each intermediate tensor as soon as
// its last consumer ran, and (on request) timing every node.
//
//   runtime::Session s(std::move(graph));              // validates ops and order once
//   auto out = s.run({{"input", x}});                  // name -> Tensor
//   s.stats().peak_bytes;                              // peak of live activations
//
// Construction throws Unimplemented listing *all* unsupported nodes at once, and InvalidArgument
// for dangling values or cycles. run() throws InvalidArgument for a missing, extra, mis-typed or
// mis-shaped input, naming it; kernel errors carry the node name and op type.
// A Session is not thread-safe: use one per thread (they can share nothing mutable).
#pragma once
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"
#include "kernels/op_def.h"

namespace edgeopt::runtime {

struct SessionOptions {
  bool profile = false;         // time every node
  bool reference_only = false;  // run the reference kernels only (conformance), not the fast ones
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

 private:
  void validate_feeds(const std::map<std::string, Tensor>& feeds) const;
  Graph graph_;
  SessionOptions opts_;
  std::vector<size_t> order_;
  std::vector<const kernels::OpDef*> ops_;           // per node index
  std::map<std::string, size_t> last_use_;           // value -> position in order_ of last consumer
  RunStats stats_;
  std::vector<NodeTiming> timings_;                  // per position in order_
};

}  // namespace edgeopt::runtime

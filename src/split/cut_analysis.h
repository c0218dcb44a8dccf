// Cut analysis for edge-cloud co-inference: where a model can be split between the edge device and
// a cloud server, what has to travel over the network at each split, and which splits privacy
// forbids.
//
//   Graph g = prepare_for_partition(onnx::load_model("m.onnx"));   // ONNX-safe passes, topo order
//   ValueShapes s = measure_value_shapes(g, sample);                 // one real run at batch 1
//   std::vector<Cut> cuts = enumerate_cuts(g, s, {.private_layers = {"conv2"}});
//   cuts[k].bytes(Transport::kInt8);                                 // bytes sent at cut k
//
// A cut is a prefix of the node order: cut k runs nodes [0, k) on the edge and [k, n) in the cloud,
// so cut 0 is all-cloud (the raw inputs are sent) and cut n is all-edge (nothing is sent). The
// crossing tensors of cut k are the non-constant values available on the edge (graph inputs and
// outputs of edge nodes) that a cloud node reads; the cloud sends back the graph outputs it
// computes (always f32). Graph outputs computed on the edge stay there.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/graph.h"

namespace edgeopt::split {

// How crossing tensors travel: f32 as they are, f16 (edge half ends with Cast, cloud half starts
// with Cast back to f32) or 8-bit (edge half ends with QuantizeLinear to u8 with a scale and zero
// point calibrated on real data, cloud half starts with DequantizeLinear).
enum class Transport { kF32, kF16, kInt8 };
const char* transport_name(Transport t);  // "fp32", "fp16", "int8"
// Accepts the names above (and "f32", "f16", "u8"); throws InvalidArgument listing them.
Transport transport_from_name(const std::string& name);
int64_t transport_element_bytes(Transport t);

// Privacy rules. Raw graph inputs never cross unless allow_raw_inputs. For every private layer
// (node name), the layer runs on the edge and neither its outputs nor any value it was computed
// from (its ancestors, graph inputs included) may cross.
struct PrivacyRules {
  bool allow_raw_inputs = false;
  std::vector<std::string> private_layers;
};

// Dtype and shape of every non-constant value for one sample (batch 1), plus whether its first
// dim follows the model's batch dim (then the exported halves keep that dim symbolic).
struct ValueShape {
  DType dtype = DType::kF32;
  Shape shape;
  bool batched = false;
};
using ValueShapes = std::map<std::string, ValueShape>;

struct CrossingTensor {
  std::string name;
  DType dtype = DType::kF32;
  Shape shape;              // per request at batch 1
  int64_t numel = 0;
  bool graph_input = false;
  bool batched = false;
};

struct Cut {
  size_t index = 0;                          // nodes [0, index) on the edge
  std::string after_node;                    // the last edge node ("" for all-cloud)
  std::vector<CrossingTensor> crossing;      // edge -> cloud
  std::vector<std::string> cloud_outputs;    // graph outputs computed in the cloud (sent back, f32)
  int64_t return_numel = 0;                  // elements of cloud_outputs at batch 1
  bool allowed = true;
  std::string reason;                        // why privacy forbids it ("" when allowed)

  bool all_edge() const { return crossing.empty() && cloud_outputs.empty(); }
  // Bytes edge -> cloud at batch 1 with transport t (non-float crossing tensors travel as they are).
  int64_t upload_bytes(Transport t) const;
  int64_t download_bytes() const { return return_numel * 4; }
};

// Returns g rewritten with the runtime passes whose result is still plain ONNX (identity removal,
// constant folding, reshape/transpose simplification, BatchNorm folding, dead-node removal; not
// the fusions, whose nodes carry edgeopt-internal attributes) and with g.nodes in topological
// order, so that cut k is simply nodes [0, k). Throws what Graph::topo_order throws.
Graph prepare_for_partition(Graph g);

// Runs g (already prepared) once on `sample` (batch 1, fed to the first graph input; other inputs
// must not exist) and once at batch 2 to find which values carry the batch dim. Throws
// InvalidArgument when g has more than one graph input or the sample does not fit it.
ValueShapes measure_value_shapes(const Graph& g, const Tensor& sample);

// Every cut 0..n of a prepared graph, with privacy applied. Throws NotFound naming a private
// layer that is not a node of g (listing a few names), InvalidArgument for a value missing in
// shapes.
std::vector<Cut> enumerate_cuts(const Graph& g, const ValueShapes& shapes, const PrivacyRules& privacy = {});

}  // namespace edgeopt::split

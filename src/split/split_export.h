// Export of one cut as two ordinary ONNX graphs: the edge half (nodes [0, k) plus the conversion of
// every crossing tensor to its wire format) and the cloud half (the conversion back to f32 plus
// nodes [k, n)), so any Open Inference Protocol server (Triton, KServe, edgeopt serve) can run
// the cloud half unchanged.
//
//   TransportParams q = calibrate_transport(g, calib_x);            // int8 scales from real data
//   SplitHalves h = split_model(g, cuts[k], Transport::kInt8, q);
//   onnx::save_model(h.edge, "edge.onnx"); onnx::save_model(h.cloud, "cloud.onnx");
//   SplitRunner r(h);  auto y = r.run({{"input", x}});             // edge then cloud, in-process
//
// Wire formats (crossing tensor "t", its wire value "t__wire"):
//   fp32: edge Identity(t) -> t__wire (f32);            cloud Identity(t__wire) -> t
//   fp16: edge Cast(t, to=FLOAT16) -> t__wire (f16);    cloud Cast(t__wire, to=FLOAT) -> t
//   int8: edge QuantizeLinear(t, s, z) -> t__wire (u8); cloud DequantizeLinear(t__wire, s, z) -> t
// with s (f32 scalar) and z (u8 scalar) initializers in both halves: asymmetric 8-bit, the range
// calibrated (min/max) on real samples and widened to contain 0. Non-f32 crossing tensors travel
// as they are (Identity). The wire inputs/outputs keep the batch dim symbolic ("N") when the
// model's is.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"
#include "split/cut_analysis.h"

namespace edgeopt::runtime {
class Session;
}

namespace edgeopt::split {

struct WireQuant {
  float scale = 1.f;
  int32_t zero_point = 0;  // u8 code of 0.0
};

// int8 wire parameters per value name (every non-constant f32 value of the graph).
struct TransportParams {
  std::map<std::string, WireQuant> int8;
};

// Calibrates every non-constant f32 value of g on x [N, ...] (real samples, fed to the only graph
// input) with min/max ranges. Throws InvalidArgument when x is empty or does not fit the input.
TransportParams calibrate_transport(const Graph& g, const Tensor& x);

struct WireTensor {
  std::string value;       // the crossing tensor in the full graph
  std::string wire_name;   // its name on the wire (edge output = cloud input)
  DType wire_dtype = DType::kF32;
  Shape shape;             // at batch 1
  bool batched = false;    // dim 0 follows the batch
  WireQuant quant;         // int8 only
};

struct SplitHalves {
  size_t cut = 0;
  Transport transport = Transport::kF32;
  Graph edge;                       // empty nodes and outputs only when all-cloud with nothing to do
  Graph cloud;                      // no nodes when the cut is all-edge
  std::vector<WireTensor> wire;     // edge -> cloud
  std::vector<std::string> edge_outputs;   // graph outputs the edge computes itself
  std::vector<std::string> cloud_outputs;  // graph outputs the cloud sends back
  bool all_edge() const { return wire.empty() && cloud_outputs.empty(); }
};

// Throws InvalidArgument when t is int8 and q lacks a crossing f32 tensor (naming it), or when the
// cut does not belong to g.
SplitHalves split_model(const Graph& g, const Cut& cut, Transport t, const TransportParams& q = {});

// Runs the two halves in-process (edge Session, then cloud Session on the wire tensors) and returns
// every graph output: what an offloaded request computes, minus the network. Not thread-safe.
class SplitRunner {
 public:
  explicit SplitRunner(const SplitHalves& h);
  ~SplitRunner();
  // The edge half only: graph outputs computed on the edge plus the wire tensors (by wire name).
  std::map<std::string, Tensor> run_edge(const std::map<std::string, Tensor>& feeds);
  // The cloud half on wire tensors (by wire name): the cloud outputs.
  std::map<std::string, Tensor> run_cloud(const std::map<std::string, Tensor>& wire);
  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds);
  const SplitHalves& halves() const { return h_; }

 private:
  SplitHalves h_;
  std::unique_ptr<runtime::Session> edge_, cloud_;
};

}  // namespace edgeopt::split

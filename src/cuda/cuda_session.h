// cuda::CudaSession: runs the runtime's optimized graph on an NVIDIA GPU (docs/cuda.md).
//
//   cuda::CudaSession s(graph, {.precision = cuda::Precision::kF16, .batch = 1});
//   auto out = s.run({{"input", x}});            // host f32 in, host f32 out
//   auto outs = s.run_many(requests);            // uploads/downloads overlap compute
//
// Construction does all the work once: the CPU runtime's graph passes (BatchNorm folding, Conv/Gemm
// + activation/residual fusion, QDQ -> QLinear* fusion), static shapes for `batch` (dynamic input
// dims: the leading one = batch, others 1), one device arena planned from tensor lifetimes with the
// runtime's greedy planner, weights uploaded (converted to f16 in Precision::kF16), cuDNN algorithms
// and cuBLASLt heuristics chosen, one eager warm-up run, then the run captured as a CUDA graph per
// staging slot (replayed by every run; eager launches when capture is refused, see stats()).
//
// Ops: Conv (2-D and 1-D, groups/depthwise; cuDNN, fused bias+ReLU+residual via
// cudnnConvolutionBiasActivationForward in f32, own epilogue otherwise), Gemm/MatMul (cuBLASLt,
// bias/ReLU epilogues), QLinearMatMul (cuBLASLt s8 x s8 -> s32 + the CPU's quant::requantize),
// QuantizeLinear/DequantizeLinear (per tensor), MaxPool/AveragePool (1-D/2-D),
// GlobalAveragePool/GlobalMaxPool, Add/Sub/Mul/Div/Max/Min (broadcast), Relu, Sigmoid, Tanh,
// HardSwish, HardSigmoid, LeakyRelu, Clip, Exp, Neg, Abs, Sqrt, Softmax/LogSoftmax; views:
// Flatten, Reshape, Squeeze, Unsqueeze, Identity, Dropout. Nodes whose inputs are constants or
// shapes (Shape -> Gather -> Concat -> Reshape) are computed once on the host. Anything else:
// the constructor throws Unimplemented listing every such node and its op.
//
// Errors: no CUDA device -> FailedPrecondition "no CUDA device"; a failing CUDA/cuDNN/cuBLAS call
// -> Internal naming the node, the call and the library's message. run() throws InvalidArgument for
// missing/extra/mis-shaped feeds (shapes are fixed at construction: one session per batch size).
// Not thread-safe: one session per thread.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/graph.h"

namespace edgeopt::cuda {

// kF32: f32 storage and FMA math (results within 1e-4 of the CPU). kTF32: f32 storage, TF32 tensor
// cores in Conv/Gemm (10-bit mantissa products, f32 accumulate: what ONNX Runtime's CUDA EP does
// for f32 by default, use_tf32=1). kF16: f16 storage, f32 accumulation.
enum class Precision { kF32, kTF32, kF16 };
const char* precision_name(Precision p);  // "fp32", "tf32", "fp16"
Precision precision_from_name(const std::string& name);  // fp32|f32|tf32|fp16|f16; throws InvalidArgument

// How a Conv's cuDNN algorithm is chosen: kMeasure times every algorithm cuDNN offers once at
// construction (cudnnFindConvolutionForwardAlgorithm, as ORT's EXHAUSTIVE search) and keeps the
// fastest; kHeuristic takes cuDNN's first heuristic choice (faster start-up, slower runs).
enum class ConvAlgoSearch { kMeasure, kHeuristic };

struct CudaSessionOptions {
  Precision precision = Precision::kF32;  // float activations/weights on the device (f16: f32 accumulation)
  int64_t batch = 1;                      // the leading dim of inputs whose leading dim is dynamic
  bool cuda_graphs = true;                // capture the run once and replay it
  bool optimize = true;                   // run the CPU runtime's graph passes first
  int device = 0;
  size_t max_workspace_bytes = size_t{256} << 20;  // per cuDNN/cuBLASLt call
  ConvAlgoSearch conv_algo_search = ConvAlgoSearch::kMeasure;
  bool own_depthwise = true;  // depthwise 3x3 s1/s2 on the own fused kernel instead of cuDNN
};

struct CudaSessionStats {
  std::string device_name;
  size_t arena_bytes = 0;       // planned activation arena
  size_t live_peak_bytes = 0;   // lower bound of any plan (largest live set)
  size_t weight_bytes = 0;      // constants uploaded at construction
  size_t workspace_bytes = 0;   // shared cuDNN/cuBLASLt workspace
  size_t staging_bytes = 0;     // device input/output staging (two slots)
  bool cuda_graphs = false;     // runs replay a captured CUDA graph
  std::string cuda_graphs_note; // why not, when requested but refused
  int64_t device_nodes = 0;     // nodes that launch work
  int64_t view_nodes = 0;       // Flatten/Reshape/...: no work
  int64_t host_folded_nodes = 0;
  std::vector<std::string> node_kernels;  // per device node: "node 'conv1' (Conv): cudnn algo 1 + fused bias/relu"
};

// Number of usable CUDA devices; 0 when there is no driver or no GPU (never throws).
int cuda_device_count();
std::string cuda_device_name(int device);

class CudaSession {
 public:
  explicit CudaSession(const Graph& graph, CudaSessionOptions opts = {});
  ~CudaSession();
  CudaSession(const CudaSession&) = delete;
  CudaSession& operator=(const CudaSession&) = delete;

  std::map<std::string, Tensor> run(const std::map<std::string, Tensor>& feeds);
  // Runs requests in order, double-buffered: request r+1's upload and request r-1's download run on
  // their own streams while request r computes. Results in request order.
  std::vector<std::map<std::string, Tensor>> run_many(const std::vector<std::map<std::string, Tensor>>& requests);

  const Graph& graph() const;  // the optimized graph it runs
  const CudaSessionStats& stats() const;
  // The shapes every feed must have.
  const std::vector<ValueInfo>& input_infos() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgeopt::cuda

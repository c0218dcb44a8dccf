// Graph optimization passes run by runtime::Session at load (SessionOptions::optimize), on the
// session's private copy of the graph: the caller's Graph, and so the ONNX exporter, never sees
// their output (fused nodes carry edgeopt-internal attributes that are not ONNX).
//
//   Graph g = onnx::load_model("m.onnx");
//   std::vector<PassReport> reports = optimize_graph(g);   // all passes, in order
//   PassReport r = fold_batchnorm(g);                       // or one at a time
//
// Each pass rewrites g in place (graph in, graph out), keeps every graph input and output name and
// the model's results (within f32 rounding: folding BatchNormalization into weights reassociates),
// and never mutates a Tensor it did not create: initializers share storage with the caller's graph,
// so rewritten weights are new tensors under fresh names. A pass leaves alone any node it cannot
// prove safe to rewrite (unknown shapes, shared values, training-mode nodes); it does not throw on
// a graph the Session would accept.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/graph.h"

namespace edgeopt::runtime::passes {

struct PassReport {
  std::string name;           // the pass ("fold_constants")
  int64_t nodes_changed = 0;  // nodes removed, folded or fused
};

// Identity, and Dropout in inference (ratio ignored, mask output unused, training_mode absent or a
// constant false), are removed by wiring their consumers to their input.
PassReport remove_identity_ops(Graph& g);

// Nodes whose inputs are all constants (initializers that no graph input overrides; Constant nodes
// have none) run once through the reference kernel; their outputs become initializers. Skips
// nodes whose outputs would exceed max_bytes in total (folding would bloat memory), and nodes
// the kernel rejects (the error then surfaces at run time, with the session's context).
PassReport fold_constants(Graph& g, size_t max_bytes = size_t{64} << 20);

// BatchNormalization (inference) after a Conv or Gemm whose output only it reads, with constant
// weights and parameters: W'[m] = W[m] * s[m], b'[m] = (b[m] - mean[m]) * s[m] + B[m],
// s = scale / sqrt(var + eps). For Gemm (output [M, N], channels = columns) the columns of op(B)
// are scaled (rows of B when transB) and C becomes a [N] bias (C absent, scalar, [N] or [1, N]).
PassReport fold_batchnorm(Graph& g);

// Conv or Gemm followed by Relu, or by Clip with constant bounds (ReLU6 = Clip(0, 6)), whose output
// only that activation reads, becomes one node with attribute activation = "Relu" or "Clip"
// (activation_min/activation_max); the fast kernels apply it in the GEMM epilogue.
PassReport fuse_conv_gemm_activation(Graph& g);
// Add(Conv(...), R) with R of the Conv output's exact shape -> Conv with R as an internal 4th input
// (attribute residual=1); run before fuse_conv_gemm_activation so a following Relu fuses too.
PassReport fuse_conv_residual_add(Graph& g);

// Collapses Reshape->Reshape and Transpose->Transpose chains, and drops identity Transposes and
// Reshapes to the input's own static shape (layout-only copies exporters leave behind).
PassReport simplify_reshapes_transposes(Graph& g);

// QDQ patterns (DequantizeLinear inputs, one QuantizeLinear after the op and an optional Relu/Clip)
// become integer ops: Conv -> QLinearConv, MatMul/Gemm with constant 2-D weights -> QLinearMatMul,
// Add -> QLinearAdd, GlobalAveragePool -> QLinearGlobalAveragePool, and
// MaxPool/Flatten/Reshape/Transpose/Squeeze/Unsqueeze/Concat whose inputs and output share one
// scale and zero point run on the codes. Results equal the QDQ graph within one quantization step
// per fused op (exactly for QLinearAdd and the data-movement ops). Runs before fold_constants,
// which would otherwise turn DequantizeLinear(weights) into f32 weights.
PassReport fuse_qdq(Graph& g);
// LSTM or GRU whose W and R are both DequantizeLinear(constant i8 codes, f32 scale per tensor or per
// gate row on axis 1, zero point absent or 0) becomes LSTMDynamicInt8 / GRUDynamicInt8
// (kernels/ops/lstm/lstm_int8.h, kernels/ops/gru/gru_int8.h) on the codes, with the scales as two
// extra inputs: the gate products run in int8 on activations quantized per call. Results differ from
// the QDQ graph by the activations' rounding (not bit-equal). Runs before fold_constants, which
// would otherwise dequantize the weights.
PassReport fuse_dq_recurrent(Graph& g);
// The inverse, for backends without those kernels (the CUDA session): DequantizeLinear of each of W
// and R again, feeding a plain LSTM / GRU.
PassReport split_dq_recurrent(Graph& g);
// The inverse of the QLinearGlobalAveragePool fusion, for backends without that kernel (the CUDA
// session): DequantizeLinear -> GlobalAveragePool -> QuantizeLinear again.
PassReport split_qlinear_global_average_pool(Graph& g);

// QLinearConv (2-D) -> MaxPool 2x2/2 (unpadded, floor, values only) whose input only it reads becomes
// one QLinearConv with maxpool = 2: pooling the s32 accumulators before the monotonic
// requantization gives exactly the same codes.
PassReport fuse_qconv_maxpool(Graph& g);

// Removes nodes none of whose outputs reaches a graph output, and initializers nothing reads.
PassReport remove_dead_nodes(Graph& g);

// Conv (group 1) and Gemm (transA 0, alpha 1, C absent or a per-column bias) whose constant weight
// has at least min_sparsity_conv / min_sparsity_gemm exact zeros (and min_weights entries) become
// SparseConv/SparseGemm (kernels/ops/sparse: CSR weights). The defaults are the crossovers
// sparse_bench measured against the dense fast kernels on one thread (docs/compression.md): below
// them the dense kernel is as fast or faster and nothing changes.
struct SparseWeightOptions {
  double min_sparsity_conv = 0.8;
  double min_sparsity_gemm = 0.9;
  int64_t min_weights = 4096;
};
PassReport use_sparse_weights(Graph& g, const SparseWeightOptions& o = {});

// Conv (2-D, group 1, stride 1, dilation 1, constant f32 weights, no fused residual) -> MaxPool
// 2x2/2 (unpadded, floor, values only) whose input only it reads becomes one ConvMaxPool
// (kernels/ops/conv/conv_maxpool.cpp), which pools the conv outputs in registers. Same results as
// the pair: max commutes with the monotonic bias add and clamp.
PassReport fuse_conv_maxpool(Graph& g);
// The inverse, for backends without a ConvMaxPool kernel (the CUDA session runs the CPU passes
// first): each ConvMaxPool becomes its Conv (output "<y>/conv") and a MaxPool 2x2/2 writing y.
PassReport split_conv_maxpool(Graph& g);

// Conv (group 1, C * prod(kernel) >= 33), Gemm (transA 0, alpha 1, C absent or a scalar / per-column bias) and MatMul whose
// constant weight is bf16-exact (every f32 value has zero low 16 bits, as a `--dtype bf16` model's
// folded Cast gives) become ConvBf16 / GemmBf16: bf16 products, f32 sums (kernels/ops/conv_bf16,
// kernels/ops/gemm_bf16). Keeps fused activations and residuals. Rewrites unconditionally; the
// pipeline runs it only when bf16_compute_enabled.
PassReport use_bf16_compute(Graph& g);
// kAuto: the model asks for it (metadata edgeopt.compute = bf16, which store_weights_lowp(kBF16)
// writes) and the CPU has AVX512-BF16; kOn / kOff force it (tests, benchmarks, other backends).
enum class Bf16Compute { kAuto, kOn, kOff };
bool bf16_compute_enabled(const Graph& g, Bf16Compute mode);

struct PipelineOptions {
  Bf16Compute bf16_compute = Bf16Compute::kAuto;
};

// The pipeline, in order: remove_identity_ops, fuse_qdq, fuse_dq_recurrent (+ remove_dead_nodes when either fused),
// fuse_qconv_maxpool, fold_constants, simplify_reshapes_transposes, fold_batchnorm, fuse_conv_residual_add,
// fuse_conv_gemm_activation, remove_dead_nodes, use_sparse_weights, fuse_conv_maxpool, use_bf16_compute
// (when enabled).
std::vector<PassReport> optimize_graph(Graph& g, const PipelineOptions& o = {});

}  // namespace edgeopt::runtime::passes

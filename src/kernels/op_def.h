// OpDef: the contract every op fills, in one folder per op (src/kernels/ops/<op>/), listed once in
// all_ops.cpp's kAllOps. The reference forward is plain C++ and is the oracle for every fast kernel;
// the backward computes input gradients from what the forward kept.
//
//   const OpDef* op = find_op("Relu");
//   std::vector<Tensor> out(node.outputs.size());
//   ForwardCtx ctx{node, inputs, out};
//   op->forward(ctx);
//
// Conventions:
// - Omitted optional inputs are undefined Tensors (!t.defined()); ops accept both the attribute and
//   the input form of arguments that moved between opsets (e.g. Clip min/max, Slice starts, Split).
// - forward allocates its outputs (ctx.out[i] = Tensor(...)) for every output name that is
//   non-empty; it throws edgeopt::Error(kInvalidArgument/kUnimplemented) with the rule and the
//   values on bad input; the session adds the node name.
// - In training mode forward may append tensors its backward needs to ctx.saved (e.g. a Dropout
//   mask, BatchNorm batch statistics).
// - backward fills ctx.grad_in[i] for each differentiable float input i (same shape as the input);
//   entries it leaves undefined mean "no gradient" (integer inputs, shapes, indices).
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "core/graph.h"
#include "core/tensor.h"

namespace edgeopt {
class ThreadPool;
}

namespace edgeopt::kernels {

// What an op's prepare computed once for one node, e.g. its constant weights packed for the
// dispatched GEMM (ncnn's create_pipeline, XNNPACK's create/setup split). Immutable afterwards,
// so one state may serve concurrent runs.
struct OpState {
  virtual ~OpState() = default;
};

struct PrepareCtx {
  const Node& node;
  std::span<const Tensor> in;  // constant inputs (initializers) defined; per-run inputs undefined
  int64_t opset = 17;
};

struct ForwardCtx {
  const Node& node;
  std::span<const Tensor> in;
  std::vector<Tensor>& out;
  bool training = false;
  std::vector<Tensor>* saved = nullptr;  // non-null only when training
  uint64_t seed = 0;                     // per-node, per-step seed for stochastic ops (Dropout)
  int64_t opset = 17;                    // the model's ai.onnx opset (Softmax axis rules, etc.)
  // From OpDef::prepare, or null. A fast forward uses it only when it was built from the very
  // tensors in `in` (same storage and shape) and otherwise computes from scratch.
  const OpState* state = nullptr;
};

struct BackwardCtx {
  const Node& node;
  std::span<const Tensor> in;
  std::span<const Tensor> out;
  std::span<const Tensor> saved;
  std::span<const Tensor> grad_out;  // undefined where no gradient reaches that output
  std::vector<Tensor>& grad_in;      // sized to in.size(), all undefined on entry
};

using ForwardFn = void (*)(ForwardCtx&);
using BackwardFn = void (*)(BackwardCtx&);
// Multiply-accumulates (or elementwise ops) the node costs for the given shapes; for FLOPs, x2.
using MacsFn = int64_t (*)(const Node& node, std::span<const Shape> in, std::span<const Shape> out);
// Returns null when there is nothing worth caching (e.g. the weights are not constant). Throws
// like forward on inputs it can already see are invalid.
using PrepareFn = std::shared_ptr<const OpState> (*)(const PrepareCtx&);

struct OpDef {
  std::string_view name;     // ONNX op_type
  int min_opset = 1;         // ai.onnx opset range whose semantics forward implements
  int max_opset = 18;
  ForwardFn forward = nullptr;   // reference kernel (the oracle)
  BackwardFn backward = nullptr; // null: not differentiable (may route through fast kernels)
  MacsFn macs = nullptr;         // null: one op per output element
  // Optional fast forward (same contract, same outputs within f32 tolerance, same errors); the
  // session and training prefer it unless asked for the reference only.
  ForwardFn forward_fast = nullptr;
  // When `backward` uses fast kernels: the plain reference backward it is tested against.
  BackwardFn backward_ref = nullptr;
  // Optional, for forward_fast only: run once per node when a Session is built (the reference
  // forward never sees a state, so it stays the plain oracle).
  PrepareFn prepare = nullptr;
};

// The forward to run: forward_fast when present and not reference_only, else the reference.
inline ForwardFn select_forward(const OpDef& op, bool reference_only = false) {
  return !reference_only && op.forward_fast ? op.forward_fast : op.forward;
}

std::span<const OpDef* const> all_ops();
// nullptr when the op is unknown.
const OpDef* find_op(std::string_view op_type);
// MACs of a node through its OpDef (0 for unknown ops or unknown shapes).
int64_t node_macs(const Node& node, std::span<const Shape> in, std::span<const Shape> out);

}  // namespace edgeopt::kernels

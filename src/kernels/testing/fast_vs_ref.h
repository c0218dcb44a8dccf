// Test helper for fast kernels: runs an op's reference and fast forward on the same inputs and
// compares every output, then its reference and fast backward on the same random dY.
//
//   Node n = make_node("Relu", 1, 1);
//   expect_fast_matches_ref(n, {random_f32({5, 7, 9, 11}, 3)}, {.training = true}, "x=[5,7,9,11]");
//
// Each backward gets what its own forward saved (the pairing training uses); `cross_saved` also
// runs the fast backward on what the reference forward saved (a fast backward must not depend on
// a fast forward). `all_grads` draws a random gradient for every f32 output (e.g. BatchNorm's
// running statistics) instead of zeros for outputs after the first.
#pragma once
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {

struct FastVsRefOptions {
  bool training = false;
  bool backward = true;
  bool cross_saved = true;
  bool all_grads = false;
  double atol = 2e-5, rtol = 1e-5;            // forward
  double grad_atol = 1e-4, grad_rtol = 1e-4;  // backward (sums reassociate)
  int64_t opset = 17;
  uint64_t seed = 77;
};

// The state a session's prepare() would give op: every input but the activation (input 0) known,
// as when weights are initializers. For fast kernels that pack at prepare time.
inline std::shared_ptr<const OpState> prepare_with_constant_weights(const OpDef& op, const Node& node,
                                                                    const std::vector<Tensor>& in) {
  std::vector<Tensor> consts = in;
  consts[0] = Tensor();
  PrepareCtx pctx{node, consts};
  return op.prepare(pctx);
}

// Output 0 of op's fast forward on `in`, with the prepared state (prepare_with_constant_weights)
// or without one (the forward's fallback that packs per call).
inline Tensor run_fast(const OpDef& op, const Node& node, const std::vector<Tensor>& in, bool prepared) {
  const std::shared_ptr<const OpState> state = prepared ? prepare_with_constant_weights(op, node, in) : nullptr;
  std::vector<Tensor> out(node.outputs.size());
  ForwardCtx ctx{node, in, out};
  ctx.state = state.get();
  op.forward_fast(ctx);
  return out[0];
}

// Output 0 of op's fast forward, with and without the prepared state, against its reference
// forward on the same inputs (for ops whose fast kernels pack constant weights at prepare).
inline void expect_fast_matches_ref_prepared(const Node& node, const std::vector<Tensor>& in, double atol,
                                             double rtol, const std::string& cs) {
  const OpDef* op = find_op(node.op_type);
  ASSERT_NE(op, nullptr) << node.op_type;
  const Tensor want = run_op(node, in)[0];
  for (bool prepared : {false, true}) {
    const Tensor got = run_fast(*op, node, in, prepared);
    ASSERT_EQ(got.shape(), want.shape()) << node.op_type << "; case " << cs;
    expect_close(want, got, atol, rtol,
                 std::string(prepared ? "prepared " : "") + node.op_type + " fast vs ref; case " + cs);
  }
}

inline void expect_fast_matches_ref(const Node& node, const std::vector<Tensor>& in, const FastVsRefOptions& o,
                                    const std::string& cs) {
  const OpDef* op = find_op(node.op_type);
  ASSERT_NE(op, nullptr) << node.op_type;
  ASSERT_NE(op->forward_fast, nullptr) << node.op_type << " has no fast forward";
  std::vector<Tensor> ref(node.outputs.size()), fast(node.outputs.size());
  std::vector<Tensor> saved_ref, saved_fast;
  ForwardCtx rctx{node, in, ref, o.training, o.training ? &saved_ref : nullptr, 1, o.opset};
  op->forward(rctx);
  ForwardCtx fctx{node, in, fast, o.training, o.training ? &saved_fast : nullptr, 1, o.opset};
  op->forward_fast(fctx);
  for (size_t i = 0; i < ref.size(); ++i) {
    ASSERT_EQ(ref[i].defined(), fast[i].defined()) << node.op_type << " output " << i << "; case " << cs;
    if (!ref[i].defined()) continue;
    ASSERT_EQ(ref[i].dtype(), fast[i].dtype()) << node.op_type << " output " << i << "; case " << cs;
    expect_close(ref[i], fast[i], o.atol, o.rtol,
                 std::string(node.op_type) + " fast vs ref output " + std::to_string(i) + "; case " + cs);
  }
  if (!o.backward || !op->backward_ref) return;
  std::vector<Tensor> grad_out(ref.size());
  for (size_t i = 0; i < ref.size(); ++i) {
    if (!ref[i].defined() || ref[i].dtype() != DType::kF32) continue;
    grad_out[i] = i == 0 || o.all_grads ? random_f32(ref[i].shape(), o.seed + i)
                                        : Tensor::zeros(DType::kF32, ref[i].shape());
  }
  auto run_backward = [&](BackwardFn fn, const std::vector<Tensor>& out, const std::vector<Tensor>& saved) {
    std::vector<Tensor> grad_in(in.size());
    BackwardCtx bctx{node, in, out, saved, grad_out, grad_in};
    fn(bctx);
    return grad_in;
  };
  const std::vector<Tensor> gref = run_backward(op->backward_ref, ref, saved_ref);
  std::vector<std::pair<std::string, std::vector<Tensor>>> runs{{"fast", run_backward(op->backward, fast, saved_fast)}};
  if (o.cross_saved) runs.push_back({"fast (ref-saved)", run_backward(op->backward, ref, saved_ref)});
  for (const auto& [name, g] : runs)
    for (size_t i = 0; i < in.size(); ++i) {
      ASSERT_EQ(gref[i].defined(), g[i].defined()) << node.op_type << " " << name << " grad " << i << "; case " << cs;
      if (!gref[i].defined()) continue;
      expect_close(gref[i], g[i], o.grad_atol, o.grad_rtol,
                   std::string(node.op_type) + " " + name + " backward vs ref, grad of input " + std::to_string(i) +
                       "; case " + cs);
    }
}

}  // namespace edgeopt::kernels::testing

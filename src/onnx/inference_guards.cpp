// Guards in front of ONNX 1.12 shape-inference functions that read out of bounds on inputs the
// checker lets through (found by tests/fuzz/onnx_load_fuzz.cpp). Each guard turns the crash into
// an ordinary InferenceError, which import.cpp reports as InvalidArgument.
#include <cstdint>
#include <mutex>

#include <onnx/defs/schema.h>
#include <onnx/defs/shape_inference.h>

#include "onnx/onnx_util.h"

// Outside namespace edgeopt::onnx: ONNX's fail_shape_inference macro names `onnx::` unqualified.
namespace {

// convPoolShapeInference walks W's spatial dims while indexing X's, pads and strides by X's
// rank: Conv with X=[4,4], W=[2,1,3,3] segfaults. Require rank(W) == rank(X) >= 3 when both are
// known, as the Conv spec does.
void install_conv_rank_guard(const std::string& op, size_t w_index) {
  const ::onnx::OpSchema* latest = ::onnx::OpSchemaRegistry::Schema(op);
  if (!latest) return;
  // Walk every registered version of the op, newest first.
  for (int v = latest->SinceVersion(); v >= 1;) {
    const ::onnx::OpSchema* s = ::onnx::OpSchemaRegistry::Schema(op, v);
    if (!s) break;
    if (s->has_type_and_shape_inference_function()) {
      ::onnx::InferenceFunction original = s->GetTypeAndShapeInferenceFunction();
      // The registry owns mutable OpSchema objects; it only hands out const pointers.
      const_cast<::onnx::OpSchema*>(s)->TypeAndShapeInferenceFunction(
          [original, w_index, op](::onnx::InferenceContext& ctx) {
            // It also divides by strides and dilations and by group without checking them (an FPE
            // on strides=[0,1], found by the fuzzer): require them positive first.
            for (const char* name : {"strides", "dilations", "kernel_shape"})
              if (const ::onnx::AttributeProto* a = ctx.getAttribute(name))
                for (int64_t v : a->ints())
                  if (v <= 0) fail_shape_inference(op, ": attribute ", name, " has value ", v, "; it must be > 0");
            if (const ::onnx::AttributeProto* g = ctx.getAttribute("group"))
              if (g->i() <= 0) fail_shape_inference(op, ": attribute group is ", g->i(), "; it must be >= 1");
            if (ctx.getNumInputs() > w_index && ::onnx::hasInputShape(ctx, 0) &&
                ::onnx::hasInputShape(ctx, w_index)) {
              int xr = ::onnx::getInputShape(ctx, 0).dim_size();
              int wr = ::onnx::getInputShape(ctx, w_index).dim_size();
              if (xr < 3 || wr != xr)
                fail_shape_inference(op, ": input X has rank ", xr, " and W has rank ", wr,
                                     "; both need the same rank >= 3 (N, C, spatial...)");
            }
            original(ctx);
          });
    }
    v = s->SinceVersion() - 1;
  }
}

}  // namespace

namespace edgeopt::onnx {

void install_inference_guards() {
  static std::once_flag once;
  std::call_once(once, [] {
    install_conv_rank_guard("Conv", 1);
    install_conv_rank_guard("ConvInteger", 1);
    install_conv_rank_guard("ConvTranspose", 1);
    install_conv_rank_guard("QLinearConv", 3);
    // Pools share convPoolShapeInference (no W: the rank check never applies).
    for (const char* pool : {"MaxPool", "AveragePool", "LpPool"}) install_conv_rank_guard(pool, SIZE_MAX);
  });
}

}  // namespace edgeopt::onnx

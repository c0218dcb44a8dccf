// fuse_qconv_maxpool: a 2x2 stride-2 MaxPool right after a QLinearConv (the int8 CNN block
// Conv -> Relu -> MaxPool after fuse_qdq). The requantization (with its clamp) is monotonic per
// output channel, so max(requantize(acc)) == requantize(max(acc)) exactly: the fast kernel pools
// the s32 accumulators and requantizes a quarter of the values, and the pooled codes never take a
// separate pass. The pair becomes one QLinearConv with the edgeopt-internal attribute maxpool = 2.
#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
PassReport fuse_qconv_maxpool(Graph& g) {
  const int n = detail::fold_maxpool_2x2s2_into_producer(g, [&](Node& conv) {
    if (conv.op_type != "QLinearConv" || !conv.domain.empty() || conv.has_attr("maxpool")) return false;
    // 2-D only: the weight (input 3) must be a rank-4 constant.
    const Tensor* w = conv.inputs.size() > 3 ? detail::constant_value(g, conv.inputs[3]) : nullptr;
    if (!w || w->rank() != 4) return false;
    conv.set_attr("maxpool", int64_t{2});
    return true;
  });
  return {"fuse_qconv_maxpool", n};
}

}  // namespace edgeopt::runtime::passes

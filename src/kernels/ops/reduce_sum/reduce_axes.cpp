#include "kernels/ops/reduce_sum/reduce_axes.h"

#include "kernels/common.h"

namespace edgeopt::kernels::ops::reduce_sum {

ReduceAxes reduce_axes(const Node& node, std::span<const Tensor> in) {
  const Tensor& x = in[0];
  std::vector<int64_t> axes;
  if (in.size() > 1 && in[1].defined()) {
    EDGEOPT_CHECK_ARG(in[1].dtype() == DType::kI64 && in[1].rank() <= 1,
                      "input 'axes' must be a 1-D int64 tensor, got " + in[1].describe());
    axes = in[1].to_i64_vector();
  } else {
    axes = node.attr_ints("axes");
  }
  ReduceAxes r;
  const size_t rank = x.rank();
  r.reduced.assign(rank, axes.empty());
  if (axes.empty() && node.attr_int("noop_with_empty_axes", 0) != 0) {
    r.identity = true;
    r.reduced.assign(rank, false);
  }
  for (int64_t a : axes) {
    const size_t i = x.shape().normalize_axis(a);
    EDGEOPT_CHECK_ARG(!r.reduced[i], "axis " + std::to_string(a) + " appears more than once in axes");
    r.reduced[i] = true;
  }
  const bool keepdims = node.attr_int("keepdims", 1) != 0;
  std::vector<int64_t> out, kept;
  for (size_t i = 0; i < rank; ++i) {
    kept.push_back(r.reduced[i] ? 1 : x.shape()[i]);
    if (r.reduced[i]) r.count *= x.shape()[i];
    if (!r.reduced[i] || keepdims) out.push_back(kept.back());
  }
  r.out_shape = Shape(out);
  r.kept_shape = Shape(kept);
  return r;
}

std::vector<int64_t> ReduceAxes::slots(const Shape& x) const {
  BroadcastIndex bi(kept_shape, kept_shape, x);
  return bi.a_index;
}

}  // namespace edgeopt::kernels::ops::reduce_sum

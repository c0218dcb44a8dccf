// Axis handling shared by ReduceSum and ReduceMax: `axes` as an attribute (ReduceSum < 13,
// ReduceMax < 18) or as the optional int64 input 1 (from those opsets), keepdims (default 1),
// noop_with_empty_axes (no axes: reduce everything, or with the flag, the identity).
//
//   ReduceAxes r = reduce_axes(node, in);
//   // x element i goes to output slot r.slot_of(i) (kept_shape order = out_shape order)
//
// Whichever form is present is used, so a model mixing opsets still runs. Throws InvalidArgument
// on out-of-range or repeated axes and on a non-int64 axes input.
#pragma once
#include <span>
#include <vector>

#include "kernels/op_def.h"

namespace edgeopt::kernels::ops::reduce_sum {

struct ReduceAxes {
  std::vector<bool> reduced;  // per input dim
  Shape out_shape;            // keepdims applied
  Shape kept_shape;           // reduced dims as 1 (broadcastable against the input)
  int64_t count = 1;          // input elements per output slot
  bool identity = false;      // noop_with_empty_axes with no axes
  // Output slot of each input element (row-major), for the reference loops.
  std::vector<int64_t> slots(const Shape& x) const;
};

ReduceAxes reduce_axes(const Node& node, std::span<const Tensor> in);

}  // namespace edgeopt::kernels::ops::reduce_sum

#include "compress/tensor_slice.h"

#include <algorithm>

namespace edgeopt::compress::detail {

Tensor take_f32(const Tensor& t, size_t axis, const std::vector<int64_t>& idx) {
  EDGEOPT_CHECK_ARG(t.dtype() == DType::kF32 && axis < t.rank(), "take_f32: needs an f32 tensor with axis " +
                                                                      std::to_string(axis) + ", got " + t.describe());
  const auto& dims = t.shape().dims();
  int64_t outer = 1, inner = 1;
  for (size_t i = 0; i < axis; ++i) outer *= dims[i];
  for (size_t i = axis + 1; i < dims.size(); ++i) inner *= dims[i];
  std::vector<int64_t> od = dims;
  od[axis] = static_cast<int64_t>(idx.size());
  Tensor r(DType::kF32, Shape(od));
  const float* src = t.data<float>();
  float* dst = r.data<float>();
  for (int64_t o = 0; o < outer; ++o)
    for (size_t j = 0; j < idx.size(); ++j) {
      EDGEOPT_CHECK_ARG(idx[j] >= 0 && idx[j] < dims[axis], "take_f32: index out of range");
      std::copy_n(src + (o * dims[axis] + idx[j]) * inner, inner, dst + (o * static_cast<int64_t>(idx.size()) + j) * inner);
    }
  return r;
}

}  // namespace edgeopt::compress::detail

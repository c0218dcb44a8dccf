// Quantization parameters of QuantizeLinear / DequantizeLinear (and later the QDQ pattern matcher):
// reads a scale and an optional zero point that are either per-tensor (a scalar or a 1-element
// tensor) or per-axis (opset 13+: a 1-D tensor of length x.shape[axis]), and validates them.
//
//   QParams qp = read_qparams(x.shape(), scale, zero_point, node.attr_int("axis", 1), opset, "y_scale");
//   for (int64_t i = 0; i < x.numel(); ++i) y[i] = quantize_f32(x[i], qp.scale_of(i), qp.zp_of(i), 0, 255);
//
// Throws InvalidArgument naming the input and the rule on: a non-f32 scale, a zero, negative or
// non-finite scale, a zero point whose shape differs from the scale's, a 1-D scale whose length
// is not x.shape[axis], a per-axis scale before opset 13, an axis out of range.
#pragma once
#include <cmath>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace edgeopt::kernels::quant {

struct QParams {
  std::vector<float> scales;     // one per channel (one in total for per-tensor)
  std::vector<int32_t> zero_points;
  int64_t inner = 1;             // elements per channel step: prod(x.shape[axis+1:])
  float scale_of(int64_t i) const { return scales[channel(i)]; }
  int32_t zp_of(int64_t i) const { return zero_points[channel(i)]; }
  size_t channel(int64_t i) const {
    return scales.size() == 1 ? 0 : static_cast<size_t>((i / inner) % static_cast<int64_t>(scales.size()));
  }
};

// zero_point may be undefined (zero). scale_name names the scale input in messages ("y_scale").
inline QParams read_qparams(const Shape& x_shape, const Tensor& scale, const Tensor& zero_point, int64_t axis,
                            int64_t opset, const std::string& scale_name) {
  EDGEOPT_CHECK_ARG(scale.dtype() == DType::kF32,
                    "input " + scale_name + " is " + scale.describe() + "; it must be f32");
  QParams qp;
  const bool per_tensor = scale.numel() == 1 && scale.rank() <= 1;
  if (!per_tensor) {
    EDGEOPT_CHECK_ARG(opset >= 13, "input " + scale_name + " has shape " + scale.shape().str() +
                                       ", but opset " + std::to_string(opset) +
                                       " < 13 allows only a scalar (per-axis quantization needs opset 13)");
    EDGEOPT_CHECK_ARG(scale.rank() == 1, "input " + scale_name + " has shape " + scale.shape().str() +
                                             "; it must be a scalar or 1-D (per-axis)");
    const int64_t r = static_cast<int64_t>(x_shape.rank());
    EDGEOPT_CHECK_ARG(axis >= -r && axis < r, "axis=" + std::to_string(axis) + " is out of range for input of rank " +
                                                  std::to_string(r));
    const size_t a = static_cast<size_t>(axis < 0 ? axis + r : axis);
    EDGEOPT_CHECK_ARG(scale.numel() == x_shape[a],
                      "input " + scale_name + " has " + std::to_string(scale.numel()) + " elements, but x.shape[" +
                          std::to_string(a) + "] = " + std::to_string(x_shape[a]) + " (axis=" +
                          std::to_string(axis) + ") needs one scale per channel");
    for (size_t d = a + 1; d < x_shape.rank(); ++d) qp.inner *= x_shape[d];
  }
  qp.scales = scale.to_f32_vector();
  for (size_t c = 0; c < qp.scales.size(); ++c) {
    float s = qp.scales[c];
    EDGEOPT_CHECK_ARG(std::isfinite(s) && s > 0.f, "input " + scale_name + "[" + std::to_string(c) +
                                                       "] = " + std::to_string(s) + "; scales must be finite and > 0");
  }
  if (zero_point.defined()) {
    EDGEOPT_CHECK_ARG(zero_point.numel() == scale.numel(),
                      "zero point has shape " + zero_point.shape().str() + ", but " + scale_name + " has shape " +
                          scale.shape().str() + "; they must have the same number of elements");
    for (int64_t v : zero_point.to_i64_vector()) qp.zero_points.push_back(static_cast<int32_t>(v));
  } else {
    qp.zero_points.assign(qp.scales.size(), 0);
  }
  return qp;
}

}  // namespace edgeopt::kernels::quant

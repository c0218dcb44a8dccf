// Host-side preparation of the int8 CNN ops (no CUDA calls): a QLinearConv node becomes its
// geometry, requantization parameters and weight-derived constants (the s8 weight matrix with its
// column sums for the GEMM path, the raw codes for the direct path); a QLinearAdd node its
// parameters. CudaSession uploads these; cuda_test feeds them to cuda_qconv_math.h on the host.
//
//   QConvPlan p = plan_qlinear_conv(node, x_dtype, x_shape, constant_inputs);
#pragma once
#include <vector>

#include "core/graph.h"
#include "core/tensor.h"
#include "cuda/cuda_qconv_math.h"

namespace edgeopt::cuda {

struct QConvPlan {
  QConvGeom g;  // multiplier/shift/bias pointers unset: the vectors below hold them
  std::vector<int32_t> multiplier, shift, bias;  // [M]; bias empty when absent
  Shape y_shape;
  bool x_u8 = true;
  bool direct = false;  // group > 1: the direct kernel
  // Direct path: raw weight codes and per-channel zero points.
  std::vector<uint8_t> w_raw;
  bool w_u8 = false;
  std::vector<int32_t> w_zp;
  int32_t x_zp = 0;
  // GEMM path: B^T [M, k_pad] on the s8 scale, its column sums, zb [M] and za on the s8 scale.
  std::vector<int8_t> bt;
  std::vector<int32_t> col_sum, zb;
  int32_t za = 0;
  int64_t k = 0, k_pad = 0, rows = 0;
};

// consts[i]: input i when it is a constant, else null. Throws Unimplemented for what the CUDA
// kernels do not cover (non-constant weights/zero points/scales/bias, 3-D) and InvalidArgument for
// invalid quantization parameters, naming the node.
QConvPlan plan_qlinear_conv(const Node& n, DType x_dtype, const Shape& x_shape, const std::vector<const Tensor*>& consts);

// a_dtype/b_dtype: the codes' dtypes (runtime or constant). consts as above.
QAddParams plan_qlinear_add(const Node& n, DType a_dtype, DType b_dtype, const std::vector<const Tensor*>& consts);

}  // namespace edgeopt::cuda

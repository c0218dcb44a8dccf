// CP (CANDECOMP/PARAFAC) decomposition of KxK convolutions (Lebedev et al. 2015, "Speeding-up
// convolutional neural networks using fine-tuned CP-decomposition"):
//
//   W[M, C, kh, kw] ~= sum_r A[M, r] B[C, r] Y[kh, r] X[kw, r]
//   Conv(x, W, b) ~= Conv1x1_A(DwConv_{1 x kw}_X(DwConv_{kh x 1}_Y(Conv1x1_B^T(x))), b)
//
// Four thin layers: C -> R channels (1x1), a vertical and a horizontal depthwise conv over R
// channels (they carry the original strides, pads and dilations, split per axis), R -> M (1x1,
// the original bias). Where it pays against Tucker-2: CP's middle costs R*(kh + kw) per pixel
// instead of R_in*R_out*kh*kw, so it wins when a low rank reaches the fit.
//
// Factors by alternating least squares (ALS, 4 modes, ridge-regularized normal equations),
// initialized from the leading singular vectors of each unfolding. Rank: the smallest R whose fit
// 1 - |W - W_R|^2 / |W|^2 reaches `energy` (binary search, or `rank` when > 0); a layer is only
// replaced when the four layers need <= max_cost of its multiply-accumulates. Conv with group 1,
// 2-D kernels larger than 1x1, explicit pads (auto_pad NOTSET).
//
//   FactorizeReport r = cp_decompose(g, {.energy = 0.9});
#pragma once
#include <cstdint>
#include <vector>

#include "compress/lowrank/factorize.h"
#include "core/tensor.h"

namespace edgeopt::compress {

struct CpOptions {
  double energy = 0.9;  // fit to reach
  int64_t rank = 0;     // > 0: this rank for every layer
  int iterations = 60;  // ALS sweeps per rank tried
  double max_cost = 0.8;
  int64_t min_weights = 1024;
};

FactorizeReport cp_decompose(Graph& g, const CpOptions& o);

// The ALS itself on a [M, C, kh, kw] f32 tensor: factors A [M,R], B [C,R], Y [kh,R], X [kw,R] (row
// major, each R columns) and the fit reached. Deterministic.
struct CpFactors {
  std::vector<float> a, b, y, x;
  int64_t rank = 0;
  double fit = 0;
};
CpFactors cp_als_4d(const Tensor& w, int64_t rank, int iterations);

}  // namespace edgeopt::compress

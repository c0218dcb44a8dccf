// Tucker-2 decomposition of KxK convolutions (Kim et al. 2016, "Compression of deep convolutional
// neural networks for fast and low power mobile applications"):
//
//   W[M, C, kh, kw] ~= G[R_out, R_in, kh, kw] x_0 U_out[M, R_out] x_1 U_in[C, R_in]
//   Conv(x, W, b) ~= Conv1x1(Conv_KxK(Conv1x1(x, U_in^T), G), U_out, b)
//
// HOSVD initialization: U_out / U_in are the leading left singular vectors of W unfolded along
// the output / input channel mode, G = W x_0 U_out^T x_1 U_in^T. Ranks: the fewest singular values
// of each unfolding reaching `energy` (or rank_in/rank_out when > 0). At full ranks the output
// equals the original (within f32 rounding). Only Conv with group 1 and a kernel larger than 1x1,
// and only when the three layers need <= max_cost of the original multiply-accumulates.
//
//   FactorizeReport r = tucker2_decompose(g, {.energy = 0.9});
#pragma once
#include <string>

#include "compress/lowrank/factorize.h"

namespace edgeopt::compress {

struct Tucker2Options {
  double energy = 0.9;
  std::string rank_method = "energy";  // energy | vbmf (EVBMF on each unfolding: lowrank/vbmf.h)
  int64_t rank_in = 0, rank_out = 0;
  double max_cost = 0.8;
  int64_t min_weights = 1024;
};

FactorizeReport tucker2_decompose(Graph& g, const Tucker2Options& o);

}  // namespace edgeopt::compress

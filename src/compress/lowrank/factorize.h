// Low-rank factorization: truncated SVD of Gemm/MatMul and 1x1 Conv weights into two thinner layers
// (factorize_svd), Tucker-2 of KxK convolutions (decompose/tucker2.h), and factorize(), which runs
// both with one energy threshold or finds the threshold that meets a FLOP budget.
//
//   FactorizeReport r = factorize_svd(g, {.energy = 0.9});
//   FactorizeReport r = factorize(g, {.flops_ratio = 0.5});   // <= 50% of the FLOPs
//
// SVD: W[N, K] (output rows) = U S V^T; rank r keeps the fewest singular values whose squared sum
// reaches `energy` of the total (or `rank` when > 0). Gemm(x, W) becomes Gemm(Gemm(x, V_r^T), U_r S_r)
// (the first without bias, the second with the original bias, alpha and beta); MatMul the same with
// MatMul; a 1x1 Conv becomes a 1x1 Conv with the original strides/pads to r channels, then a plain
// 1x1 Conv with the bias. At full rank the output equals the original (within f32 rounding). A layer
// is only replaced when r*(K+N) <= max_cost*K*N (else it would not get cheaper).
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/graph.h"

namespace edgeopt::compress {

struct FactorizedLayer {
  std::string node, method;       // method: "svd", "tucker2" or "cp"
  std::vector<int64_t> full_rank, rank;
  int64_t params_before = 0, params_after = 0;
};

struct FactorizeReport {
  double energy = 0;
  int64_t flops_before = 0, flops_after = 0, params_before = 0, params_after = 0;
  std::vector<FactorizedLayer> layers;
  nlohmann::json to_json() const;
};

struct SvdOptions {
  double energy = 0.9;
  int64_t rank = 0;          // > 0: this rank for every layer (capped at full rank)
  double max_cost = 0.8;
  int64_t min_weights = 1024;  // smaller layers stay as they are
};

// Smallest r whose leading squared singular values reach `energy` of the total (>= 1).
int64_t rank_for_energy(const std::vector<double>& singular_values, double energy);

FactorizeReport factorize_svd(Graph& g, const SvdOptions& o);

struct FactorizeOptions {
  double energy = 0.9;
  double flops_ratio = 0;  // in (0, 1): the largest energy whose result has <= this fraction of FLOPs
  bool svd = true, tucker = true;
  std::string tucker_rank = "energy";  // energy | vbmf (Tucker-2 ranks then ignore the energy)
  std::string conv_method = "tucker2";  // KxK Conv: tucker2 | cp (decompose/cp.h)
  double max_cost = 0.8;
  int64_t min_weights = 1024;
};

// Throws InvalidArgument when nothing can be factorized or the FLOP budget cannot be met.
FactorizeReport factorize(Graph& g, const FactorizeOptions& o);

}  // namespace edgeopt::compress

// Rank selection by empirical variational Bayesian matrix factorization (EVBMF, Nakajima, Sugiyama,
// Babacan, Tomioka 2013, "Global analytic solution of fully-observed variational Bayesian matrix
// factorization", JMLR 14): the rank of the noise-free part of a matrix Y = B A^T + noise, with the
// noise variance estimated from the singular values themselves. Kim et al. (2016) use it to pick
// Tucker-2 ranks from the mode unfoldings of a conv weight.
//
//   int64_t r = rank_evbmf(singular_values, rows, cols);   // all min(rows, cols) values, descending
#pragma once
#include <cstdint>
#include <vector>

namespace edgeopt::compress {

// Number of singular values above the EVBMF threshold sqrt(M s2 (1 + tau)(1 + alpha / tau)) with
// L = min(rows, cols), M = max, alpha = L / M, tau = 2.5129 sqrt(alpha) and the noise variance s2
// minimizing the EVBMF free energy (bounded golden-section search). At least 1.
int64_t rank_evbmf(const std::vector<double>& singular_values, int64_t rows, int64_t cols);

}  // namespace edgeopt::compress

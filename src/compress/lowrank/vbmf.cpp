#include "compress/lowrank/vbmf.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/error.h"

namespace edgeopt::compress {
namespace {

// The free energy of EVBMF as a function of the noise variance (Nakajima et al. 2013, eq. 34-35;
// the constant terms dropped).
double free_energy(double s2, double l, double m, const std::vector<double>& s, double xubar) {
  const double alpha = l / m;
  double f = 0;
  for (double sv : s) {
    const double x = sv * sv / (m * s2);
    if (x > xubar) {
      const double tau = 0.5 * (x - (1 + alpha) + std::sqrt((x - (1 + alpha)) * (x - (1 + alpha)) - 4 * alpha));
      f += x - tau + std::log((tau + 1) / x) + alpha * std::log(tau / alpha + 1);
    } else {
      f += x - std::log(x);
    }
  }
  return f + (l - static_cast<double>(s.size())) * std::log(s2);
}

}  // namespace

int64_t rank_evbmf(const std::vector<double>& s, int64_t rows, int64_t cols) {
  const double l = static_cast<double>(std::min(rows, cols)), m = static_cast<double>(std::max(rows, cols));
  EDGEOPT_CHECK_ARG(!s.empty() && static_cast<double>(s.size()) <= l, "rank_evbmf: needs 1..min(rows, cols) singular values");
  const int64_t h = static_cast<int64_t>(s.size());
  const double alpha = l / m, tau_ubar = 2.5129 * std::sqrt(alpha);
  const double xubar = (1 + tau_ubar) * (1 + alpha / tau_ubar);
  // Bounds of the noise variance: the upper from the total energy, the lower from the tail of the
  // spectrum that must be noise for any solution (Nakajima et al., Theorem 13).
  double total = 0;
  for (double v : s) total += v * v;
  const int64_t eh_ub = std::clamp<int64_t>(static_cast<int64_t>(std::ceil(l / (1 + alpha))) - 1, 1, h) - 1;
  const double upper = total / (l * m);
  double tail = 0;
  for (int64_t i = std::min(eh_ub + 1, h - 1); i < h; ++i) tail += s[i] * s[i];
  const int64_t tail_n = h - std::min(eh_ub + 1, h - 1);
  double lower = std::max(s[std::min(eh_ub + 1, h - 1)] * s[std::min(eh_ub + 1, h - 1)] / (m * xubar), tail / tail_n / m);
  lower = std::max(lower, upper * 1e-12);
  if (lower >= upper) lower = upper * 1e-6;
  // Golden-section search (the objective is unimodal in practice on [lower, upper]).
  const double g = (std::sqrt(5.0) - 1) / 2;
  double a = lower, b = upper;
  double c = b - g * (b - a), d = a + g * (b - a);
  double fc = free_energy(c, l, m, s, xubar), fd = free_energy(d, l, m, s, xubar);
  for (int it = 0; it < 100 && (b - a) > 1e-12 * upper; ++it) {
    if (fc < fd) {
      b = d, d = c, fd = fc;
      c = b - g * (b - a);
      fc = free_energy(c, l, m, s, xubar);
    } else {
      a = c, c = d, fc = fd;
      d = a + g * (b - a);
      fd = free_energy(d, l, m, s, xubar);
    }
  }
  const double s2 = 0.5 * (a + b);
  const double threshold = std::sqrt(m * s2 * (1 + tau_ubar) * (1 + alpha / tau_ubar));
  int64_t r = 0;
  for (double v : s) r += v > threshold;
  return std::max<int64_t>(r, 1);
}

}  // namespace edgeopt::compress

#include "quantize/observers.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/error.h"

namespace edgeopt::quantize {

CalibMethod calib_method_from_name(const std::string& name) {
  if (name == "minmax") return CalibMethod::kMinMax;
  if (name == "moving_average" || name == "ema") return CalibMethod::kMovingAverage;
  if (name == "percentile") return CalibMethod::kPercentile;
  if (name == "entropy" || name == "kl") return CalibMethod::kEntropy;
  if (name == "mse") return CalibMethod::kMse;
  throw_error(ErrorCode::kInvalidArgument,
              "calibration method '" + name + "' is unknown (known: minmax, moving_average, percentile, entropy, mse)");
}

const char* calib_method_name(CalibMethod m) {
  switch (m) {
    case CalibMethod::kMinMax: return "minmax";
    case CalibMethod::kMovingAverage: return "moving_average";
    case CalibMethod::kPercentile: return "percentile";
    case CalibMethod::kEntropy: return "entropy";
    case CalibMethod::kMse: return "mse";
  }
  return "?";
}

QParam choose_qparams(Range r, ActScheme scheme) {
  const double lo = std::min<double>(r.lo, 0.0), hi = std::max<double>(r.hi, 0.0);
  QParam p;
  if (scheme == ActScheme::kSymmetricI8) {
    p.qmin = -128;
    p.qmax = 127;
    const double a = std::max(-lo, hi);
    p.scale = a > 0 ? static_cast<float>(a / 127.0) : 1.f;
    p.zero_point = 0;
    return p;
  }
  p.qmin = 0;
  p.qmax = 255;
  if (!(hi - lo > 0)) return p;
  p.scale = static_cast<float>((hi - lo) / 255.0);
  const double zp = std::nearbyint(-lo / p.scale);
  p.zero_point = static_cast<int32_t>(std::clamp(zp, 0.0, 255.0));
  return p;
}

float weight_scale(float max_abs) { return max_abs > 0.f ? max_abs / 127.f : 1.f; }

void Histogram::add(const float* x, int64_t n) {
  float mn = std::numeric_limits<float>::infinity(), mx = -mn;
  int64_t finite = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (std::isnan(v)) continue;
    EDGEOPT_CHECK_ARG(std::isfinite(v), "calibration saw an infinite value; the model overflows on a calibration sample");
    mn = std::min(mn, v);
    mx = std::max(mx, v);
    ++finite;
  }
  if (finite == 0) return;
  if (total_ == 0) {
    min_ = mn;
    max_ = mx;
    lo_ = std::min<double>(mn, 0.0);
    hi_ = std::max<double>(mx, 0.0);
  } else {
    min_ = std::min(min_, mn);
    max_ = std::max(max_, mx);
  }
  if (hi_ == lo_) {  // only zeros so far: start a real range, keeping their count at 0
    const double old = total_;
    lo_ = std::min<double>(min_, 0.0);
    hi_ = std::max<double>(max_, 0.0);
    if (hi_ == lo_) hi_ = lo_ + 1e-30;
    std::fill(counts_.begin(), counts_.end(), 0.0);
    const auto zero_bin = static_cast<size_t>(std::clamp((0.0 - lo_) / bin_width(), 0.0, kBins - 1.0));
    counts_[zero_bin] = old;
  }
  grow_to(std::min<double>(mn, lo_), std::max<double>(mx, hi_));
  const double w = bin_width();
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(x[i])) continue;
    const double b = std::floor((x[i] - lo_) / w);
    counts_[static_cast<size_t>(std::clamp(b, 0.0, kBins - 1.0))] += 1.0;
  }
  total_ += static_cast<double>(finite);
}

// Doubling the width merges bin pairs, so old bin edges stay edges: no count is smeared.
void Histogram::grow_to(double lo, double hi) {
  while (lo < lo_ || hi > hi_) {
    const double w = hi_ - lo_;
    std::vector<double> merged(kBins, 0.0);
    if (hi > hi_) {
      for (int i = 0; i < kBins; ++i) merged[i / 2] += counts_[i];
      hi_ = lo_ + 2 * w;
    } else {
      for (int i = 0; i < kBins; ++i) merged[kBins / 2 + i / 2] += counts_[i];
      lo_ = hi_ - 2 * w;
    }
    counts_.swap(merged);
  }
}

double entropy_threshold(const std::vector<double>& hist, double amax, int levels) {
  const int nbins = static_cast<int>(hist.size());
  if (nbins <= levels) return amax;
  std::vector<double> suffix(nbins + 1, 0.0);
  for (int i = nbins - 1; i >= 0; --i) suffix[i] = suffix[i + 1] + hist[i];
  double best_kl = std::numeric_limits<double>::infinity();
  int best_i = nbins;
  std::vector<double> p, qd;
  for (int i = levels; i <= nbins; ++i) {
    p.assign(hist.begin(), hist.begin() + i);
    p[i - 1] += suffix[i];  // outliers clip to the threshold
    qd.assign(i, 0.0);
    for (int j = 0; j < levels; ++j) {
      const int start = static_cast<int>(static_cast<int64_t>(j) * i / levels);
      const int end = static_cast<int>(static_cast<int64_t>(j + 1) * i / levels);
      double sum = 0;
      int nonzero = 0;
      for (int k = start; k < end; ++k) {
        sum += hist[k];
        nonzero += hist[k] != 0;
      }
      if (nonzero == 0) continue;
      for (int k = start; k < end; ++k)
        if (hist[k] != 0) qd[k] = sum / nonzero;
    }
    double ps = 0, qs = 0;
    for (int k = 0; k < i; ++k) {
      ps += p[k];
      qs += qd[k];
    }
    if (ps <= 0 || qs <= 0) continue;
    double kl = 0;
    for (int k = 0; k < i; ++k) {
      if (p[k] <= 0) continue;
      const double pk = p[k] / ps, qk = std::max(qd[k] / qs, 1e-12);
      kl += pk * std::log(pk / qk);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return amax * best_i / nbins;
}

namespace {

class MinMaxObserver : public Observer {
 public:
  void observe(const float* x, int64_t n) override {
    for (int64_t i = 0; i < n; ++i) {
      if (std::isnan(x[i])) continue;
      EDGEOPT_CHECK_ARG(std::isfinite(x[i]), "calibration saw an infinite value; the model overflows on a calibration sample");
      lo_ = seen_ ? std::min(lo_, x[i]) : x[i];
      hi_ = seen_ ? std::max(hi_, x[i]) : x[i];
      seen_ = true;
    }
  }
  Range range(ActScheme) const override { return {lo_, hi_}; }
  bool empty() const override { return !seen_; }

 private:
  bool seen_ = false;
  float lo_ = 0, hi_ = 0;
};

// PyTorch's MovingAverageMinMaxObserver: each observe() call is one batch.
class MovingAverageObserver : public Observer {
 public:
  void observe(const float* x, int64_t n) override {
    MinMaxObserver batch;
    batch.observe(x, n);
    if (batch.empty()) return;
    const Range b = batch.range(ActScheme::kAsymmetricU8);
    if (!seen_) {
      lo_ = b.lo;
      hi_ = b.hi;
      seen_ = true;
    } else {
      lo_ += kC * (b.lo - lo_);
      hi_ += kC * (b.hi - hi_);
    }
  }
  Range range(ActScheme) const override { return {static_cast<float>(lo_), static_cast<float>(hi_)}; }
  bool empty() const override { return !seen_; }

 private:
  static constexpr double kC = 0.01;
  bool seen_ = false;
  double lo_ = 0, hi_ = 0;
};

class HistogramObserver : public Observer {
 public:
  HistogramObserver(CalibMethod m, double pct) : method_(m), pct_(pct) {}
  void observe(const float* x, int64_t n) override { h_.add(x, n); }
  bool empty() const override { return h_.empty(); }
  Range range(ActScheme scheme) const override {
    if (h_.empty()) return {};
    switch (method_) {
      case CalibMethod::kPercentile: return percentile_range();
      case CalibMethod::kEntropy: return entropy_range(scheme);
      default: return mse_range(scheme);
    }
  }

 private:
  // Value below which a fraction `f` of the observations lie (bin-edge resolution).
  double quantile(double f) const {
    const auto& c = h_.counts();
    const double target = f * h_.total();
    double cum = 0;
    for (int i = 0; i < Histogram::kBins; ++i) {
      cum += c[i];
      if (cum >= target) return h_.lo() + (i + 1) * h_.bin_width();
    }
    return h_.hi();
  }
  Range percentile_range() const {
    const double f = pct_ / 100.0;
    double hi = std::min<double>(quantile(f), h_.max_seen());
    double lo = h_.min_seen() < 0 ? std::max<double>(quantile(1.0 - f) - h_.bin_width(), h_.min_seen()) : h_.min_seen();
    return {static_cast<float>(lo), static_cast<float>(hi)};
  }
  // Signed data is searched one side at a time (128 levels each): folding |x| into one histogram
  // lets a spike on one side (the background value of normalized images) pull the threshold of
  // the other side down to it, clipping everything brighter.
  Range entropy_range(ActScheme scheme) const {
    const double w = h_.bin_width();
    auto side = [&](bool positive) {
      const double amax = positive ? h_.hi() : -h_.lo();
      std::vector<double> hist(Histogram::kBins, 0.0);
      bool any = false;
      for (int i = 0; i < Histogram::kBins; ++i) {
        const double center = h_.lo() + (i + 0.5) * w;
        if ((positive && center <= 0) || (!positive && center >= 0) || h_.counts()[i] == 0) continue;
        const auto b = static_cast<int>(std::min(std::abs(center) / amax * Histogram::kBins, Histogram::kBins - 1.0));
        hist[b] += h_.counts()[i];
        any = true;
      }
      const bool one_sided = h_.min_seen() >= 0 || h_.max_seen() <= 0;
      const int levels = (one_sided && scheme == ActScheme::kAsymmetricU8) ? 256 : 128;
      return any ? entropy_threshold(hist, amax, levels) : 0.0;
    };
    const double hi = h_.max_seen() > 0 ? std::min<double>(h_.max_seen(), side(true)) : h_.max_seen();
    const double lo = h_.min_seen() < 0 ? std::max<double>(h_.min_seen(), -side(false)) : h_.min_seen();
    return {static_cast<float>(lo), static_cast<float>(hi)};
  }
  // Expected squared error with values spread uniformly inside each bin: rounding noise step^2/12
  // where the bin lies inside the clip range, the exact integral of (x - bound)^2 where it lies
  // outside. (Evaluating bin centers only would misjudge steps finer than a bin.)
  Range mse_range(ActScheme scheme) const {
    const double lo0 = std::min<double>(h_.min_seen(), 0.0), hi0 = std::max<double>(h_.max_seen(), 0.0);
    Range best{static_cast<float>(lo0), static_cast<float>(hi0)};
    double best_err = std::numeric_limits<double>::infinity();
    const double w = h_.bin_width();
    for (int k = 200; k >= 10; --k) {
      const Range r{static_cast<float>(lo0 * k / 200), static_cast<float>(hi0 * k / 200)};
      const QParam p = choose_qparams(r, scheme);
      const double clo = (p.qmin - p.zero_point) * static_cast<double>(p.scale);
      const double chi = (p.qmax - p.zero_point) * static_cast<double>(p.scale);
      const double noise = static_cast<double>(p.scale) * p.scale / 12.0;
      double err = 0;
      for (int i = 0; i < Histogram::kBins; ++i) {
        const double n = h_.counts()[i];
        if (n == 0) continue;
        const double a = h_.lo() + i * w, b = a + w;
        const double in = std::max(0.0, std::min(b, chi) - std::max(a, clo));
        err += n * (in / w) * noise;
        if (b > chi) {
          const double s = std::max(a, chi) - chi, e = b - chi;
          err += n / w * (e * e * e - s * s * s) / 3.0;
        }
        if (a < clo) {
          const double s = clo - std::min(b, clo), e = clo - a;
          err += n / w * (e * e * e - s * s * s) / 3.0;
        }
      }
      if (err < best_err) {
        best_err = err;
        best = r;
      }
    }
    return best;
  }
  CalibMethod method_;
  double pct_;
  Histogram h_;
};

}  // namespace

std::unique_ptr<Observer> make_observer(CalibMethod m, double percentile) {
  EDGEOPT_CHECK_ARG(percentile > 50 && percentile <= 100,
                    "percentile " + std::to_string(percentile) + " must be in (50, 100]");
  switch (m) {
    case CalibMethod::kMinMax: return std::make_unique<MinMaxObserver>();
    case CalibMethod::kMovingAverage: return std::make_unique<MovingAverageObserver>();
    default: return std::make_unique<HistogramObserver>(m, percentile);
  }
}

}  // namespace edgeopt::quantize

// Calibration observers: they watch the values a tensor takes on calibration samples and choose the
// range [lo, hi] its 8-bit quantization should cover; choose_qparams turns a range into a scale and
// zero point.
//
//   auto obs = make_observer(CalibMethod::kEntropy);
//   for (const Tensor& batch : activations) obs->observe(batch.data<float>(), batch.numel());
//   Range r = obs->range(ActScheme::kAsymmetricU8);
//   QParam q = choose_qparams(r, ActScheme::kAsymmetricU8);   // q.scale, q.zero_point, q.qmin, q.qmax
//
// | method            | range                                                                     |
// |-------------------|---------------------------------------------------------------------------|
// | minmax            | the smallest and largest value seen                                       |
// | moving_average    | exponential moving average (c = 0.01) of each batch's min and max         |
// | percentile        | the 100-p and p percentiles (default p = 99.99) of a 2048-bin histogram   |
// | entropy           | the clip threshold whose 8-bit histogram has the least KL divergence from |
// |                   | the full one (TensorRT's calibrator, Migacz 2017); signed data: per side  |
// | mse               | the clip range minimizing the expected squared quantization error         |
//
// Histogram observers keep 2048 bins whose range doubles (merging bin pairs) when a value falls
// outside, so memory is fixed whatever the number of samples. Ranges always contain 0 (zero must be
// exactly representable: padding and ReLU produce it). NaNs are ignored; infinities throw
// InvalidArgument (a calibration sample overflowed). Observers are not thread-safe.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace edgeopt::quantize {

enum class CalibMethod { kMinMax, kMovingAverage, kPercentile, kEntropy, kMse };
// "minmax", "moving_average" (or "ema"), "percentile", "entropy" (or "kl"), "mse"; throws
// InvalidArgument listing the names for another.
CalibMethod calib_method_from_name(const std::string& name);
const char* calib_method_name(CalibMethod m);

// Activations: asymmetric u8 (zero point anywhere in 0..255: best for ReLU outputs and the u8 x s8
// VNNI instructions) or symmetric i8 (zero point 0, codes -128..127).
enum class ActScheme { kAsymmetricU8, kSymmetricI8 };

struct Range {
  float lo = 0.f, hi = 0.f;
};

struct QParam {
  float scale = 1.f;
  int32_t zero_point = 0;
  int32_t qmin = 0, qmax = 255;
};

// scale = (hi - lo) / (qmax - qmin) with [lo, hi] widened to contain 0, zero point rounded so that 0
// is exact; symmetric: scale = max(|lo|, |hi|) / 127, zero point 0. An empty range (all zeros)
// gives scale 1 (any positive scale represents 0 exactly).
QParam choose_qparams(Range r, ActScheme scheme);
// Symmetric int8 weight quantization, codes -127..127 (the -128 code is left out so that the u8 x s8
// products of the VNNI kernels cannot overflow their int16 pair sums): scale = max|w| / 127.
float weight_scale(float max_abs);

class Observer {
 public:
  virtual ~Observer() = default;
  virtual void observe(const float* x, int64_t n) = 0;
  // The range to quantize to; the scheme matters to the histogram methods (how many levels).
  virtual Range range(ActScheme scheme) const = 0;
  // Whether any finite value was observed.
  virtual bool empty() const = 0;
};

// percentile: only for kPercentile (in (50, 100]).
std::unique_ptr<Observer> make_observer(CalibMethod m, double percentile = 99.99);

// A 2048-bin histogram over [lo, hi] whose range doubles as needed (exposed for tests and the
// entropy/MSE searches).
class Histogram {
 public:
  static constexpr int kBins = 2048;
  void add(const float* x, int64_t n);
  bool empty() const { return total_ == 0; }
  double lo() const { return lo_; }
  double hi() const { return hi_; }
  double bin_width() const { return (hi_ - lo_) / kBins; }
  const std::vector<double>& counts() const { return counts_; }
  double total() const { return total_; }
  float min_seen() const { return min_; }
  float max_seen() const { return max_; }

 private:
  void grow_to(double lo, double hi);
  std::vector<double> counts_ = std::vector<double>(kBins, 0.0);
  double lo_ = 0, hi_ = 0, total_ = 0;
  float min_ = 0, max_ = 0;
};

// The entropy calibrator's threshold search on a histogram of |x| (bins over [0, amax]): the
// threshold in (0, amax] whose `levels`-level quantization has the least KL divergence.
double entropy_threshold(const std::vector<double>& abs_counts, double amax, int levels);

}  // namespace edgeopt::quantize

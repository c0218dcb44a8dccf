#include "train/losses/losses.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace edgeopt::train {

namespace {
// Rows of a [N, C, ...] tensor viewed as [N, C] (trailing dims folded into C).
void rows_cols(const Tensor& t, int64_t& n, int64_t& c, const char* what) {
  EDGEOPT_CHECK_ARG(t.rank() >= 2, std::string(what) + " must be [N, C], got " + t.describe());
  n = t.shape()[0];
  c = n ? t.numel() / n : 0;
}

void log_softmax_row(const float* x, int64_t c, float inv_t, std::vector<double>& out) {
  out.resize(static_cast<size_t>(c));
  double m = -INFINITY;
  for (int64_t j = 0; j < c; ++j) m = std::max(m, static_cast<double>(x[j]) * inv_t);
  double s = 0;
  for (int64_t j = 0; j < c; ++j) s += std::exp(x[j] * inv_t - m);
  double lse = m + std::log(s);
  for (int64_t j = 0; j < c; ++j) out[j] = x[j] * inv_t - lse;
}

void check_same_count(const Tensor& p, const Tensor& t, const char* loss) {
  EDGEOPT_CHECK_ARG(p.numel() == t.numel(), std::string(loss) + ": prediction " + p.describe() +
                                                " and target " + t.describe() + " have different element counts");
}
}  // namespace

LossResult cross_entropy(const Tensor& logits, const Tensor& labels, float ls) {
  int64_t n, c;
  rows_cols(logits, n, c, "cross_entropy logits");
  EDGEOPT_CHECK_ARG(labels.numel() == n, "cross_entropy: " + std::to_string(labels.numel()) + " labels for " +
                                             std::to_string(n) + " rows of logits " + logits.describe());
  auto y = labels.to_i64_vector();
  LossResult r;
  r.grad = Tensor(DType::kF32, logits.shape());
  const float* x = logits.data<float>();
  float* g = r.grad.data<float>();
  std::vector<double> lp;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    EDGEOPT_CHECK_ARG(y[i] >= 0 && y[i] < c, "cross_entropy: label " + std::to_string(y[i]) + " at row " +
                                                 std::to_string(i) + " is outside [0, " + std::to_string(c) + ")");
    log_softmax_row(x + i * c, c, 1.f, lp);
    for (int64_t j = 0; j < c; ++j) {
      double target = (j == y[i] ? 1.0 - ls : 0.0) + ls / static_cast<double>(c);
      total -= target * lp[j];
      g[i * c + j] = static_cast<float>((std::exp(lp[j]) - target) / static_cast<double>(n));
    }
  }
  r.loss = n ? total / static_cast<double>(n) : 0;
  return r;
}

LossResult mse(const Tensor& p, const Tensor& t) {
  check_same_count(p, t, "mse");
  LossResult r;
  r.grad = Tensor(DType::kF32, p.shape());
  const float* a = p.data<float>();
  const float* b = t.data<float>();
  const double n = static_cast<double>(std::max<int64_t>(p.numel(), 1));
  double s = 0;
  for (int64_t i = 0; i < p.numel(); ++i) {
    double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
    r.grad.data<float>()[i] = static_cast<float>(2 * d / n);
  }
  r.loss = s / n;
  return r;
}

LossResult mae(const Tensor& p, const Tensor& t) {
  check_same_count(p, t, "mae");
  LossResult r;
  r.grad = Tensor(DType::kF32, p.shape());
  const float* a = p.data<float>();
  const float* b = t.data<float>();
  const double n = static_cast<double>(std::max<int64_t>(p.numel(), 1));
  double s = 0;
  for (int64_t i = 0; i < p.numel(); ++i) {
    double d = static_cast<double>(a[i]) - b[i];
    s += std::fabs(d);
    r.grad.data<float>()[i] = static_cast<float>((d > 0 ? 1 : d < 0 ? -1 : 0) / n);
  }
  r.loss = s / n;
  return r;
}

LossResult huber(const Tensor& p, const Tensor& t, float delta) {
  check_same_count(p, t, "huber");
  EDGEOPT_CHECK_ARG(delta > 0, "huber: delta must be > 0, got " + std::to_string(delta));
  LossResult r;
  r.grad = Tensor(DType::kF32, p.shape());
  const float* a = p.data<float>();
  const float* b = t.data<float>();
  const double n = static_cast<double>(std::max<int64_t>(p.numel(), 1));
  double s = 0;
  for (int64_t i = 0; i < p.numel(); ++i) {
    double d = static_cast<double>(a[i]) - b[i];
    double ad = std::fabs(d);
    s += ad <= delta ? 0.5 * d * d : delta * (ad - 0.5 * delta);
    double gi = ad <= delta ? d : delta * (d > 0 ? 1 : -1);
    r.grad.data<float>()[i] = static_cast<float>(gi / n);
  }
  r.loss = s / n;
  return r;
}

LossResult kl_divergence(const Tensor& student, const Tensor& teacher, float temperature) {
  EDGEOPT_CHECK_ARG(temperature > 0, "kl_divergence: temperature must be > 0");
  EDGEOPT_CHECK_ARG(student.shape() == teacher.shape(), "kl_divergence: student " + student.describe() +
                                                            " and teacher " + teacher.describe() + " differ in shape");
  int64_t n, c;
  rows_cols(student, n, c, "kl_divergence logits");
  LossResult r;
  r.grad = Tensor(DType::kF32, student.shape());
  const float inv_t = 1.f / temperature;
  std::vector<double> ls, lt;
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    log_softmax_row(student.data<float>() + i * c, c, inv_t, ls);
    log_softmax_row(teacher.data<float>() + i * c, c, inv_t, lt);
    for (int64_t j = 0; j < c; ++j) {
      double pt = std::exp(lt[j]);
      total += pt * (lt[j] - ls[j]);
      // d/dz_s of T^2 * KL = T * (softmax(z_s/T) - softmax(z_t/T))
      r.grad.data<float>()[i * c + j] = static_cast<float>(temperature * (std::exp(ls[j]) - pt) / n);
    }
  }
  r.loss = n ? total * temperature * temperature / n : 0;
  return r;
}

}  // namespace edgeopt::train

#include "monitor/drift.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "core/error.h"

namespace edgeopt::monitor {

using nlohmann::json;

namespace {

const float* f32(const Tensor& t, const char* what) {
  EDGEOPT_CHECK_ARG(t.defined() && t.dtype() == DType::kF32, std::string(what) + " must be a float32 tensor");
  return t.data<float>();
}

double quantile_sorted(const std::vector<double>& s, double q) {
  if (s.empty()) return 0;
  const double pos = q * static_cast<double>(s.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, s.size() - 1);
  return s[lo] + (pos - static_cast<double>(lo)) * (s[hi] - s[lo]);
}

std::string fmt(const char* f, double v) {
  char b[48];
  std::snprintf(b, sizeof b, f, v);
  return b;
}

}  // namespace

std::vector<std::vector<double>> extract_input_features(const Tensor& x, std::vector<std::string>* names) {
  const float* p = f32(x, "drift input");
  const auto& d = x.shape().dims();
  EDGEOPT_CHECK_ARG(d.size() >= 2, "drift input must be [N, ...], got rank " + std::to_string(d.size()));
  const int64_t n = d[0];
  std::vector<std::vector<double>> rows(static_cast<size_t>(n));
  if (names) names->clear();
  if (d.size() == 4) {  // images NCHW: per channel mean, std, p10, p90, gradient energy
    const int64_t c = d[1], h = d[2], w = d[3], hw = h * w;
    std::vector<double> px(static_cast<size_t>(hw));
    for (int64_t i = 0; i < n; ++i) {
      for (int64_t ch = 0; ch < c; ++ch) {
        const float* q = p + (i * c + ch) * hw;
        double s = 0, s2 = 0;
        for (int64_t k = 0; k < hw; ++k) {
          px[static_cast<size_t>(k)] = q[k];
          s += q[k];
          s2 += static_cast<double>(q[k]) * q[k];
        }
        const double mean = s / static_cast<double>(hw);
        const double var = std::max(0.0, s2 / static_cast<double>(hw) - mean * mean);
        const size_t k10 = static_cast<size_t>(0.1 * static_cast<double>(hw - 1));
        const size_t k90 = static_cast<size_t>(0.9 * static_cast<double>(hw - 1));
        std::nth_element(px.begin(), px.begin() + static_cast<std::ptrdiff_t>(k10), px.end());
        const double p10 = px[k10];
        std::nth_element(px.begin(), px.begin() + static_cast<std::ptrdiff_t>(k90), px.end());
        const double p90 = px[k90];
        // Mean |horizontal + vertical neighbour difference|: noise raises it, blur lowers it.
        double g = 0;
        for (int64_t y = 0; y < h; ++y)
          for (int64_t x2 = 0; x2 < w; ++x2) {
            const float v = q[y * w + x2];
            if (x2 + 1 < w) g += std::abs(q[y * w + x2 + 1] - v);
            if (y + 1 < h) g += std::abs(q[(y + 1) * w + x2] - v);
          }
        g /= static_cast<double>(std::max<int64_t>(1, (h - 1) * w + h * (w - 1)));
        auto& r = rows[static_cast<size_t>(i)];
        r.insert(r.end(), {mean, std::sqrt(var), p10, p90, g});
      }
    }
    if (names)
      for (int64_t ch = 0; ch < c; ++ch)
        for (const char* s : {"mean", "std", "p10", "p90", "gradient"})
          names->push_back("input.ch" + std::to_string(ch) + "." + s);
    return rows;
  }
  // [N, F] or [N, T, F]: each feature (series: mean over time), at most 64.
  const int64_t f = d.back();
  const int64_t t = d.size() == 3 ? d[1] : 1;
  EDGEOPT_CHECK_ARG(d.size() <= 3, "drift input must be [N, F], [N, T, F] or [N, C, H, W]");
  const int64_t kept = std::min<int64_t>(f, 64);
  for (int64_t i = 0; i < n; ++i) {
    auto& r = rows[static_cast<size_t>(i)];
    for (int64_t j = 0; j < kept; ++j) {
      double s = 0;
      for (int64_t k = 0; k < t; ++k) s += p[(i * t + k) * f + j];
      r.push_back(s / static_cast<double>(t));
    }
  }
  if (names)
    for (int64_t j = 0; j < kept; ++j) names->push_back("input.f" + std::to_string(j) + (t > 1 ? ".mean" : ""));
  return rows;
}

std::vector<std::vector<double>> extract_output_features(const Tensor& y, std::vector<std::string>* names) {
  const float* p = f32(y, "drift output");
  const int64_t n = y.shape()[0];
  const int64_t k = n > 0 ? y.numel() / n : 0;
  std::vector<std::vector<double>> rows(static_cast<size_t>(n));
  if (names) names->clear();
  if (k <= 1) {  // regression: the value
    for (int64_t i = 0; i < n; ++i) rows[static_cast<size_t>(i)] = {k == 1 ? p[i] : 0.0};
    if (names) names->push_back("output.value");
    return rows;
  }
  for (int64_t i = 0; i < n; ++i) {  // classifier logits: top-1 confidence and entropy of the softmax
    const float* q = p + i * k;
    const double m = *std::max_element(q, q + k);
    double z = 0;
    for (int64_t j = 0; j < k; ++j) z += std::exp(q[j] - m);
    double h = 0;
    for (int64_t j = 0; j < k; ++j) {
      const double pj = std::exp(q[j] - m) / z;
      if (pj > 0) h -= pj * std::log(pj);
    }
    rows[static_cast<size_t>(i)] = {1.0 / z, h};
  }
  if (names) *names = {"output.confidence", "output.entropy"};
  return rows;
}

double ks_statistic(std::vector<double> a, std::vector<double> b) {
  if (a.empty() || b.empty()) return 0;
  std::sort(a.begin(), a.end());
  std::sort(b.begin(), b.end());
  size_t i = 0, j = 0;
  double d = 0;
  const double na = static_cast<double>(a.size()), nb = static_cast<double>(b.size());
  while (i < a.size() && j < b.size()) {
    const double v = std::min(a[i], b[j]);
    while (i < a.size() && a[i] <= v) ++i;
    while (j < b.size() && b[j] <= v) ++j;
    d = std::max(d, std::abs(static_cast<double>(i) / na - static_cast<double>(j) / nb));
  }
  return d;
}

double ks_p_value(double d, size_t n, size_t m) {
  if (n == 0 || m == 0) return 1;
  const double ne = static_cast<double>(n) * static_cast<double>(m) / static_cast<double>(n + m);
  const double lambda = (std::sqrt(ne) + 0.12 + 0.11 / std::sqrt(ne)) * d;
  if (lambda < 0.3) return 1;
  double q = 0, sign = 1;
  for (int k = 1; k <= 100; ++k) {
    const double term = sign * std::exp(-2.0 * k * k * lambda * lambda);
    q += term;
    if (std::abs(term) < 1e-300 || std::abs(term) < 1e-12 * std::abs(q)) break;
    sign = -sign;
  }
  return std::clamp(2 * q, 0.0, 1.0);
}

double psi(const std::vector<double>& reference, const std::vector<double>& actual, int bins) {
  if (reference.empty() || actual.empty()) return 0;
  std::vector<double> r = reference;
  std::sort(r.begin(), r.end());
  std::vector<double> edges;
  for (int b = 1; b < bins; ++b) edges.push_back(quantile_sorted(r, static_cast<double>(b) / bins));
  auto hist = [&](const std::vector<double>& v) {
    std::vector<double> h(static_cast<size_t>(bins), 0.0);
    for (double x : v) h[static_cast<size_t>(std::upper_bound(edges.begin(), edges.end(), x) - edges.begin())] += 1;
    for (auto& c : h) c /= static_cast<double>(v.size());
    return h;
  };
  const auto e = hist(r), a = hist(actual);
  double s = 0;
  const double eps = 1e-4;
  for (int b = 0; b < bins; ++b) {
    const double pe = std::max(e[static_cast<size_t>(b)], eps), pa = std::max(a[static_cast<size_t>(b)], eps);
    s += (pa - pe) * std::log(pa / pe);
  }
  return s;
}

DriftDetector DriftDetector::fit(const Tensor& x, const Tensor* outputs, const DriftConfig& config) {
  EDGEOPT_CHECK_ARG(config.window >= 20 && config.step >= 1 && config.alpha > 0 && config.alpha < 1,
                    "drift config: window >= 20, step >= 1, 0 < alpha < 1");
  DriftDetector d;
  d.config_ = config;
  auto rows = extract_input_features(x, &d.names_);
  d.n_input_features_ = d.names_.size();
  EDGEOPT_CHECK_ARG(static_cast<int64_t>(rows.size()) >= 2 * config.window,
                    "drift reference: " + std::to_string(rows.size()) + " samples, need at least 2 x window (" +
                        std::to_string(2 * config.window) + ")");
  if (outputs) {
    EDGEOPT_CHECK_ARG(outputs->shape()[0] == x.shape()[0], "drift reference: outputs and inputs differ in N");
    std::vector<std::string> on;
    auto orows = extract_output_features(*outputs, &on);
    for (size_t i = 0; i < rows.size(); ++i) rows[i].insert(rows[i].end(), orows[i].begin(), orows[i].end());
    d.names_.insert(d.names_.end(), on.begin(), on.end());
    d.has_outputs_ = true;
  }
  // Evenly strided subsample (deterministic) of at most reference_max rows.
  const size_t n = rows.size();
  const size_t keep = std::min(n, static_cast<size_t>(std::max(config.reference_max, 2 * config.window)));
  d.reference_.assign(d.names_.size(), {});
  for (size_t k = 0; k < keep; ++k) {
    const auto& r = rows[k * n / keep];
    for (size_t f = 0; f < r.size(); ++f) d.reference_[f].push_back(r[f]);
  }
  for (auto& v : d.reference_) std::sort(v.begin(), v.end());
  return d;
}

json DriftDetector::to_json() const {
  return {{"version", 1},
          {"config", {{"window", config_.window}, {"step", config_.step}, {"alpha", config_.alpha},
                      {"psi_min", config_.psi_min}, {"reference_max", config_.reference_max}}},
          {"features", names_},
          {"input_features", n_input_features_},
          {"has_outputs", has_outputs_},
          {"reference", reference_}};
}

DriftDetector DriftDetector::from_json(const json& j) {
  auto need = [&](const char* k) {
    EDGEOPT_CHECK_ARG(j.is_object() && j.contains(k), std::string("drift reference: missing field '") + k + "'");
    return j.at(k);
  };
  DriftDetector d;
  try {
    const json c = need("config");
    d.config_.window = c.at("window").get<int>();
    d.config_.step = c.at("step").get<int>();
    d.config_.alpha = c.at("alpha").get<double>();
    d.config_.psi_min = c.at("psi_min").get<double>();
    d.config_.reference_max = c.at("reference_max").get<int>();
    d.names_ = need("features").get<std::vector<std::string>>();
    d.n_input_features_ = need("input_features").get<size_t>();
    d.has_outputs_ = need("has_outputs").get<bool>();
    d.reference_ = need("reference").get<std::vector<std::vector<double>>>();
  } catch (const json::exception& e) {
    throw_error(ErrorCode::kInvalidArgument, std::string("drift reference: ") + e.what());
  }
  EDGEOPT_CHECK_ARG(d.reference_.size() == d.names_.size() && d.n_input_features_ <= d.names_.size(),
                    "drift reference: 'reference' has " + std::to_string(d.reference_.size()) + " features, 'features' " +
                        std::to_string(d.names_.size()));
  EDGEOPT_CHECK_ARG(d.config_.window >= 20 && d.config_.step >= 1 && d.config_.alpha > 0 && d.config_.alpha < 1,
                    "drift reference: config out of range (window >= 20, step >= 1, 0 < alpha < 1)");
  for (size_t f = 0; f < d.reference_.size(); ++f) {
    auto& v = d.reference_[f];
    EDGEOPT_CHECK_ARG(v.size() >= static_cast<size_t>(d.config_.window), "drift reference: feature '" + d.names_[f] +
                                                                              "' has too few samples");
    std::sort(v.begin(), v.end());
  }
  return d;
}

void DriftDetector::reset_window() {
  window_.clear();
  since_test_ = 0;
}

DriftStatus DriftDetector::observe(const Tensor& x, const Tensor* outputs) {
  std::vector<std::string> names;
  auto rows = extract_input_features(x, &names);
  EDGEOPT_CHECK_ARG(names.size() == n_input_features_,
                    "drift: the input has " + std::to_string(names.size()) + " features, the reference " +
                        std::to_string(n_input_features_) + " (another model's input?)");
  if (has_outputs_) {
    EDGEOPT_CHECK_ARG(outputs != nullptr, "drift: this reference also tests outputs; pass the model's outputs");
    auto orows = extract_output_features(*outputs, nullptr);
    EDGEOPT_CHECK_ARG(orows.size() == rows.size(), "drift: outputs and inputs differ in N");
    for (size_t i = 0; i < rows.size(); ++i) rows[i].insert(rows[i].end(), orows[i].begin(), orows[i].end());
  }
  status_.tested = false;
  for (auto& r : rows) {
    EDGEOPT_CHECK_ARG(r.size() == names_.size(), "drift: feature count changed between batches");
    window_.push_back(std::move(r));
    if (static_cast<int>(window_.size()) > config_.window) window_.pop_front();
    ++status_.samples_seen;
    ++since_test_;
    if (static_cast<int>(window_.size()) == config_.window && since_test_ >= config_.step) {
      test();
      since_test_ = 0;
    }
  }
  return status_;
}

void DriftDetector::test() {
  status_.tested = true;
  status_.features.clear();
  status_.alarm = false;
  status_.reason.clear();
  status_.max_psi = status_.max_ks = 0;
  const double per_feature_alpha = config_.alpha / static_cast<double>(names_.size());
  double worst_p = 2;
  for (size_t f = 0; f < names_.size(); ++f) {
    std::vector<double> w;
    w.reserve(window_.size());
    for (const auto& r : window_) w.push_back(r[f]);
    FeatureDrift fd;
    fd.name = names_[f];
    fd.ks = ks_statistic(reference_[f], w);
    fd.p_value = ks_p_value(fd.ks, reference_[f].size(), w.size());
    fd.psi = psi(reference_[f], w);
    status_.max_psi = std::max(status_.max_psi, fd.psi);
    status_.max_ks = std::max(status_.max_ks, fd.ks);
    if (fd.p_value < per_feature_alpha && fd.psi >= config_.psi_min && fd.p_value < worst_p) {
      worst_p = fd.p_value;
      status_.alarm = true;
      status_.reason = fd.name + ": KS " + fmt("%.3f", fd.ks) + " (p " + fmt("%.2g", fd.p_value) + ") PSI " + fmt("%.3f", fd.psi);
    }
    status_.features.push_back(fd);
  }
  if (status_.alarm && status_.first_alarm_at < 0) status_.first_alarm_at = status_.samples_seen;
}

}  // namespace edgeopt::monitor

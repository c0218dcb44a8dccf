#include "train/data/dataset.h"

#include <algorithm>
#include <cstring>
#include <sstream>

#include "core/error.h"

namespace edgeopt::train {

namespace {

Tensor take_rows(const Tensor& t, const std::vector<int64_t>& idx) {
  if (!t.defined()) return {};
  const int64_t n = t.shape()[0];
  std::vector<int64_t> dims = t.shape().dims();
  dims[0] = static_cast<int64_t>(idx.size());
  Tensor out(t.dtype(), Shape(dims));
  const size_t row = n > 0 ? t.nbytes() / static_cast<size_t>(n) : 0;
  const auto* src = static_cast<const uint8_t*>(t.raw());
  auto* dst = static_cast<uint8_t*>(out.raw());
  for (size_t i = 0; i < idx.size(); ++i) {
    EDGEOPT_CHECK_ARG(idx[i] >= 0 && idx[i] < n,
                      "subset: index " + std::to_string(idx[i]) + " is outside [0, " + std::to_string(n) + ")");
    std::memcpy(dst + i * row, src + static_cast<size_t>(idx[i]) * row, row);
  }
  return out;
}

uint64_t mix(uint64_t a, uint64_t b) {
  SplitMix64 r(a ^ (b * 0x9E3779B97F4A7C15ull));
  return r.next_u64();
}

std::string join(const std::vector<std::string>& v, size_t max_items = 12) {
  std::string s;
  for (size_t i = 0; i < v.size() && i < max_items; ++i) s += (i ? ", " : "") + v[i];
  if (v.size() > max_items) s += ", ... (" + std::to_string(v.size()) + " in all)";
  return s;
}

std::string fmt(float v) {
  std::ostringstream o;
  o.precision(4);
  o << v;
  return o.str();
}

}  // namespace

Dataset Dataset::subset(const std::vector<int64_t>& idx) const {
  Dataset d;
  d.x = take_rows(x, idx);
  d.y = take_rows(y, idx);
  if (!group.empty())
    for (int64_t i : idx) d.group.push_back(group.at(static_cast<size_t>(i)));
  if (!step.empty())
    for (int64_t i : idx) d.step.push_back(step.at(static_cast<size_t>(i)));
  return d;
}

std::string DataSplits::describe() const {
  std::ostringstream o;
  o << "dataset " << name << ": " << task;
  if (task == "classification") o << ", " << num_classes << " classes";
  o << "\n";
  auto split = [&](const char* n, const Dataset& d) {
    o << "  " << n << ": " << d.size() << " samples, x " << (d.x.defined() ? d.x.describe() : "-") << ", y "
      << (d.y.defined() ? d.y.describe() : "-") << "\n";
  };
  split("train", train);
  split("val  ", val);
  split("test ", test);
  o << "  layout " << layout;
  if (window > 0) o << ", window " << window << ", horizon " << horizon;
  if (sample_period_s > 0) o << ", sample period " << sample_period_s << " s";
  o << "\n";
  if (!class_names.empty()) o << "  classes: " << join(class_names) << "\n";
  if (!feature_names.empty()) o << "  features: " << join(feature_names, 40) << "\n";
  if (!target_names.empty()) o << "  targets: " << join(target_names) << "\n";
  if (!feature_mean.empty()) {
    o << "  normalization (train statistics):";
    for (size_t i = 0; i < feature_mean.size() && i < 16; ++i)
      o << " " << (i < feature_names.size() ? feature_names[i] : std::to_string(i)) << " " << fmt(feature_mean[i])
        << "+-" << fmt(feature_std[i]) << (i + 1 < feature_mean.size() ? ";" : "");
    if (feature_mean.size() > 16) o << " ...";
    o << "\n";
  }
  for (size_t i = 0; i < target_mean.size(); ++i)
    o << "  target " << (i < target_names.size() ? target_names[i] : std::to_string(i)) << ": mean "
      << fmt(target_mean[i]) << ", std " << fmt(target_std[i]) << " (y is standardized)\n";
  if (!notes.empty()) o << "  notes: " << notes << "\n";
  if (!provenance.empty()) o << "  source: " << provenance << "\n";
  return o.str();
}

Tensor DataSplits::inverse_target(const Tensor& y_std) const {
  EDGEOPT_CHECK_ARG(y_std.dtype() == DType::kF32, "inverse_target: predictions must be f32, got " + y_std.describe());
  const size_t k = target_mean.size();
  EDGEOPT_CHECK_ARG(k > 0, "inverse_target: data set '" + name + "' has no target statistics (task " + task + ")");
  EDGEOPT_CHECK_ARG(y_std.rank() >= 1 && static_cast<size_t>(y_std.shape()[y_std.rank() - 1]) == k,
                    "inverse_target: predictions " + y_std.describe() + " need a last dim of " + std::to_string(k));
  Tensor out = y_std.clone();
  float* p = out.data<float>();
  for (int64_t i = 0; i < out.numel(); ++i) {
    const size_t j = static_cast<size_t>(i) % k;
    p[i] = p[i] * target_std[j] + target_mean[j];
  }
  return out;
}

Tensor DataSplits::normalize_x(const Tensor& x_raw) const {
  EDGEOPT_CHECK_ARG(x_raw.dtype() == DType::kF32, "normalize_x: x must be f32, got " + x_raw.describe());
  Tensor out = x_raw.clone();
  if (feature_mean.empty()) return out;
  const size_t f = feature_mean.size();
  float* p = out.data<float>();
  if (layout == "NCHW") {
    EDGEOPT_CHECK_ARG(x_raw.rank() == 4 && static_cast<size_t>(x_raw.shape()[1]) == f,
                      "normalize_x: x " + x_raw.describe() + " needs layout NCHW with C=" + std::to_string(f));
    const int64_t hw = x_raw.shape()[2] * x_raw.shape()[3];
    for (int64_t i = 0; i < out.numel(); ++i) {
      const size_t c = static_cast<size_t>((i / hw) % static_cast<int64_t>(f));
      p[i] = (p[i] - feature_mean[c]) / feature_std[c];
    }
    return out;
  }
  EDGEOPT_CHECK_ARG(x_raw.rank() >= 1 && static_cast<size_t>(x_raw.shape()[x_raw.rank() - 1]) == f,
                    "normalize_x: x " + x_raw.describe() + " needs a last dim of " + std::to_string(f) + " features");
  for (int64_t i = 0; i < out.numel(); ++i) {
    const size_t c = static_cast<size_t>(i) % f;
    p[i] = (p[i] - feature_mean[c]) / feature_std[c];
  }
  return out;
}

uint64_t SplitMix64::next_u64() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t SplitMix64::uniform(uint64_t n) {
  // Rejection sampling keeps the draw unbiased for any n.
  const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  uint64_t v;
  do v = next_u64();
  while (v >= limit);
  return v % n;
}

double SplitMix64::uniform01() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed) {
  std::vector<int64_t> p(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) p[static_cast<size_t>(i)] = i;
  SplitMix64 r(seed);
  for (int64_t i = n - 1; i > 0; --i)
    std::swap(p[static_cast<size_t>(i)], p[r.uniform(static_cast<uint64_t>(i) + 1)]);
  return p;
}

Tensor augment_images(const Tensor& x, const ImageAugment& aug, uint64_t seed) {
  EDGEOPT_CHECK_ARG(x.dtype() == DType::kF32 && x.rank() == 4,
                    "augment_images: x must be f32 [N,C,H,W], got " + x.describe());
  EDGEOPT_CHECK_ARG(aug.pad >= 0, "augment_images: pad must be >= 0, got " + std::to_string(aug.pad));
  const int64_t n = x.shape()[0], c = x.shape()[1], h = x.shape()[2], w = x.shape()[3];
  Tensor out = Tensor::zeros(DType::kF32, x.shape());
  const float* src = x.data<float>();
  float* dst = out.data<float>();
  SplitMix64 r(seed);
  for (int64_t i = 0; i < n; ++i) {
    // Output pixel (y, x) reads input (y + dy, x + dx); outside the image is the zero padding.
    const int64_t dy = aug.pad > 0 ? static_cast<int64_t>(r.uniform(2 * aug.pad + 1)) - aug.pad : 0;
    const int64_t dx = aug.pad > 0 ? static_cast<int64_t>(r.uniform(2 * aug.pad + 1)) - aug.pad : 0;
    const bool flip = aug.hflip && (r.next_u64() >> 63);
    for (int64_t ch = 0; ch < c; ++ch) {
      const float* s = src + (i * c + ch) * h * w;
      float* d = dst + (i * c + ch) * h * w;
      for (int64_t yy = 0; yy < h; ++yy) {
        const int64_t sy = yy + dy;
        if (sy < 0 || sy >= h) continue;
        for (int64_t xx = 0; xx < w; ++xx) {
          const int64_t sx = (flip ? w - 1 - xx : xx) + dx;
          if (sx < 0 || sx >= w) continue;
          d[yy * w + xx] = s[sy * w + sx];
        }
      }
    }
  }
  return out;
}

BatchIterator::BatchIterator(const Dataset& ds, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last)
    : ds_(ds), batch_(batch_size), shuffle_(shuffle), drop_last_(drop_last), seed_(seed) {
  EDGEOPT_CHECK_ARG(batch_size > 0, "BatchIterator: batch size must be > 0, got " + std::to_string(batch_size));
  EDGEOPT_CHECK_ARG(ds.x.defined() && ds.y.defined(), "BatchIterator: the data set has no x or y");
  EDGEOPT_CHECK_ARG(ds.y.shape()[0] == ds.size(), "BatchIterator: x " + ds.x.describe() + " and y " +
                                                      ds.y.describe() + " differ in their first dim");
  start_epoch(0);
}

void BatchIterator::set_augment(const ImageAugment& aug) {
  EDGEOPT_CHECK_ARG(!aug.enabled() || (ds_.x.rank() == 4 && ds_.x.dtype() == DType::kF32),
                    "BatchIterator: image augmentation needs x f32 [N,C,H,W], got " + ds_.x.describe());
  aug_ = aug;
}

void BatchIterator::start_epoch(int64_t epoch) {
  epoch_ = epoch;
  pos_ = 0;
  batch_index_ = 0;
  if (shuffle_) {
    order_ = seeded_permutation(ds_.size(), mix(seed_, static_cast<uint64_t>(epoch)));
  } else {
    order_.resize(static_cast<size_t>(ds_.size()));
    for (int64_t i = 0; i < ds_.size(); ++i) order_[static_cast<size_t>(i)] = i;
  }
}

int64_t BatchIterator::num_batches() const {
  const int64_t n = ds_.size();
  return drop_last_ ? n / batch_ : (n + batch_ - 1) / batch_;
}

bool BatchIterator::next(Batch& out) {
  const int64_t n = ds_.size();
  const int64_t remaining = n - pos_;
  if (remaining <= 0 || (drop_last_ && remaining < batch_)) return false;
  const int64_t b = std::min(batch_, remaining);
  out.indices.assign(order_.begin() + pos_, order_.begin() + pos_ + b);
  out.x = take_rows(ds_.x, out.indices);
  out.y = take_rows(ds_.y, out.indices);
  if (aug_.enabled())
    out.x = augment_images(out.x, aug_, mix(mix(seed_, static_cast<uint64_t>(epoch_)) + 1,
                                            static_cast<uint64_t>(batch_index_)));
  pos_ += b;
  ++batch_index_;
  return true;
}

}  // namespace edgeopt::train

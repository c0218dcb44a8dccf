#include "train/data/npy_dataset.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/error.h"
#include "core/npy.h"

namespace edgeopt::train {

namespace {

namespace fs = std::filesystem;

Dataset make_dataset(const Tensor& x, const Tensor& y, const std::string& xp, const std::string& yp) {
  EDGEOPT_CHECK_ARG(x.rank() >= 1 && y.rank() >= 1, "npy '" + xp + "' and '" + yp + "' must have a sample dim");
  EDGEOPT_CHECK_ARG(x.shape()[0] == y.shape()[0], "npy '" + xp + "' has " + std::to_string(x.shape()[0]) +
                                                      " samples but '" + yp + "' has " + std::to_string(y.shape()[0]));
  Dataset d;
  d.x = x.dtype() == DType::kF32 ? x : x.cast(DType::kF32);
  const bool integer = y.dtype() == DType::kI64 || y.dtype() == DType::kI32 || y.dtype() == DType::kU8 ||
                       y.dtype() == DType::kI8;
  if (integer) {
    EDGEOPT_CHECK_ARG(y.rank() == 1, "npy labels '" + yp + "' must be rank 1 [N], got " + y.describe());
    d.y = y.cast(DType::kI64);
    const int64_t* p = d.y.data<int64_t>();
    for (int64_t i = 0; i < d.y.numel(); ++i)
      EDGEOPT_CHECK_ARG(p[i] >= 0, "npy labels '" + yp + "': label " + std::to_string(p[i]) + " at index " +
                                       std::to_string(i) + " is negative");
  } else {
    const Tensor yf = y.dtype() == DType::kF32 ? y : y.cast(DType::kF32);
    const int64_t n = yf.shape()[0];
    d.y = yf.reshaped(Shape{n, n > 0 ? yf.numel() / n : 1});
  }
  return d;
}

Tensor read(const std::string& p) {
  if (!fs::is_regular_file(p)) throw_error(ErrorCode::kNotFound, "npy file '" + p + "' not found");
  return read_npy(p);
}

DataSplits finish(DataSplits d, const std::string& name) {
  d.name = name;
  const size_t r = d.train.x.rank();
  d.layout = r == 4 ? "NCHW" : r == 3 ? "NTF" : "NF";
  for (const Dataset* s : {&d.val, &d.test})
    if (s->x.defined()) {
      const auto& a = d.train.x.shape().dims();
      const auto& b = s->x.shape().dims();
      EDGEOPT_CHECK_ARG(a.size() == b.size() && std::equal(a.begin() + 1, a.end(), b.begin() + 1),
                        "npy '" + name + "': train x " + d.train.x.describe() + " and x " + s->x.describe() +
                            " differ in their per-sample shape");
    }
  if (d.train.y.dtype() == DType::kI64) {
    d.task = "classification";
    int64_t mx = -1;
    for (const Dataset* s : {&d.train, &d.val, &d.test})
      for (int64_t i = 0; s->y.defined() && i < s->y.numel(); ++i) mx = std::max(mx, s->y.data<int64_t>()[i]);
    d.num_classes = static_cast<int>(mx + 1);
    for (int k = 0; k < d.num_classes; ++k) d.class_names.push_back(std::to_string(k));
  } else {
    d.task = "regression";
    const int64_t k = d.train.y.shape()[1];
    d.target_mean.assign(static_cast<size_t>(k), 0.0f);
    d.target_std.assign(static_cast<size_t>(k), 1.0f);
  }
  const int64_t nf = r == 4 ? d.train.x.shape()[1] : d.train.x.shape()[r - 1];
  for (int64_t f = 0; r >= 2 && f < nf; ++f) d.feature_names.push_back("f" + std::to_string(f));
  d.notes = "arrays used as given (no normalization)";
  return d;
}

}  // namespace

DataSplits load_npy_dir(const std::string& dir, double val_fraction, uint64_t seed) {
  if (!fs::is_directory(dir)) throw_error(ErrorCode::kNotFound, "npy directory '" + dir + "' not found");
  auto p = [&](const char* n) { return (fs::path(dir) / n).string(); };
  DataSplits d;
  d.train = make_dataset(read(p("x_train.npy")), read(p("y_train.npy")), p("x_train.npy"), p("y_train.npy"));
  d.test = make_dataset(read(p("x_test.npy")), read(p("y_test.npy")), p("x_test.npy"), p("y_test.npy"));
  if (fs::is_regular_file(p("x_val.npy"))) {
    d.val = make_dataset(read(p("x_val.npy")), read(p("y_val.npy")), p("x_val.npy"), p("y_val.npy"));
  } else {
    EDGEOPT_CHECK_ARG(val_fraction >= 0 && val_fraction < 1, "val_fraction must be in [0, 1)");
    const int64_t n = d.train.size();
    const int64_t nv = static_cast<int64_t>(std::floor(val_fraction * static_cast<double>(n)));
    const std::vector<int64_t> perm = seeded_permutation(n, seed);
    std::vector<int64_t> v(perm.begin(), perm.begin() + nv), t(perm.begin() + nv, perm.end());
    std::sort(v.begin(), v.end());
    std::sort(t.begin(), t.end());
    Dataset all = d.train;
    d.val = all.subset(v);
    d.train = all.subset(t);
  }
  return finish(std::move(d), dir);
}

DataSplits load_npy_pair(const std::string& x_path, const std::string& y_path, double test_fraction,
                         double val_fraction, uint64_t seed) {
  EDGEOPT_CHECK_ARG(test_fraction > 0 && test_fraction < 1 && val_fraction >= 0 && val_fraction < 1,
                    "npy pair: test_fraction must be in (0, 1) and val_fraction in [0, 1)");
  Dataset all = make_dataset(read(x_path), read(y_path), x_path, y_path);
  const int64_t n = all.size();
  const int64_t nt = std::max<int64_t>(1, std::llround(test_fraction * static_cast<double>(n)));
  const int64_t nv = std::llround(val_fraction * static_cast<double>(n - nt));
  EDGEOPT_CHECK_ARG(n - nt - nv >= 1, "npy pair '" + x_path + "': " + std::to_string(n) + " samples leave none for training");
  const std::vector<int64_t> perm = seeded_permutation(n, seed);
  std::vector<int64_t> idx[3] = {{perm.begin() + nt + nv, perm.end()},
                                 {perm.begin() + nt, perm.begin() + nt + nv},
                                 {perm.begin(), perm.begin() + nt}};
  for (auto& v : idx) std::sort(v.begin(), v.end());
  DataSplits d;
  d.train = all.subset(idx[0]);
  d.val = all.subset(idx[1]);
  d.test = all.subset(idx[2]);
  return finish(std::move(d), x_path + "," + y_path);
}

}  // namespace edgeopt::train

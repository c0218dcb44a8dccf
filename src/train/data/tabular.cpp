#include "train/data/tabular.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"

namespace edgeopt::train {

DataSplits load_csv_tabular(const std::string& path, const TabularOptions& opts) {
  return load_tabular_table(read_csv(path), opts);
}

DataSplits load_tabular_table(const CsvTable& t, const TabularOptions& opts) {
  EDGEOPT_CHECK_ARG(!opts.label.empty(), "tabular '" + t.path + "': no label column given");
  EDGEOPT_CHECK_ARG(opts.task == "classification" || opts.task == "regression",
                    "tabular: task must be 'classification' or 'regression', got '" + opts.task + "'");
  EDGEOPT_CHECK_ARG(opts.test_fraction > 0 && opts.test_fraction < 1,
                    "tabular: test_fraction must be in (0, 1), got " + std::to_string(opts.test_fraction));
  EDGEOPT_CHECK_ARG(opts.val_fraction >= 0 && opts.val_fraction < 1,
                    "tabular: val_fraction must be in [0, 1), got " + std::to_string(opts.val_fraction));
  if (!t.has_column(opts.label)) {
    std::string all;
    for (const auto& h : t.header) all += (all.empty() ? "" : ", ") + h;
    throw_error(ErrorCode::kNotFound, "file '" + t.path + "' has no label column '" + opts.label + "' (columns: " + all + ")");
  }
  const size_t label_c = t.column_index(opts.label);
  std::vector<size_t> feat_c;
  DataSplits d;
  if (opts.features.empty()) {
    for (size_t c = 0; c < t.header.size(); ++c)
      if (c != label_c && t.is_numeric_column(c)) {
        feat_c.push_back(c);
        d.feature_names.push_back(t.header[c]);
      }
  } else {
    for (const auto& f : opts.features) {
      const size_t c = t.column_index(f);
      EDGEOPT_CHECK_ARG(c != label_c, "tabular '" + t.path + "': column '" + f + "' is both a feature and the label");
      feat_c.push_back(c);
      d.feature_names.push_back(f);
    }
  }
  EDGEOPT_CHECK_ARG(!feat_c.empty(), "tabular '" + t.path + "': no numeric feature columns besides the label");
  std::vector<std::vector<double>> cols;
  for (size_t c : feat_c) cols.push_back(t.numeric_column(c));
  const int64_t n = static_cast<int64_t>(t.num_rows());
  EDGEOPT_CHECK_ARG(n >= 3, "tabular '" + t.path + "': needs at least 3 rows, has " + std::to_string(n));

  std::vector<int64_t> ids;
  std::vector<double> yreg;
  if (opts.task == "classification") {
    std::vector<std::string> names;
    for (size_t r = 0; r < t.num_rows(); ++r) {
      const std::string& v = t.rows[r][label_c];
      if (v.find_first_not_of(" \t") == std::string::npos)
        throw_error(ErrorCode::kInvalidArgument, t.where(r, label_c) + ": label column '" + opts.label + "' is empty");
      names.push_back(v);
    }
    std::sort(names.begin(), names.end());
    names.erase(std::unique(names.begin(), names.end()), names.end());
    const bool numeric = std::all_of(names.begin(), names.end(), [](const std::string& s) { return parse_number(s).has_value(); });
    if (numeric)
      std::stable_sort(names.begin(), names.end(),
                       [](const std::string& a, const std::string& b) { return *parse_number(a) < *parse_number(b); });
    std::map<std::string, int64_t> id;
    for (size_t k = 0; k < names.size(); ++k) id[names[k]] = static_cast<int64_t>(k);
    for (size_t r = 0; r < t.num_rows(); ++r) ids.push_back(id[t.rows[r][label_c]]);
    d.class_names = names;
    d.num_classes = static_cast<int>(names.size());
  } else {
    yreg = t.numeric_column(label_c);
    d.target_names = {opts.label};
  }

  const int64_t n_test = std::max<int64_t>(1, std::llround(static_cast<double>(n) * opts.test_fraction));
  const int64_t n_val = std::llround(static_cast<double>(n - n_test) * opts.val_fraction);
  EDGEOPT_CHECK_ARG(n - n_test - n_val >= 1, "tabular '" + t.path + "': no rows left for training");
  const std::vector<int64_t> perm = seeded_permutation(n, opts.seed);
  std::vector<int64_t> idx[3];
  idx[2].assign(perm.begin(), perm.begin() + n_test);
  idx[1].assign(perm.begin() + n_test, perm.begin() + n_test + n_val);
  idx[0].assign(perm.begin() + n_test + n_val, perm.end());
  for (auto& v : idx) std::sort(v.begin(), v.end());

  const size_t nf = feat_c.size();
  double tsum = 0, tsq = 0;
  for (size_t f = 0; f < nf; ++f) {
    double s = 0, q = 0;
    for (int64_t r : idx[0]) {
      const double v = cols[f][static_cast<size_t>(r)];
      s += v;
      q += v * v;
    }
    const double cnt = static_cast<double>(idx[0].size());
    const double m = s / cnt, var = std::max(0.0, q / cnt - m * m);
    d.feature_mean.push_back(opts.standardize ? static_cast<float>(m) : 0.0f);
    d.feature_std.push_back(opts.standardize && var > 1e-12 ? static_cast<float>(std::sqrt(var)) : 1.0f);
  }
  if (!yreg.empty()) {
    for (int64_t r : idx[0]) {
      tsum += yreg[static_cast<size_t>(r)];
      tsq += yreg[static_cast<size_t>(r)] * yreg[static_cast<size_t>(r)];
    }
    const double cnt = static_cast<double>(idx[0].size());
    const double m = tsum / cnt, var = std::max(0.0, tsq / cnt - m * m);
    d.target_mean = {opts.standardize ? static_cast<float>(m) : 0.0f};
    d.target_std = {opts.standardize && var > 1e-12 ? static_cast<float>(std::sqrt(var)) : 1.0f};
  }

  Dataset* out[3] = {&d.train, &d.val, &d.test};
  for (int k = 0; k < 3; ++k) {
    const int64_t m = static_cast<int64_t>(idx[k].size());
    Dataset& ds = *out[k];
    ds.x = Tensor(DType::kF32, Shape{m, static_cast<int64_t>(nf)});
    float* x = ds.x.data<float>();
    for (int64_t i = 0; i < m; ++i)
      for (size_t f = 0; f < nf; ++f)
        x[static_cast<size_t>(i) * nf + f] = static_cast<float>(
            (cols[f][static_cast<size_t>(idx[k][static_cast<size_t>(i)])] - d.feature_mean[f]) / d.feature_std[f]);
    if (yreg.empty()) {
      ds.y = Tensor(DType::kI64, Shape{m});
      for (int64_t i = 0; i < m; ++i) ds.y.data<int64_t>()[i] = ids[static_cast<size_t>(idx[k][static_cast<size_t>(i)])];
    } else {
      ds.y = Tensor(DType::kF32, Shape{m, 1});
      for (int64_t i = 0; i < m; ++i)
        ds.y.data<float>()[i] = static_cast<float>((yreg[static_cast<size_t>(idx[k][static_cast<size_t>(i)])] - d.target_mean[0]) / d.target_std[0]);
    }
  }
  d.name = t.path;
  d.task = opts.task;
  d.layout = "NF";
  d.notes = "rows split by seed " + std::to_string(opts.seed) + ": test " + std::to_string(n_test) + ", val " +
            std::to_string(n_val) + ", train " + std::to_string(idx[0].size()) + "; features standardized with train statistics";
  return d;
}

}  // namespace edgeopt::train

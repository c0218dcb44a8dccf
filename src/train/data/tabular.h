// Tabular CSV -> named feature columns and a label column.
//
//   TabularOptions o;
//   o.label = "weather";                       // categorical: ids in sorted order of the names
//   DataSplits d = load_csv_tabular("seattle-weather.csv", o);
//   // d.train.x f32 [N,F] standardized with train mean/std; d.train.y i64 [N]; d.class_names
//
// Classification labels: the distinct values of the label column, sorted (numerically when all are
// numbers), become ids 0..K-1; the names are kept. Regression (task = "regression"): y f32 [N,1],
// standardized like a feature. Rows are split by a seeded permutation (test, then val, rest train).
#pragma once
#include <string>
#include <vector>

#include "train/data/csv.h"
#include "train/data/dataset.h"

namespace edgeopt::train {

struct TabularOptions {
  std::string label;                  // required
  std::vector<std::string> features;  // empty: every numeric column except the label
  std::string task = "classification";
  double test_fraction = 0.2;
  double val_fraction = 0.1;          // of the rows left after the test carve
  uint64_t seed = 0;
  bool standardize = true;
};

// Throws NotFound for a missing file, feature or label column (listing the columns), and
// InvalidArgument with file:line:column, the column name and the text for a non-numeric feature.
DataSplits load_csv_tabular(const std::string& path, const TabularOptions& opts);
DataSplits load_tabular_table(const CsvTable& table, const TabularOptions& opts);

}  // namespace edgeopt::train

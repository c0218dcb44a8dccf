// One entry point from a data-set SPEC to DataSplits (see dataset.h for the layouts).
//
//   DataSplits d = load_dataset("seattle-weather", {});
//   std::string summary = d.describe();       // nothing is printed here; the caller decides
//
// SPEC is one of:
//   fashion-mnist      Fashion-MNIST IDX (Debian dataset-fashion-mnist): x [N,1,28,28], 10 classes;
//                      60,000 train (minus val_fraction, default 0.1, drawn by seed) / 10,000 test.
//   seattle-weather    forecast temp_max 3 days ahead from the previous 14 days of precipitation,
//                      temp_max, temp_min, wind + day-of-year sin/cos: x [N,14,6], y [N,1];
//                      train 2012-2014 (val = its last val_fraction, default 0.2), test 2015.
//   wsn-temperature    Suthaharan WSN motes, both deployments, each mote its own series:
//                      temperature 12 readings (1 minute) ahead from the previous `window`
//                      (default 24) readings of temperature and humidity; chronological split per
//                      mote (last test_fraction 0.2 test, last val_fraction 0.1 of the rest val);
//                      the labelled event rows are left out (gaps).
//   wsn-events         event detection (binary, "normal"/"event") from window features of the last
//                      `window` (default 12, 1 minute) readings of one mote; train on the single-hop
//                      deployment (val_fraction 0.2 drawn by seed), test on the multi-hop one.
//   <dir>              IDX directory ({train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]) or a
//                      directory with x_train.npy y_train.npy x_test.npy y_test.npy [x_val y_val].
//   <x.npy>,<y.npy>    arrays split by seed (test_fraction, val_fraction).
//   <file.csv>         a time series when `target` is set, a table when `label` is set.
//
// Errors: NotFound for a missing file or directory (named) or an unknown name (listing the known
// ones); the loaders' InvalidArgument for bad content (file:line:column, column, text).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "train/data/dataset.h"

namespace edgeopt::train {

struct DatasetOptions {
  uint64_t seed = 0;
  double val_fraction = -1;   // < 0: the data set's default
  double test_fraction = -1;  // < 0: the data set's default (CSV, npy pair)
  int64_t max_train = 0;      // IDX: use only the first N train / test images (0: all)
  int64_t max_test = 0;
  std::string data_dir;       // looked in first for named sets (then $EDGEOPT_DATA_DIR, system paths)

  // CSV time series (and overrides for the named forecasting sets when non-zero / non-empty).
  std::string target;
  std::vector<std::string> features;
  std::string date_column, group_column, sequence_column;
  int window = 0;
  int horizon = 0;
  std::string test_start;
  bool day_of_year = false, hour_of_day = false;
  bool allow_missing = false;

  // CSV tabular.
  std::string label;
  std::string task = "classification";  // or "regression"
};

DataSplits load_dataset(const std::string& spec, const DatasetOptions& opts = {});

// The short names load_dataset knows.
std::vector<std::string> named_datasets();

// Where a named set's files are found ("" when absent), for tests that skip without the data.
std::string find_fashion_mnist_dir(const std::string& data_dir = "");
std::string find_seattle_weather_csv(const std::string& data_dir = "");
std::string find_wsn_dir(const std::string& data_dir = "");  // holds single_hop.csv, multi_hop.csv

// The window features of wsn-events, in this order, for temperature and humidity each:
// last value, window mean, window std, last - first, max - min.
std::vector<std::string> wsn_event_feature_names();

}  // namespace edgeopt::train

// .npy arrays -> DataSplits, used as given (no normalization: the arrays are assumed prepared).
//
//   DataSplits a = load_npy_dir("prepared/");          // x_train.npy y_train.npy x_test.npy y_test.npy
//                                                      // [x_val.npy y_val.npy]
//   DataSplits b = load_npy_pair("x.npy", "y.npy", 0.2, 0.1, /*seed=*/0);   // split by seed
//
// x becomes f32 (layout NCHW for rank 4, NTF for rank 3, NF for rank 2). An integer y of rank 1
// is classification (num_classes = max label + 1); a float y is regression, reshaped to [N,k]
// with target mean 0 / std 1 (already in the units to report).
#pragma once
#include <string>

#include "train/data/dataset.h"

namespace edgeopt::train {

// Throws NotFound naming the missing file, InvalidArgument when x and y disagree on N, a label is
// negative, or the train/test arrays differ in their per-sample shape.
DataSplits load_npy_dir(const std::string& dir, double val_fraction, uint64_t seed);
DataSplits load_npy_pair(const std::string& x_path, const std::string& y_path, double test_fraction,
                         double val_fraction, uint64_t seed);

}  // namespace edgeopt::train

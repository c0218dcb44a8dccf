// IDX files (the MNIST / Fashion-MNIST format), gzip-compressed or raw, and the image
// classification splits built from them.
//
//   IdxArray a = read_idx("train-images-idx3-ubyte.gz");   // u8 [60000,28,28]
//   DataSplits d = load_idx_classification("/usr/share/datasets/fashion-mnist", opts);
//
// Format (http://yann.lecun.com/exdb/mnist/): 2 zero bytes, a type byte (0x08 u8, 0x09 i8,
// 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64), a rank byte, rank big-endian u32 dims, then the
// values big-endian, row-major.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "train/data/dataset.h"

namespace edgeopt::train {

struct IdxArray {
  std::vector<int64_t> dims;
  uint8_t type = 0x08;         // the IDX element type byte
  std::vector<uint8_t> bytes;  // the payload as stored (big-endian), numel * element size bytes
  int64_t numel() const;
  double at(int64_t i) const;  // element i widened to double; no bounds check
};

// Reads a gzip or raw IDX file (zlib reads both). Throws NotFound for a missing file and
// InvalidArgument naming the file for a bad magic, a truncated payload or trailing bytes.
IdxArray read_idx(const std::string& path);
// Parses IDX bytes already in memory (decompressed); `origin` names them in errors. The header's
// dims are checked against the bytes present before anything is allocated (fuzzed:
// tests/fuzz/idx_parse_fuzz.cpp).
IdxArray parse_idx(std::string_view bytes, const std::string& origin = "<memory>");

struct IdxClassificationOptions {
  double val_fraction = 0.1;  // carved from train by a seeded permutation
  uint64_t seed = 0;
  int64_t max_train = 0;      // 0: all; otherwise the first max_train (before the val carve)
  int64_t max_test = 0;
  std::vector<std::string> class_names;  // empty: "0".."K-1"
};

// `dir` holds train-images-idx3-ubyte, train-labels-idx1-ubyte, t10k-images-idx3-ubyte and
// t10k-labels-idx1-ubyte, each optionally with .gz. Images [N,H,W] (or [N,C,H,W]) are scaled to
// [0,1], then standardized per channel with the train split's mean/std; x is f32 [N,C,H,W], y i64.
// Throws NotFound naming the files looked for, InvalidArgument when images and labels disagree.
DataSplits load_idx_classification(const std::string& dir, const IdxClassificationOptions& opts);

}  // namespace edgeopt::train

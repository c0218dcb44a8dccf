// In-memory data sets for training and evaluation: a split (Dataset), the three splits with what
// is needed to read them (DataSplits), a seeded batch iterator and image augmentations.
//
//   DataSplits d = load_dataset("fashion-mnist", {});          // see load_dataset.h
//   BatchIterator it(d.train, /*batch=*/64, /*shuffle=*/true, /*seed=*/1);
//   it.set_augment({.pad = 2, .hflip = true});                 // images only
//   for (int epoch = 0; epoch < 3; ++epoch) {
//     it.start_epoch(epoch);                                   // new order from (seed, epoch)
//     Batch b;
//     while (it.next(b)) train_step(b.x, b.y);
//   }
//
// Layouts: images x f32 [N,C,H,W]; series windows x f32 [N,window,features] (batch-first, for
// LSTM/GRU); tabular and window-feature sets x f32 [N,features]. Classification y is i64 [N] class
// ids; regression/forecast y is f32 [N,outputs] in standardized units (DataSplits::inverse_target
// maps back to original units).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace edgeopt::train {

struct Dataset {
  Tensor x;
  Tensor y;
  // Optional, one per sample (empty when not meaningful): the series/mote a sample came from and
  // its time step within it. Event metrics use them to find contiguous event stretches.
  std::vector<int32_t> group;
  std::vector<int64_t> step;

  int64_t size() const { return x.defined() ? x.shape()[0] : 0; }
  // Samples `idx` (in that order) as a new Dataset with its own storage; throws on a bad index.
  Dataset subset(const std::vector<int64_t>& idx) const;
};

struct DataSplits {
  std::string name;                 // "fashion-mnist", "seattle-weather", a file path ...
  Dataset train, val, test;
  std::string task;                 // "classification" | "regression"
  int num_classes = 0;              // classification only
  std::vector<std::string> class_names;
  std::vector<std::string> feature_names;  // last dim of x (channels for images)
  std::string layout;               // "NCHW", "NTF" (batch, time, feature) or "NF"

  // Normalization fitted on the training split only and applied to all three: x' = (x-mean)/std,
  // per feature (channel for images). Eval of new raw data must apply the same (normalize_x).
  std::vector<float> feature_mean, feature_std;
  // Regression: y' = (y-mean)/std per output; inverse_target undoes it.
  std::vector<float> target_mean, target_std;
  std::vector<std::string> target_names;

  // Forecasting windows: input length, steps ahead, and where the target sits among the input
  // features (-1 when it is not an input; persistence then has nothing to repeat).
  int window = 0;
  int horizon = 0;
  int target_feature_index = -1;
  double sample_period_s = 0;       // seconds between consecutive steps, 0 when unknown

  std::string provenance;           // source, licence and the citation the licence asks for
  std::string notes;                // what was derived or dropped, in words

  // Multi-line summary: name, task, shapes and sizes of every split, classes, features,
  // normalization, provenance.
  std::string describe() const;
  // Standardized predictions f32 [N,outputs] -> original units (same shape, new storage).
  Tensor inverse_target(const Tensor& y_std) const;
  // Raw features (same layout as x) -> normalized with the training statistics (new storage).
  Tensor normalize_x(const Tensor& x_raw) const;
};

// Deterministic generator for shuffles and augmentation (splitmix64): the same seed gives the same
// order on every platform and compiler, unlike std::shuffle with std::uniform_int_distribution.
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next_u64();
  uint64_t uniform(uint64_t n);  // in [0, n), n > 0
  double uniform01();            // in [0, 1)
 private:
  uint64_t state_;
};
// A permutation of 0..n-1 (Fisher-Yates driven by SplitMix64(seed)).
std::vector<int64_t> seeded_permutation(int64_t n, uint64_t seed);

struct ImageAugment {
  int pad = 0;         // random crop: zero-pad each side by `pad`, crop back to HxW at a random offset
  bool hflip = false;  // flip left-right with probability 1/2
  bool enabled() const { return pad > 0 || hflip; }
};
// Augments a batch x f32 [N,C,H,W] (new storage); each image draws its own offset and flip from
// SplitMix64(seed). Zero padding is zero in normalized units (the training mean). Throws for rank != 4.
Tensor augment_images(const Tensor& x, const ImageAugment& aug, uint64_t seed);

struct Batch {
  Tensor x, y;
  std::vector<int64_t> indices;  // positions in the Dataset
};

// Yields consecutive batches of a Dataset; the last one may be smaller unless drop_last. With
// shuffle, the order of epoch e is seeded_permutation(N, mix(seed, e)): reproducible and different
// per epoch. The Dataset must outlive the iterator.
class BatchIterator {
 public:
  BatchIterator(const Dataset& ds, int64_t batch_size, bool shuffle, uint64_t seed, bool drop_last = false);
  void set_augment(const ImageAugment& aug);
  // Restarts at the beginning with the order of `epoch` (the constructor starts epoch 0).
  void start_epoch(int64_t epoch);
  // Fills `out` with the next batch; false at the end of the epoch.
  bool next(Batch& out);
  int64_t num_batches() const;
  const std::vector<int64_t>& order() const { return order_; }

 private:
  const Dataset& ds_;
  int64_t batch_;
  bool shuffle_, drop_last_;
  uint64_t seed_;
  int64_t epoch_ = 0, pos_ = 0, batch_index_ = 0;
  std::vector<int64_t> order_;
  ImageAugment aug_;
};

}  // namespace edgeopt::train

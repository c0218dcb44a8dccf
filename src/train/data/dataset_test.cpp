#include "train/data/dataset.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/error.h"

namespace edgeopt::train {
namespace {

Dataset counting(int64_t n) {
  Dataset d;
  d.x = Tensor(DType::kF32, Shape{n, 2});
  d.y = Tensor(DType::kI64, Shape{n});
  for (int64_t i = 0; i < n; ++i) {
    d.x.data<float>()[2 * i] = static_cast<float>(i);
    d.x.data<float>()[2 * i + 1] = static_cast<float>(-i);
    d.y.data<int64_t>()[i] = i;
  }
  return d;
}

std::vector<int64_t> epoch_order(const Dataset& d, int64_t batch, uint64_t seed, int64_t epoch) {
  BatchIterator it(d, batch, true, seed);
  it.start_epoch(epoch);
  std::vector<int64_t> seen;
  Batch b;
  while (it.next(b)) {
    for (int64_t i = 0; i < b.y.numel(); ++i) {
      EXPECT_EQ(b.x.data<float>()[2 * i], static_cast<float>(b.y.data<int64_t>()[i]));  // x and y stay paired
      seen.push_back(b.y.data<int64_t>()[i]);
    }
  }
  return seen;
}

TEST(BatchIterator, ShuffleIsDeterministicBySeedAndCoversEverySample) {
  Dataset d = counting(103);
  const auto a = epoch_order(d, 10, 42, 0);
  EXPECT_EQ(a, epoch_order(d, 10, 42, 0));
  EXPECT_EQ(a, epoch_order(d, 7, 42, 0));  // the order does not depend on the batch size
  EXPECT_NE(a, epoch_order(d, 10, 43, 0));
  EXPECT_NE(a, epoch_order(d, 10, 42, 1));
  std::vector<int64_t> sorted = a;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 103; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
  std::vector<int64_t> identity(103);
  for (int64_t i = 0; i < 103; ++i) identity[static_cast<size_t>(i)] = i;
  EXPECT_NE(a, identity);
}

TEST(BatchIterator, SequentialBatchesAndLastPartialBatch) {
  Dataset d = counting(10);
  BatchIterator it(d, 4, false, 0);
  EXPECT_EQ(it.num_batches(), 3);
  Batch b;
  std::vector<int64_t> sizes;
  while (it.next(b)) sizes.push_back(b.x.shape()[0]);
  EXPECT_EQ(sizes, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(b.y.data<int64_t>()[1], 9);
  BatchIterator dl(d, 4, false, 0, /*drop_last=*/true);
  EXPECT_EQ(dl.num_batches(), 2);
  int count = 0;
  while (dl.next(b)) ++count;
  EXPECT_EQ(count, 2);
  EXPECT_THROW(BatchIterator(d, 0, false, 0), Error);
}

TEST(Permutation, FixedSeedGivesAFixedPermutation) {
  // Pinned so a change of the generator (and of every split drawn from it) is noticed.
  EXPECT_EQ(seeded_permutation(5, 7), seeded_permutation(5, 7));
  std::set<int64_t> s;
  for (int64_t v : seeded_permutation(1000, 1)) s.insert(v);
  EXPECT_EQ(s.size(), 1000u);
  EXPECT_TRUE(seeded_permutation(0, 1).empty());
  SplitMix64 r(3);
  for (int i = 0; i < 1000; ++i) {
    const double u = r.uniform01();
    EXPECT_GE(u, 0.0);
    EXPECT_LT(u, 1.0);
    EXPECT_LT(r.uniform(3), 3u);
  }
}

Tensor ramp_image() {  // [1,1,3,4], value = 10*y + x + 1
  Tensor t(DType::kF32, Shape{1, 1, 3, 4});
  for (int y = 0; y < 3; ++y)
    for (int x = 0; x < 4; ++x) t.data<float>()[y * 4 + x] = static_cast<float>(10 * y + x + 1);
  return t;
}

TEST(Augment, FlipOnlyEitherFlipsOrKeepsEachImage) {
  const Tensor x = ramp_image();
  int flipped = 0;
  for (uint64_t seed = 0; seed < 40; ++seed) {
    Tensor a = augment_images(x, {.pad = 0, .hflip = true}, seed);
    const bool is_flip = a.data<float>()[0] == 4;
    flipped += is_flip;
    for (int y = 0; y < 3; ++y)
      for (int xx = 0; xx < 4; ++xx)
        EXPECT_EQ(a.data<float>()[y * 4 + xx], x.data<float>()[y * 4 + (is_flip ? 3 - xx : xx)]);
  }
  EXPECT_GT(flipped, 5);
  EXPECT_LT(flipped, 35);
}

TEST(Augment, CropShiftsWithZeroPaddingAndIsSeeded) {
  const Tensor x = ramp_image();
  for (uint64_t seed = 0; seed < 30; ++seed) {
    Tensor a = augment_images(x, {.pad = 1, .hflip = false}, seed);
    Tensor b = augment_images(x, {.pad = 1, .hflip = false}, seed);
    EXPECT_EQ(a.to_f32_vector(), b.to_f32_vector());
    // Every output pixel is either padding (0) or the input shifted by one (dy, dx) in [-1,1]^2.
    bool found = false;
    for (int dy = -1; dy <= 1 && !found; ++dy)
      for (int dx = -1; dx <= 1 && !found; ++dx) {
        bool ok = true;
        for (int y = 0; y < 3; ++y)
          for (int xx = 0; xx < 4; ++xx) {
            const int sy = y + dy, sx = xx + dx;
            const float want = (sy < 0 || sy >= 3 || sx < 0 || sx >= 4) ? 0.f : x.data<float>()[sy * 4 + sx];
            ok = ok && a.data<float>()[y * 4 + xx] == want;
          }
        found = ok;
      }
    EXPECT_TRUE(found) << "seed " << seed;
  }
  EXPECT_THROW(augment_images(Tensor(DType::kF32, Shape{2, 3}), {.pad = 1}, 0), Error);
}

TEST(BatchIterator, AugmentationIsReproducible) {
  Dataset d;
  d.x = Tensor::zeros(DType::kF32, Shape{6, 1, 3, 4});
  for (int64_t i = 0; i < d.x.numel(); ++i) d.x.data<float>()[i] = static_cast<float>(i % 12 + 1);
  d.y = Tensor::zeros(DType::kI64, Shape{6});
  auto run = [&] {
    BatchIterator it(d, 4, true, 9);
    it.set_augment({.pad = 1, .hflip = true});
    std::vector<float> all;
    Batch b;
    while (it.next(b)) {
      auto v = b.x.to_f32_vector();
      all.insert(all.end(), v.begin(), v.end());
    }
    return all;
  };
  EXPECT_EQ(run(), run());
  Dataset flat;
  flat.x = Tensor::zeros(DType::kF32, Shape{2, 3});
  flat.y = Tensor::zeros(DType::kI64, Shape{2});
  BatchIterator it(flat, 1, false, 0);
  EXPECT_THROW(it.set_augment({.pad = 1}), Error);
}

TEST(DataSplits, InverseTargetAndNormalize) {
  DataSplits d;
  d.layout = "NTF";
  d.target_mean = {10};
  d.target_std = {2};
  d.feature_mean = {1, -1};
  d.feature_std = {2, 4};
  Tensor y = Tensor::from_vector<float>(Shape{2, 1}, {0.5f, -1.f});
  EXPECT_EQ(d.inverse_target(y).to_f32_vector(), (std::vector<float>{11, 8}));
  Tensor x = Tensor::from_vector<float>(Shape{1, 2, 2}, {3, 3, 1, -1});
  EXPECT_EQ(d.normalize_x(x).to_f32_vector(), (std::vector<float>{1, 1, 0, 0}));
  EXPECT_THROW(d.normalize_x(Tensor::zeros(DType::kF32, Shape{1, 3})), Error);
  EXPECT_THROW(d.inverse_target(Tensor::zeros(DType::kF32, Shape{1, 2})), Error);
  EXPECT_FALSE(d.describe().empty());
}

TEST(Dataset, SubsetKeepsRowsAndRejectsBadIndices) {
  Dataset d = counting(5);
  d.group = {0, 0, 1, 1, 1};
  Dataset s = d.subset({4, 1});
  EXPECT_EQ(s.y.to_i64_vector(), (std::vector<int64_t>{4, 1}));
  EXPECT_EQ(s.x.to_f32_vector(), (std::vector<float>{4, -4, 1, -1}));
  EXPECT_EQ(s.group, (std::vector<int32_t>{1, 0}));
  EXPECT_THROW(d.subset({5}), Error);
}

}  // namespace
}  // namespace edgeopt::train

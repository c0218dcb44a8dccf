#include "train/data/npy_dataset.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/npy.h"
#include "train/data/load_dataset.h"
#include "train/data/test_files.h"

namespace edgeopt::train {
namespace {

TEST(NpyDataset, PairSplitsBySeedAndKeepsRowsPaired) {
  testing::TempDir dir("npy");
  std::vector<float> xs;
  std::vector<int64_t> ys;
  for (int i = 0; i < 20; ++i) {
    xs.insert(xs.end(), {static_cast<float>(i), 0.5f});
    ys.push_back(i % 4);
  }
  write_npy(dir.file("x.npy"), Tensor::from_vector<float>(Shape{20, 2}, xs));
  write_npy(dir.file("y.npy"), Tensor::from_vector<int64_t>(Shape{20}, ys));
  DatasetOptions o;
  o.seed = 11;
  DataSplits d = load_dataset(dir.file("x.npy") + "," + dir.file("y.npy"), o);
  EXPECT_EQ(d.task, "classification");
  EXPECT_EQ(d.num_classes, 4);
  EXPECT_EQ(d.test.size(), 4);
  EXPECT_EQ(d.val.size(), 2);
  EXPECT_EQ(d.train.size(), 14);
  for (const Dataset* s : {&d.train, &d.val, &d.test})
    for (int64_t i = 0; i < s->size(); ++i)
      EXPECT_EQ(s->y.data<int64_t>()[i], static_cast<int64_t>(s->x.data<float>()[2 * i]) % 4);
  EXPECT_THROW(load_dataset(dir.file("x.npy") + "," + dir.file("nope.npy"), o), Error);
}

TEST(NpyDataset, DirectoryWithRegressionTargets) {
  testing::TempDir dir("npydir");
  write_npy(dir.file("x_train.npy"), Tensor::zeros(DType::kF32, Shape{10, 3, 2}));
  write_npy(dir.file("y_train.npy"), Tensor::zeros(DType::kF32, Shape{10}));
  write_npy(dir.file("x_test.npy"), Tensor::zeros(DType::kF32, Shape{4, 3, 2}));
  write_npy(dir.file("y_test.npy"), Tensor::zeros(DType::kF32, Shape{4}));
  DataSplits d = load_dataset(dir.path(), {});
  EXPECT_EQ(d.task, "regression");
  EXPECT_EQ(d.layout, "NTF");
  EXPECT_EQ(d.train.size(), 9);
  EXPECT_EQ(d.val.size(), 1);
  EXPECT_EQ(d.test.y.shape(), (Shape{4, 1}));
  write_npy(dir.file("x_test.npy"), Tensor::zeros(DType::kF32, Shape{4, 3, 3}));
  EXPECT_THROW(load_dataset(dir.path(), {}), Error);
  write_npy(dir.file("y_test.npy"), Tensor::zeros(DType::kF32, Shape{5}));
  EXPECT_THROW(load_dataset(dir.path(), {}), Error);
}

}  // namespace
}  // namespace edgeopt::train

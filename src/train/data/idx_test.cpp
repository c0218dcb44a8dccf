#include "train/data/idx.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "train/data/load_dataset.h"
#include "train/data/test_files.h"

namespace edgeopt::train {
namespace {

using testing::idx_u8;
using testing::TempDir;

// Train: 10 images 2x3, image i filled with 10*i; labels i % 3. Test: 4 images, labels 0..3 % 3.
void write_set(const TempDir& dir, bool gz) {
  std::vector<uint8_t> tr, te, trl, tel;
  for (int i = 0; i < 10; ++i) {
    for (int k = 0; k < 6; ++k) tr.push_back(static_cast<uint8_t>(10 * i + k));
    trl.push_back(static_cast<uint8_t>(i % 3));
  }
  for (int i = 0; i < 4; ++i) {
    for (int k = 0; k < 6; ++k) te.push_back(static_cast<uint8_t>(255 - k));
    tel.push_back(static_cast<uint8_t>(i % 3));
  }
  auto put = [&](const std::string& n, const std::string& b) { gz ? dir.write_gz(n + ".gz", b) : dir.write(n, b); };
  put("train-images-idx3-ubyte", idx_u8({10, 2, 3}, tr));
  put("train-labels-idx1-ubyte", idx_u8({10}, trl));
  put("t10k-images-idx3-ubyte", idx_u8({4, 2, 3}, te));
  put("t10k-labels-idx1-ubyte", idx_u8({4}, tel));
}

TEST(Idx, ReadsGzipAndRawAlike) {
  TempDir dir("idx");
  const std::string raw = idx_u8({2, 2}, {1, 2, 3, 250});
  IdxArray a = read_idx(dir.write("a.idx", raw));
  IdxArray b = read_idx(dir.write_gz("a.idx.gz", raw));
  EXPECT_EQ(a.dims, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(a.bytes, b.bytes);
  EXPECT_EQ(a.at(3), 250);
}

TEST(Idx, ClassificationSplitsShapesAndNormalization) {
  for (bool gz : {true, false}) {
    TempDir dir("idxset");
    write_set(dir, gz);
    IdxClassificationOptions o;
    o.val_fraction = 0.2;
    o.seed = 5;
    DataSplits d = load_idx_classification(dir.path(), o);
    EXPECT_EQ(d.task, "classification");
    EXPECT_EQ(d.num_classes, 3);
    EXPECT_EQ(d.train.x.shape(), (Shape{8, 1, 2, 3}));
    EXPECT_EQ(d.val.x.shape(), (Shape{2, 1, 2, 3}));
    EXPECT_EQ(d.test.x.shape(), (Shape{4, 1, 2, 3}));
    EXPECT_EQ(d.train.y.dtype(), DType::kI64);
    // Train x is standardized with its own statistics: mean 0, std 1.
    double s = 0, q = 0;
    for (float v : d.train.x.to_f32_vector()) {
      s += v;
      q += v * v;
    }
    EXPECT_NEAR(s / 48, 0, 1e-5);
    EXPECT_NEAR(q / 48, 1, 1e-4);
    // Test image pixel 0 is 255 -> 1.0 in [0,1], then standardized with the train statistics.
    EXPECT_NEAR(d.test.x.data<float>()[0], (1.0 - d.feature_mean[0]) / d.feature_std[0], 1e-5);
    // Labels follow their images: image value 10*i <-> label i % 3.
    for (int64_t j = 0; j < 8; ++j) {
      const double pix = d.train.x.data<float>()[j * 6] * d.feature_std[0] + d.feature_mean[0];
      const int i = static_cast<int>(std::lround(pix * 255 / 10));
      EXPECT_EQ(d.train.y.data<int64_t>()[j], i % 3);
    }
    // Same seed, same carve.
    EXPECT_EQ(load_idx_classification(dir.path(), o).val.y.to_i64_vector(), d.val.y.to_i64_vector());
    // Through the spec resolver as a directory.
    DatasetOptions lo;
    lo.val_fraction = 0.2;
    lo.seed = 5;
    EXPECT_EQ(load_dataset(dir.path(), lo).train.size(), 8);
  }
}

TEST(Idx, Errors) {
  TempDir dir("idxerr");
  EXPECT_THROW(read_idx(dir.file("nope.gz")), Error);
  EXPECT_THROW(read_idx(dir.write("bad_magic", std::string("\x01\x00\x08\x01\x00\x00\x00\x01\x05", 9))), Error);
  EXPECT_THROW(read_idx(dir.write("bad_type", std::string("\x00\x00\x07\x01\x00\x00\x00\x01\x05", 9))), Error);
  std::string truncated = idx_u8({3, 2}, {1, 2, 3});
  try {
    read_idx(dir.write_gz("trunc.gz", truncated));
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("trunc.gz' is truncated"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_idx(dir.write("extra", idx_u8({1}, {1, 2}))), Error);
  // Labels and images disagree in N.
  write_set(dir, true);
  dir.write_gz("train-labels-idx1-ubyte.gz", idx_u8({9}, std::vector<uint8_t>(9, 0)));
  EXPECT_THROW(load_idx_classification(dir.path(), {}), Error);
  try {
    load_idx_classification(dir.file("missing_dir"), {});
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kNotFound);
  }
}

// Headers that promise more than the bytes hold: refused before allocating (found while writing
// the idx_parse_fuzz target: the old reader allocated count*esize from the header first, and the
// element count could overflow int64 on the way).
TEST(Idx, HeaderDimsAreCheckedAgainstThePayload) {
  auto error_of = [](const std::string& bytes) -> std::string {
    try {
      parse_idx(bytes, "mem.idx");
    } catch (const Error& e) {
      return e.what();
    }
    return "(no error)";
  };
  // u8, rank 2, dims 0xFFFFFFFF x 0xFFFFFFFF, one payload byte: ~1.8e19 elements promised.
  std::string huge("\x00\x00\x08\x02\xff\xff\xff\xff\xff\xff\xff\xff\x05", 13);
  EXPECT_NE(error_of(huge).find("mem.idx' is truncated: its header promises 4294967295x4294967295 elements"),
            std::string::npos) << error_of(huge);
  // f64, rank 3, dims 2^32-1 x 2^32-1 x 2^32-1: the product overflows 64 bits.
  std::string overflow("\x00\x00\x0e\x03\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff", 16);
  EXPECT_NE(error_of(overflow).find("is truncated"), std::string::npos) << error_of(overflow);
  // A zero dim after huge ones: a valid empty array (numel must not overflow either).
  std::string empty("\x00\x00\x0c\x03\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00\x00\x00", 16);
  IdxArray a = parse_idx(empty, "mem.idx");
  EXPECT_EQ(a.numel(), 0);
  EXPECT_TRUE(a.bytes.empty());
  EXPECT_NE(error_of(empty + "x").find("has bytes after the 0 elements"), std::string::npos);
  EXPECT_NE(error_of(std::string("\x00\x00\x08\x02\x00\x00", 6)).find("truncated in its header"), std::string::npos);
}

TEST(Idx, RealFashionMnist) {
  const std::string dir = find_fashion_mnist_dir();
  if (dir.empty()) FAIL() << "Fashion-MNIST not installed (scripts/install-deps.sh installs dataset-fashion-mnist)";
  DataSplits d = load_dataset("fashion-mnist", {});
  EXPECT_EQ(d.train.size() + d.val.size(), 60000);
  EXPECT_EQ(d.val.size(), 6000);
  EXPECT_EQ(d.test.size(), 10000);
  EXPECT_EQ(d.train.x.shape(), (Shape{54000, 1, 28, 28}));
  EXPECT_EQ(d.num_classes, 10);
  EXPECT_EQ(d.class_names[9], "Ankle boot");
  // Fashion-MNIST's pixel mean is about 0.286 and std about 0.353.
  EXPECT_NEAR(d.feature_mean[0], 0.286, 0.01);
  EXPECT_NEAR(d.feature_std[0], 0.353, 0.01);
  std::vector<int64_t> per_class(10, 0);
  for (int64_t v : d.test.y.to_i64_vector()) ++per_class[static_cast<size_t>(v)];
  for (int64_t c : per_class) EXPECT_EQ(c, 1000);
  std::cout << d.describe();
}

}  // namespace
}  // namespace edgeopt::train

// Test-only: a small synthetic image task and a vision_cnn trained on it in about a second, so the
// quantization tests need no data files.
#pragma once
#include <random>

#include "train/data/dataset.h"
#include "train/loop/trainer.h"
#include "train/zoo/zoo.h"

namespace edgeopt::quantize::testing {

// 3 classes of 1x8x8 images: a bright 4x4 quadrant (top-left, top-right or bottom) plus noise.
inline train::Dataset synthetic_images(int64_t n, uint64_t seed) {
  std::mt19937_64 r(seed);
  std::normal_distribution<float> noise(0.f, 0.4f);
  train::Dataset d;
  d.x = Tensor(DType::kF32, {n, 1, 8, 8});
  d.y = Tensor(DType::kI64, {n});
  for (int64_t i = 0; i < n; ++i) {
    const int64_t c = static_cast<int64_t>(r() % 3);
    d.y.data<int64_t>()[i] = c;
    for (int64_t p = 0; p < 64; ++p) {
      const int64_t h = p / 8, w = p % 8;
      const bool on = c == 0 ? (h < 4 && w < 4) : c == 1 ? (h < 4 && w >= 4) : h >= 4;
      d.x.data<float>()[i * 64 + p] = (on ? 1.f : 0.f) + noise(r);
    }
  }
  return d;
}

inline train::DataSplits synthetic_splits() {
  train::DataSplits d;
  d.name = "synthetic-quadrants";
  d.task = "classification";
  d.num_classes = 3;
  d.class_names = {"top-left", "top-right", "bottom"};
  d.layout = "NCHW";
  d.train = synthetic_images(768, 1);
  d.val = synthetic_images(300, 2);
  d.test = synthetic_images(600, 3);
  return d;
}

// vision_cnn (width 4: Conv-BN-ReLU-Pool x2, Gemm-ReLU-Gemm) trained for 2 epochs.
inline Graph trained_cnn(const train::DataSplits& d) {
  Graph g = train::build_zoo_model("vision_cnn", {.input_shape = {1, 8, 8}, .num_outputs = 3, .width = 4});
  train::TrainOptions o;
  o.epochs = 2;
  o.batch = 32;
  o.lr = 1e-2f;
  o.progress = false;
  train::train_model(g, d, o);
  return g;
}

}  // namespace edgeopt::quantize::testing

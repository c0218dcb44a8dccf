#include "compress/distill/distill.h"

#include <gtest/gtest.h>

#include "compress/compress_test_util.h"
#include "train/zoo/zoo.h"

namespace edgeopt::compress {
namespace {

train::DataSplits tiny_images(int64_t n, int64_t classes) {
  train::DataSplits d;
  d.name = "tiny";
  d.task = "classification";
  d.num_classes = static_cast<int>(classes);
  for (int64_t k = 0; k < classes; ++k) d.class_names.push_back("c" + std::to_string(k));
  auto make = [&](int64_t count, uint32_t seed) {
    train::Dataset s;
    s.x = testing::random_tensor({count, 1, 8, 8}, seed);
    std::vector<int64_t> y(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) y[i] = (s.x.data<float>()[i * 64] > 0) ? 1 : 0;
    s.y = Tensor::from_vector<int64_t>({count}, y);
    return s;
  };
  d.train = make(n, 1);
  d.val = make(n / 4, 2);
  d.test = make(n / 4, 3);
  return d;
}

TEST(Distill, TeacherCallableRunsTheTeacher) {
  Graph t = train::build_zoo_model("vision_cnn", {.input_shape = {1, 8, 8}, .num_outputs = 2, .width = 4, .seed = 1});
  auto teach = make_teacher(t);
  Tensor x = testing::random_tensor({5, 1, 8, 8}, 9);
  Tensor y = teach(x);
  Tensor want = testing::run_graph(t, {{"input", x}}).at("output");
  ASSERT_EQ(y.shape(), want.shape());
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_NEAR(y.data<float>()[i], want.data<float>()[i], 1e-4);
}

TEST(Distill, TrainsTheStudentAndRejectsMismatchedOutputs) {
  train::DataSplits d = tiny_images(64, 2);
  Graph teacher = train::build_zoo_model("vision_cnn", {.input_shape = {1, 8, 8}, .num_outputs = 2, .width = 8, .seed = 1});
  Graph student = train::build_zoo_model("vision_cnn", {.input_shape = {1, 8, 8}, .num_outputs = 2, .width = 2, .seed = 2});
  const Tensor before = student.initializers.at("head.fc2.weight").clone();
  train::TrainOptions t;
  t.epochs = 1;
  t.batch = 16;
  t.progress = false;
  DistillReport r = distill(student, teacher, d, t);
  EXPECT_LT(r.student_params, r.teacher_params);
  EXPECT_EQ(r.train.epochs.size(), 1u);
  const Tensor& after = student.initializers.at("head.fc2.weight");
  double moved = 0;
  for (int64_t i = 0; i < after.numel(); ++i) moved += std::fabs(after.data<float>()[i] - before.data<float>()[i]);
  EXPECT_GT(moved, 0) << "training must change the student";
  Graph wrong = train::build_zoo_model("vision_cnn", {.input_shape = {1, 8, 8}, .num_outputs = 3, .width = 2, .seed = 2});
  try {
    distill(wrong, teacher, d, t);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("differ in shape"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace edgeopt::compress

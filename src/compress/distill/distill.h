// Knowledge distillation: a teacher Graph (any model edgeopt runs, e.g. loaded from ONNX) trains a
// student (a zoo model, or a pruned/factorized one) through TrainOptions::teacher: the loss is
// alpha * hard-label loss + (1 - alpha) * T^2 * KL(softmax(teacher/T) || softmax(student/T)) for
// classifiers, and alpha * loss + (1 - alpha) * MSE to the teacher's outputs for regressors.
//
//   train::TrainOptions t{.epochs = 4};
//   t.distill_alpha = 0.5f; t.distill_temperature = 4.f;
//   DistillReport r = distill(student, teacher, data, t);
#pragma once
#include <functional>
#include <memory>

#include <nlohmann/json.hpp>

#include "core/graph.h"
#include "train/data/dataset.h"
#include "train/loop/trainer.h"

namespace edgeopt::compress {

// A callable for TrainOptions::teacher: runs `teacher` (inference, runtime::Session with its
// passes) on a batch and returns its first output. Keeps its own copy of the graph.
std::function<Tensor(const Tensor&)> make_teacher(const Graph& teacher);

struct DistillReport {
  int64_t teacher_params = 0, student_params = 0;
  train::TrainReport train;
  nlohmann::json to_json() const;
};

// Trains `student` in place against `teacher`. Throws InvalidArgument when their outputs differ in
// shape for a batch (e.g. a 10-class teacher and a 5-class student).
DistillReport distill(Graph& student, const Graph& teacher, const train::DataSplits& d, train::TrainOptions t);

}  // namespace edgeopt::compress

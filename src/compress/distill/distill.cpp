#include "compress/distill/distill.h"

#include "runtime/session.h"

namespace edgeopt::compress {

std::function<Tensor(const Tensor&)> make_teacher(const Graph& teacher) {
  EDGEOPT_CHECK_ARG(!teacher.inputs.empty() && !teacher.outputs.empty(), "the teacher model has no inputs or outputs");
  auto session = std::make_shared<runtime::Session>(teacher);
  const std::string in = teacher.inputs[0].name, out = teacher.outputs[0].name;
  return [session, in, out](const Tensor& x) { return session->run({{in, x}}).at(out); };
}

nlohmann::json DistillReport::to_json() const {
  nlohmann::json j;
  j["teacher_params"] = teacher_params;
  j["student_params"] = student_params;
  j["student_over_teacher"] = teacher_params ? static_cast<double>(student_params) / teacher_params : 0.0;
  j["best_epoch"] = train.best_epoch;
  j["best_val_metric"] = train.best_val_metric;
  j["val_metric_name"] = train.val_metric_name;
  j["train_seconds"] = train.seconds;
  return j;
}

DistillReport distill(Graph& student, const Graph& teacher, const train::DataSplits& d, train::TrainOptions t) {
  auto teach = make_teacher(teacher);
  // Check the shapes once on a small batch so a mismatch names both models before training starts.
  const int64_t n = std::min<int64_t>(2, d.train.size());
  EDGEOPT_CHECK_ARG(n > 0, "distillation needs training data");
  std::vector<int64_t> dims = d.train.x.shape().dims();
  dims[0] = n;
  Tensor xb(DType::kF32, Shape(dims));
  std::copy_n(d.train.x.data<float>(), xb.numel(), xb.data<float>());
  Tensor ty = teach(xb);
  runtime::Session probe(student);
  Tensor sy = probe.run({{student.inputs[0].name, xb}}).at(student.outputs[0].name);
  EDGEOPT_CHECK_ARG(ty.shape() == sy.shape(), "teacher output " + ty.describe() + " and student output " + sy.describe() +
                                                  " differ in shape; distillation needs the same outputs");
  t.teacher = teach;
  DistillReport r;
  r.teacher_params = teacher.parameter_count();
  r.student_params = student.parameter_count();
  r.train = train::train_model(student, d, t);
  return r;
}

}  // namespace edgeopt::compress

// `edgeopt distill`: train a student (zoo model or ONNX, e.g. a pruned one) against a teacher's
// softened outputs; with --compare also trains the same student without the teacher (same epochs,
// same seed) so the gain is measured, not assumed.
#include <cstdio>
#include <fstream>

#include "cli/verbs/compress_common.h"
#include "cli/verbs/train_common.h"
#include "cli/verbs/verbs.h"
#include "compress/distill/distill.h"
#include "onnx/export.h"
#include "onnx/import.h"
#include "train/zoo/zoo.h"

namespace edgeopt::cli {

namespace {

struct DistillArgs {
  CompressArgs c;  // c.model = the teacher
  std::string student;
  int64_t width = 0, depth = 0;
  bool compare = false;
};

Graph make_student(const DistillArgs& a, const train::DataSplits& d) {
  if (a.student.size() > 5 && a.student.substr(a.student.size() - 5) == ".onnx") return onnx::load_model(a.student);
  train::ZooOptions zo;
  zo.input_shape.assign(d.train.x.shape().dims().begin() + 1, d.train.x.shape().dims().end());
  zo.num_outputs = d.task == "classification" ? d.num_classes : d.train.y.numel() / std::max<int64_t>(d.train.size(), 1);
  zo.width = a.width;
  zo.depth = a.depth;
  zo.seed = a.c.train.seed;
  return train::build_zoo_model(a.student, zo);
}

void run_distill(DistillArgs& a) {
  train::DataSplits d = load_compress_data(a.c);
  Graph teacher = onnx::load_model(a.c.model);
  Graph student = make_student(a, d);
  nlohmann::json j;
  if (a.compare) {
    Graph alone = make_student(a, d);
    train::TrainReport r = train::train_model(alone, d, a.c.train);
    const train::EvalResult ev = train::evaluate(alone, d, "test");
    j["student_without_teacher"] = {{"best_val_metric", r.best_val_metric}, {"test", eval_to_json(ev)}};
    std::printf("student without teacher: %s", eval_to_text(ev).substr(0, eval_to_text(ev).find('\n') + 1).c_str());
  }
  Measurement before = measure(teacher, d);
  compress::DistillReport r = compress::distill(student, teacher, d, a.c.train);
  Measurement after = measure(student, d);
  add_paired_latency(before, after, teacher, student, a.c.latency_runs, a.c.latency_threads);
  std::printf("distilled: student has %.1f%% of the teacher's parameters (before = teacher, after = student)\n",
              100.0 * static_cast<double>(r.student_params) / static_cast<double>(std::max<int64_t>(r.teacher_params, 1)));
  print_before_after(before, after);
  onnx::save_model(student, a.c.out);
  std::printf("wrote %s\n", a.c.out.c_str());
  if (!a.c.report.empty()) {
    j["teacher"] = a.c.model;
    j["student"] = a.student;
    j["data"] = d.name;
    j["epochs"] = a.c.train.epochs;
    j["seed"] = a.c.train.seed;
    j["alpha"] = a.c.train.distill_alpha;
    j["temperature"] = a.c.train.distill_temperature;
    j["distill"] = r.to_json();
    j["before"] = before.to_json();
    j["after"] = after.to_json();
    std::ofstream(a.c.report) << j.dump(2) << "\n";
  }
}

}  // namespace

void add_distill_verb(CLI::App& app) {
  auto a = std::make_shared<DistillArgs>();
  CLI::App* cmd = app.add_subcommand("distill", "Train a small student against a teacher model (knowledge distillation)");
  cmd->add_option("--teacher", a->c.model, "TEACHER.onnx (trained)")->required();
  cmd->add_option("--student", a->student, "A zoo model name (with --width/--depth) or STUDENT.onnx")->required();
  cmd->add_option("--width", a->width, "Zoo student: base channels / hidden units");
  cmd->add_option("--depth", a->depth, "Zoo student: blocks / layers");
  cmd->add_option("--alpha", a->c.train.distill_alpha, "Weight of the hard-label loss (1 - alpha on the teacher)")
      ->default_val(0.5);
  cmd->add_option("--temperature", a->c.train.distill_temperature, "Softmax temperature for the teacher's targets")
      ->default_val(4.0);
  cmd->add_flag("--compare", a->compare, "Also train the same student without the teacher (same epochs and seed)");
  add_compress_flags(cmd, a->c, 8);
  cmd->footer(
      "Example:\n"
      "  edgeopt distill --teacher cnn.onnx --student vision_cnn --width 12 --data fashion-mnist --epochs 8 --compare "
      "--out student.onnx");
  cmd->callback([a] { run_distill(*a); });
}

}  // namespace edgeopt::cli

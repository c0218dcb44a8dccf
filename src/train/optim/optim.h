// Optimizers (SGD with momentum/Nesterov, Adam, AdamW), learning-rate schedules with warm-up, and
// global-norm gradient clipping. Parameters are named f32 tensors updated in place.
//
//   Optimizer opt({.kind = OptimizerKind::kAdamW, .lr = 1e-3f, .weight_decay = 1e-4f});
//   LrSchedule sched{.kind = ScheduleKind::kCosine, .base_lr = 1e-3f, .warmup_steps = 100, .total_steps = 5000};
//   opt.set_lr(sched.lr(step));
//   clip_grad_norm(grads, 5.f);
//   opt.step(graph.initializers, grads);
//
// Frozen parameters are skipped; a mask (same shape, 0/1) zeroes masked weights after every step,
// so pruned weights stay pruned through fine-tuning.
#pragma once
#include <set>
#include <string>
#include <unordered_map>

#include "core/tensor.h"

namespace edgeopt::train {

enum class OptimizerKind { kSgd, kAdam, kAdamW };

struct OptimizerOptions {
  OptimizerKind kind = OptimizerKind::kAdam;
  float lr = 1e-3f;
  float momentum = 0.9f;      // SGD
  bool nesterov = false;      // SGD
  float beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f;  // Adam/AdamW
  float weight_decay = 0.f;   // L2 for SGD/Adam, decoupled for AdamW
};

OptimizerKind optimizer_kind_from_name(const std::string& name);  // "sgd", "adam", "adamw"

class Optimizer {
 public:
  explicit Optimizer(OptimizerOptions o) : opt_(o) {}
  void set_lr(float lr) { opt_.lr = lr; }
  float lr() const { return opt_.lr; }
  // Updates params[k] in place for every k in grads that is neither frozen nor missing.
  void step(std::unordered_map<std::string, Tensor>& params, const std::unordered_map<std::string, Tensor>& grads);
  std::set<std::string> frozen;
  std::unordered_map<std::string, Tensor> masks;
  // Optimizer state, exposed for checkpoints: "m:<param>", "v:<param>", plus the step counter.
  std::unordered_map<std::string, Tensor>& state() { return state_; }
  int64_t steps() const { return t_; }
  void set_steps(int64_t t) { t_ = t; }

 private:
  OptimizerOptions opt_;
  std::unordered_map<std::string, Tensor> state_;
  int64_t t_ = 0;
};

enum class ScheduleKind { kConstant, kCosine, kStep };

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::kCosine;
  float base_lr = 1e-3f;
  int64_t warmup_steps = 0;   // linear ramp from 0 to base_lr
  int64_t total_steps = 1;    // cosine: decays to min_lr at total_steps
  float min_lr = 0.f;
  int64_t step_size = 1000;   // step: multiply by gamma every step_size steps
  float gamma = 0.1f;
  float lr(int64_t step) const;
};

// Scales all gradients so their global L2 norm is at most max_norm; returns the norm before.
double clip_grad_norm(std::unordered_map<std::string, Tensor>& grads, double max_norm);

}  // namespace edgeopt::train

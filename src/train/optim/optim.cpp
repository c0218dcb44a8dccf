#include "train/optim/optim.h"

#include <cmath>
#include <cstring>
#include <numbers>

namespace edgeopt::train {

OptimizerKind optimizer_kind_from_name(const std::string& n) {
  if (n == "sgd") return OptimizerKind::kSgd;
  if (n == "adam") return OptimizerKind::kAdam;
  if (n == "adamw") return OptimizerKind::kAdamW;
  throw_error(ErrorCode::kInvalidArgument, "unknown optimizer '" + n + "' (choose sgd, adam or adamw)");
}

void Optimizer::step(std::unordered_map<std::string, Tensor>& params,
                     const std::unordered_map<std::string, Tensor>& grads) {
  ++t_;
  const double bc1 = 1.0 - std::pow(static_cast<double>(opt_.beta1), static_cast<double>(t_));
  const double bc2 = 1.0 - std::pow(static_cast<double>(opt_.beta2), static_cast<double>(t_));
  for (const auto& [name, g] : grads) {
    if (frozen.count(name)) continue;
    auto it = params.find(name);
    if (it == params.end()) continue;
    Tensor& p = it->second;
    EDGEOPT_CHECK_ARG(p.shape() == g.shape(), "optimizer: gradient of '" + name + "' has shape " + g.shape().str() +
                                                  ", parameter has " + p.shape().str());
    float* w = p.data<float>();
    const float* gr = g.data<float>();
    const int64_t n = p.numel();
    const float* mask = nullptr;
    if (auto mt = masks.find(name); mt != masks.end()) mask = mt->second.data<float>();
    if (opt_.kind == OptimizerKind::kSgd) {
      Tensor& buf = state_["m:" + name];
      if (!buf.defined()) buf = Tensor::zeros(DType::kF32, p.shape());
      float* m = buf.data<float>();
      for (int64_t i = 0; i < n; ++i) {
        float gi = gr[i] + opt_.weight_decay * w[i];
        m[i] = opt_.momentum * m[i] + gi;
        float d = opt_.nesterov ? gi + opt_.momentum * m[i] : m[i];
        w[i] -= opt_.lr * d;
      }
    } else {
      Tensor& mb = state_["m:" + name];
      Tensor& vb = state_["v:" + name];
      if (!mb.defined()) mb = Tensor::zeros(DType::kF32, p.shape());
      if (!vb.defined()) vb = Tensor::zeros(DType::kF32, p.shape());
      float* m = mb.data<float>();
      float* v = vb.data<float>();
      const bool decoupled = opt_.kind == OptimizerKind::kAdamW;
      for (int64_t i = 0; i < n; ++i) {
        float gi = gr[i] + (decoupled ? 0.f : opt_.weight_decay * w[i]);
        m[i] = opt_.beta1 * m[i] + (1 - opt_.beta1) * gi;
        v[i] = opt_.beta2 * v[i] + (1 - opt_.beta2) * gi * gi;
        double mhat = m[i] / bc1, vhat = v[i] / bc2;
        if (decoupled) w[i] -= opt_.lr * opt_.weight_decay * w[i];
        w[i] -= static_cast<float>(opt_.lr * mhat / (std::sqrt(vhat) + opt_.eps));
      }
    }
    if (mask)
      for (int64_t i = 0; i < n; ++i) w[i] *= mask[i];
  }
}

float LrSchedule::lr(int64_t step) const {
  if (warmup_steps > 0 && step < warmup_steps) return base_lr * static_cast<float>(step + 1) / static_cast<float>(warmup_steps);
  switch (kind) {
    case ScheduleKind::kConstant: return base_lr;
    case ScheduleKind::kStep: return base_lr * std::pow(gamma, static_cast<float>((step - warmup_steps) / std::max<int64_t>(step_size, 1)));
    case ScheduleKind::kCosine: {
      double span = static_cast<double>(std::max<int64_t>(total_steps - warmup_steps, 1));
      double p = std::min(1.0, static_cast<double>(step - warmup_steps) / span);
      return static_cast<float>(min_lr + 0.5 * (base_lr - min_lr) * (1 + std::cos(std::numbers::pi * p)));
    }
  }
  return base_lr;
}

double clip_grad_norm(std::unordered_map<std::string, Tensor>& grads, double max_norm) {
  double s = 0;
  for (auto& [k, g] : grads) {
    const float* p = g.data<float>();
    for (int64_t i = 0; i < g.numel(); ++i) s += static_cast<double>(p[i]) * p[i];
  }
  double norm = std::sqrt(s);
  if (max_norm > 0 && norm > max_norm) {
    float scale = static_cast<float>(max_norm / (norm + 1e-12));
    for (auto& [k, g] : grads) {
      Tensor c = g.clone();  // gradients may alias forward values
      float* p = c.data<float>();
      for (int64_t i = 0; i < c.numel(); ++i) p[i] *= scale;
      g = c;
    }
  }
  return norm;
}

}  // namespace edgeopt::train

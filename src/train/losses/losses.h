// Losses: each returns the mean loss over the batch and its gradient w.r.t. the model output, so
// the trainer feeds the gradient straight into Autograd::backward.
//
//   LossResult r = cross_entropy(logits /*[N,C]*/, labels /*i64 [N]*/, /*label_smoothing=*/0.1f);
//   autograd.backward({{"logits", r.grad}});
#pragma once
#include "core/tensor.h"

namespace edgeopt::train {

struct LossResult {
  double loss = 0;  // mean over the batch
  Tensor grad;      // d loss / d prediction, same shape as the prediction
};

// Softmax cross-entropy on logits [N, C] (or [N, C, ...] flattened to [N, C]) against class ids
// [N] (i64). label_smoothing in [0, 1): targets (1-ls) one-hot + ls/C.
LossResult cross_entropy(const Tensor& logits, const Tensor& labels, float label_smoothing = 0.f);
// Mean squared error over all elements; pred and target same element count.
LossResult mse(const Tensor& pred, const Tensor& target);
// Mean absolute error (subgradient 0 at equality).
LossResult mae(const Tensor& pred, const Tensor& target);
// Huber with threshold delta (quadratic within delta, linear outside).
LossResult huber(const Tensor& pred, const Tensor& target, float delta = 1.f);
// Distillation: T^2 * KL(softmax(teacher/T) || softmax(student/T)), mean over the batch; the T^2
// keeps gradient magnitudes comparable across temperatures (Hinton et al. 2015).
LossResult kl_divergence(const Tensor& student_logits, const Tensor& teacher_logits, float temperature);

}  // namespace edgeopt::train

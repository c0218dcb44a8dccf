#include "train/metrics/classification.h"

#include "core/error.h"

namespace edgeopt::train {

std::map<std::string, double> ClassificationMetrics::to_map() const {
  std::map<std::string, double> m{{"count", static_cast<double>(count)}, {"accuracy", accuracy}, {"macro_f1", macro_f1}};
  for (size_t k = 0; k < f1.size(); ++k) {
    const std::string n = k < class_names.size() ? class_names[k] : std::to_string(k);
    m["precision/" + n] = precision[k];
    m["recall/" + n] = recall[k];
    m["f1/" + n] = f1[k];
    m["support/" + n] = static_cast<double>(support[k]);
  }
  return m;
}

ConfusionMatrix::ConfusionMatrix(int num_classes) : k_(num_classes) {
  EDGEOPT_CHECK_ARG(num_classes >= 1, "ConfusionMatrix: num_classes must be >= 1, got " + std::to_string(num_classes));
  m_.assign(static_cast<size_t>(k_), std::vector<int64_t>(static_cast<size_t>(k_), 0));
}

void ConfusionMatrix::add(const std::vector<int64_t>& predicted, const std::vector<int64_t>& truth) {
  EDGEOPT_CHECK_ARG(predicted.size() == truth.size(), "ConfusionMatrix: " + std::to_string(predicted.size()) +
                                                          " predictions but " + std::to_string(truth.size()) + " labels");
  for (size_t i = 0; i < truth.size(); ++i) {
    EDGEOPT_CHECK_ARG(truth[i] >= 0 && truth[i] < k_, "ConfusionMatrix: label " + std::to_string(truth[i]) + " at index " +
                                                          std::to_string(i) + " is outside [0, " + std::to_string(k_) + ")");
    EDGEOPT_CHECK_ARG(predicted[i] >= 0 && predicted[i] < k_,
                      "ConfusionMatrix: prediction " + std::to_string(predicted[i]) + " at index " + std::to_string(i) +
                          " is outside [0, " + std::to_string(k_) + ")");
  }
  for (size_t i = 0; i < truth.size(); ++i) ++m_[static_cast<size_t>(truth[i])][static_cast<size_t>(predicted[i])];
}

std::vector<int64_t> argmax_rows(const Tensor& logits) {
  EDGEOPT_CHECK_ARG(logits.dtype() == DType::kF32 && logits.rank() == 2 && logits.shape()[1] >= 1,
                    "argmax_rows: logits must be f32 [N,K] with K >= 1, got " + logits.describe());
  const int64_t n = logits.shape()[0], k = logits.shape()[1];
  const float* p = logits.data<float>();
  std::vector<int64_t> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < k; ++j)
      if (p[i * k + j] > p[i * k + best]) best = j;
    out[static_cast<size_t>(i)] = best;
  }
  return out;
}

void ConfusionMatrix::add_logits(const Tensor& logits, const Tensor& labels) {
  EDGEOPT_CHECK_ARG(logits.rank() == 2 && logits.shape()[1] == k_,
                    "ConfusionMatrix: logits " + logits.describe() + " need shape [N," + std::to_string(k_) + "]");
  EDGEOPT_CHECK_ARG(labels.rank() == 1 && labels.shape()[0] == logits.shape()[0],
                    "ConfusionMatrix: labels " + labels.describe() + " need shape [" + std::to_string(logits.shape()[0]) + "]");
  add(argmax_rows(logits), labels.to_i64_vector());
}

ClassificationMetrics ConfusionMatrix::metrics(const std::vector<std::string>& class_names) const {
  ClassificationMetrics r;
  r.class_names = class_names;
  r.confusion = m_;
  const size_t k = static_cast<size_t>(k_);
  r.precision.assign(k, 0);
  r.recall.assign(k, 0);
  r.f1.assign(k, 0);
  r.support.assign(k, 0);
  int64_t correct = 0;
  std::vector<int64_t> predicted(k, 0);
  for (size_t t = 0; t < k; ++t)
    for (size_t p = 0; p < k; ++p) {
      r.count += m_[t][p];
      r.support[t] += m_[t][p];
      predicted[p] += m_[t][p];
      if (t == p) correct += m_[t][p];
    }
  r.accuracy = r.count > 0 ? static_cast<double>(correct) / static_cast<double>(r.count) : 0;
  int present = 0;
  double f1_sum = 0;
  for (size_t c = 0; c < k; ++c) {
    const double tp = static_cast<double>(m_[c][c]);
    if (predicted[c] > 0) r.precision[c] = tp / static_cast<double>(predicted[c]);
    if (r.support[c] > 0) r.recall[c] = tp / static_cast<double>(r.support[c]);
    const double pr = r.precision[c] + r.recall[c];
    r.f1[c] = pr > 0 ? 2 * r.precision[c] * r.recall[c] / pr : 0;
    if (predicted[c] > 0 || r.support[c] > 0) {
      ++present;
      f1_sum += r.f1[c];
    }
  }
  r.macro_f1 = present > 0 ? f1_sum / present : 0;
  return r;
}

ClassificationMetrics classification_metrics(const std::vector<int64_t>& predicted, const std::vector<int64_t>& truth,
                                             int num_classes, const std::vector<std::string>& class_names) {
  ConfusionMatrix cm(num_classes);
  cm.add(predicted, truth);
  return cm.metrics(class_names);
}

ClassificationMetrics classification_metrics_from_logits(const Tensor& logits, const Tensor& labels,
                                                         const std::vector<std::string>& class_names) {
  EDGEOPT_CHECK_ARG(logits.rank() == 2, "classification_metrics: logits must be [N,K], got " + logits.describe());
  ConfusionMatrix cm(static_cast<int>(logits.shape()[1]));
  cm.add_logits(logits, labels);
  return cm.metrics(class_names);
}

}  // namespace edgeopt::train

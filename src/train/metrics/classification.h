// Classification metrics: accuracy, per-class precision/recall/F1, macro-F1 and the confusion
// matrix, from predicted ids or from logits, accumulated over batches.
//
//   ConfusionMatrix cm(10);
//   for (...) cm.add_logits(logits /*f32 [B,10]*/, labels /*i64 [B]*/);
//   ClassificationMetrics m = cm.metrics(class_names);
//   std::map<std::string, double> flat = m.to_map();   // "accuracy", "macro_f1", "f1/Coat", ...
//
// Conventions: a class never predicted has precision 0 and a class absent from the labels has
// recall 0 (both with F1 0), and macro-F1 averages over the classes that occur in the labels or
// the predictions (sklearn's zero_division=0, restricted to present classes).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace edgeopt::train {

struct ClassificationMetrics {
  int64_t count = 0;
  double accuracy = 0;
  double macro_f1 = 0;
  std::vector<std::string> class_names;
  std::vector<double> precision, recall, f1;
  std::vector<int64_t> support;                 // true samples per class
  std::vector<std::vector<int64_t>> confusion;  // [true][predicted]
  // "count", "accuracy", "macro_f1", then "precision/<name>", "recall/<name>", "f1/<name>",
  // "support/<name>" per class.
  std::map<std::string, double> to_map() const;
};

class ConfusionMatrix {
 public:
  explicit ConfusionMatrix(int num_classes);
  // Throws InvalidArgument for an id outside [0, num_classes) (naming the index and the value) or
  // when the vectors differ in length.
  void add(const std::vector<int64_t>& predicted, const std::vector<int64_t>& truth);
  // logits f32 [N,K] (argmax per row, first maximum wins), labels i64/i32 [N].
  void add_logits(const Tensor& logits, const Tensor& labels);
  ClassificationMetrics metrics(const std::vector<std::string>& class_names = {}) const;
  const std::vector<std::vector<int64_t>>& counts() const { return m_; }

 private:
  int k_;
  std::vector<std::vector<int64_t>> m_;
};

ClassificationMetrics classification_metrics(const std::vector<int64_t>& predicted, const std::vector<int64_t>& truth,
                                             int num_classes, const std::vector<std::string>& class_names = {});
ClassificationMetrics classification_metrics_from_logits(const Tensor& logits, const Tensor& labels,
                                                         const std::vector<std::string>& class_names = {});
// Row-wise argmax of f32 [N,K].
std::vector<int64_t> argmax_rows(const Tensor& logits);

}  // namespace edgeopt::train

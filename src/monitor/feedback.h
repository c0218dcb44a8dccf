// Ground-truth feedback for a deployed model: predictions are remembered per request id, delayed
// labels are matched to them later, and rolling quality metrics are kept per model and version.
//
//   FeedbackStore fb({.capacity = 100000, .window = 1000});
//   fb.record("req-17", "vision_cnn", 2, &x, logits);           // at answer time (x optional)
//   auto r = fb.apply("vision_cnn", {{.id = "req-17", .label = 3}});   // later: r.matched, r.unknown
//   RollingMetrics m = *fb.rolling("vision_cnn", 2);             // accuracy, macro P/R/F1 or MAE/RMSE
//   LabelledSamples s = fb.labelled("vision_cnn", 2000);          // recent (x, label) pairs
//
// - Predictions: a bounded ring of the last `capacity` requests (id, model, version, the first
//   output's rows). A label for an id that left the ring, or was never seen, is counted as
//   unknown (reported with up to 20 of the ids), never an error for the other labels.
// - Inputs: the first input's rows of the last `input_capacity` requests are also kept (f32 only),
//   so that a label arriving later produces a labelled sample (x, y) for re-calibration,
//   fine-tuning and validation (labelled(), `labelled_capacity` per model, oldest dropped), and
//   recent unlabelled inputs are available for int8 re-calibration (recent_inputs()).
// - Metrics, over the last `window` labels per model+version: classifiers (an integer label):
//   accuracy and macro precision/recall/F1 over the classes seen in the window (labels or
//   predictions; a class never predicted has precision 0, as scikit-learn's zero_division=0);
//   the prediction is the argmax of the output row (a one-value row: value >= 0.5).
//   Regressors (a float or a list of floats): MAE and RMSE over all values.
// - A label for the same (id, row) twice counts once (the second is a duplicate).
// Thread-safety: every member may be called concurrently (one mutex).
#pragma once
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/tensor.h"

namespace edgeopt::monitor {

struct FeedbackOptions {
  size_t capacity = 100000;          // requests remembered for labelling
  size_t window = 1000;              // labels per model+version in the rolling metrics
  size_t input_capacity = 4096;      // requests whose inputs are kept (for labelled samples)
  size_t labelled_capacity = 4096;   // labelled samples kept per model
  size_t max_row_values = 4096;      // larger output/input rows are not kept
};

struct Label {
  std::string id;
  int64_t row = 0;                   // row of a multi-row request
  std::optional<int64_t> label;      // classification
  std::vector<float> value;          // regression (one value per output element, or one)
};

struct ApplyResult {
  size_t matched = 0;
  size_t unknown = 0;                // id not (or no longer) remembered
  size_t duplicate = 0;              // (id, row) already labelled
  size_t rejected = 0;               // wrong model, row out of range, or a value count mismatch
  std::vector<std::string> unknown_ids;   // the first 20
  std::vector<std::string> errors;        // the first 20 rejection reasons
};

struct RollingMetrics {
  std::string model;
  int64_t version = 0;
  std::string task;                  // "classification" or "regression"
  size_t n = 0;                      // labels in the window
  uint64_t labels_total = 0;         // ever matched for this version
  double accuracy = 0, precision = 0, recall = 0, f1 = 0;  // classification (macro P/R/F1)
  double mae = 0, rmse = 0;                                 // regression
};

// Labelled samples, oldest first: x [N, ...] (the input's row shape), y i64 [N] (classification)
// or f32 [N, k] (regression); ids and the version that answered each one.
struct LabelledSamples {
  Tensor x, y;
  std::vector<std::string> ids;
  std::vector<int64_t> versions;
  int64_t size() const { return x.defined() ? x.shape()[0] : 0; }
};

class FeedbackStore {
 public:
  explicit FeedbackStore(FeedbackOptions options = {});

  // One answered request: `output` is the first output, [rows, ...]; `input` (may be null) the
  // first input, [rows, ...]. An id recorded again replaces the earlier prediction.
  void record(const std::string& id, const std::string& model, int64_t version, const Tensor* input,
              const Tensor& output);
  ApplyResult apply(const std::string& model, const std::vector<Label>& labels);

  std::optional<RollingMetrics> rolling(const std::string& model, int64_t version) const;
  std::vector<RollingMetrics> rolling_all() const;
  uint64_t unknown_total(const std::string& model) const;
  uint64_t recorded_total() const;
  // Labelled samples (with inputs) ever produced for `model`: a marker to count new ones against.
  uint64_t labelled_total(const std::string& model) const;

  // The last `max` labelled samples of `model` (all versions), oldest first; empty when none.
  LabelledSamples labelled(const std::string& model, size_t max) const;
  // Inputs of the last `max` requests of `model` (labelled or not), x [N, ...]; undefined when none.
  Tensor recent_inputs(const std::string& model, size_t max) const;

  const FeedbackOptions& options() const { return options_; }

 private:
  struct Row {
    std::vector<float> output;
    std::vector<float> input;        // empty once the input is no longer kept
    bool labelled = false;
  };
  struct Record {
    std::string id, model;
    int64_t version = 0;
    std::vector<int64_t> input_row_shape;
    std::vector<Row> rows;
    uint64_t seq = 0;                // recorded_ when written (0: empty slot)
  };
  struct Outcome {                   // one label in a rolling window
    int64_t predicted = 0, label = 0;
    double abs_err = 0, sq_err = 0;  // summed over the values
    int64_t values = 0;
  };
  struct Window {
    std::string task;
    std::deque<Outcome> items;
    uint64_t total = 0;
  };
  struct Sample {
    std::vector<float> x;
    std::vector<int64_t> shape;
    std::optional<int64_t> label;
    std::vector<float> value;
    std::string id;
    int64_t version = 0;
  };
  RollingMetrics compute(const std::string& model, int64_t version, const Window& w) const;
  void release_input(Row& row);  // under mu_

  static constexpr size_t kSpareInputs = 64;  // recycled input buffers kept at most

  FeedbackOptions options_;
  mutable std::mutex mu_;
  std::vector<Record> ring_;
  size_t next_ = 0;
  uint64_t recorded_ = 0;
  std::unordered_map<std::string, size_t> by_id_;
  std::deque<std::pair<size_t, uint64_t>> with_input_;  // (slot, seq) whose inputs are kept, oldest first
  std::vector<std::vector<float>> spare_inputs_;         // evicted input buffers, reused by record()
  std::map<std::pair<std::string, int64_t>, Window> windows_;
  std::map<std::string, std::deque<Sample>> labelled_;
  std::map<std::string, uint64_t> unknown_;
  std::map<std::string, uint64_t> labelled_total_;
};

}  // namespace edgeopt::monitor

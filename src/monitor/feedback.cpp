#include "monitor/feedback.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

#include "core/error.h"

namespace edgeopt::monitor {

namespace {

// Row r of a [rows, ...] tensor as floats (f32, or integer outputs widened) written into `out`,
// reusing its capacity; `out` is left empty when the row is too large or of another dtype.
void row_values_into(const Tensor& t, int64_t r, size_t max_values, std::vector<float>& out) {
  out.clear();
  const int64_t rows = t.rank() == 0 ? 1 : t.shape()[0];
  const int64_t per = rows > 0 ? t.numel() / rows : 0;
  if (per <= 0 || static_cast<size_t>(per) > max_values) return;
  if (t.dtype() != DType::kF32 && t.dtype() != DType::kI64 && t.dtype() != DType::kI32) return;
  out.resize(static_cast<size_t>(per));
  const int64_t base = r * per;
  switch (t.dtype()) {
    case DType::kF32: std::memcpy(out.data(), t.data<float>() + base, sizeof(float) * out.size()); break;
    case DType::kI64:
      for (int64_t i = 0; i < per; ++i) out[static_cast<size_t>(i)] = static_cast<float>(t.data<int64_t>()[base + i]);
      break;
    default:
      for (int64_t i = 0; i < per; ++i) out[static_cast<size_t>(i)] = static_cast<float>(t.data<int32_t>()[base + i]);
      break;
  }
}

int64_t predicted_class(const std::vector<float>& v) {
  if (v.size() == 1) return v[0] >= 0.5f ? 1 : 0;
  return static_cast<int64_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

}  // namespace

FeedbackStore::FeedbackStore(FeedbackOptions options) : options_(options) {
  if (options_.capacity == 0 || options_.window == 0)
    throw_error(ErrorCode::kInvalidArgument, "feedback: capacity and window must be > 0");
  ring_.resize(options_.capacity);
}

void FeedbackStore::record(const std::string& id, const std::string& model, int64_t version, const Tensor* input,
                           const Tensor& output) {
  if (!output.defined()) return;
  const int64_t rows = output.rank() == 0 ? 1 : output.shape()[0];
  const bool keep_input = input && input->defined() && input->dtype() == DType::kF32 && input->rank() >= 1 &&
                          input->shape()[0] == rows && options_.input_capacity > 0;
  // The slot is overwritten in place and evicted inputs' buffers are recycled: the ring's blocks live
  // for `capacity` requests, and allocating fresh ones on every request (from whichever HTTP thread's
  // malloc arena) fragmented those arenas around them, so a server's RSS crept up for as long as it
  // ran (bench/soak.py: +11% over 14 minutes, all of it in glibc's thread arenas).
  std::lock_guard<std::mutex> lock(mu_);
  const size_t slot = next_;
  next_ = (next_ + 1) % ring_.size();
  Record& rec = ring_[slot];
  if (rec.seq) {
    auto it = by_id_.find(rec.id);
    if (it != by_id_.end() && it->second == slot) by_id_.erase(it);
  }
  rec.id.assign(id);
  rec.model.assign(model);
  rec.version = version;
  if (keep_input)
    rec.input_row_shape.assign(input->shape().dims().begin() + 1, input->shape().dims().end());
  else
    rec.input_row_shape.clear();
  for (size_t r = static_cast<size_t>(std::max<int64_t>(rows, 0)); r < rec.rows.size(); ++r) release_input(rec.rows[r]);
  rec.rows.resize(static_cast<size_t>(std::max<int64_t>(rows, 0)));
  for (int64_t r = 0; r < rows; ++r) {
    Row& row = rec.rows[static_cast<size_t>(r)];
    row.labelled = false;
    row_values_into(output, r, options_.max_row_values, row.output);
    if (keep_input) {
      if (row.input.capacity() == 0 && !spare_inputs_.empty()) {
        row.input = std::move(spare_inputs_.back());
        spare_inputs_.pop_back();
      }
      row_values_into(*input, r, options_.max_row_values, row.input);
    } else {
      release_input(row);
    }
  }
  rec.seq = ++recorded_;
  by_id_[id] = slot;
  if (keep_input) {
    with_input_.emplace_back(slot, rec.seq);
    while (with_input_.size() > options_.input_capacity) {
      auto [s, seq] = with_input_.front();
      with_input_.pop_front();
      if (ring_[s].seq == seq)
        for (auto& row : ring_[s].rows) release_input(row);
    }
  }
}

// Drops a row's kept input; its buffer goes to a small bounded free list for the next request's input.
void FeedbackStore::release_input(Row& row) {
  if (row.input.capacity() == 0) return;
  row.input.clear();
  if (spare_inputs_.size() < kSpareInputs)
    spare_inputs_.push_back(std::move(row.input));
  std::vector<float>().swap(row.input);
}

ApplyResult FeedbackStore::apply(const std::string& model, const std::vector<Label>& labels) {
  ApplyResult res;
  auto reject = [&](const std::string& why) {
    ++res.rejected;
    if (res.errors.size() < 20) res.errors.push_back(why);
  };
  std::lock_guard<std::mutex> lock(mu_);
  for (const Label& l : labels) {
    auto it = by_id_.find(l.id);
    if (it == by_id_.end()) {
      ++res.unknown;
      ++unknown_[model];
      if (res.unknown_ids.size() < 20) res.unknown_ids.push_back(l.id);
      continue;
    }
    Record& rec = ring_[it->second];
    if (rec.model != model) {
      reject("id '" + l.id + "' was answered by model '" + rec.model + "', not '" + model + "'");
      continue;
    }
    if (l.row < 0 || l.row >= static_cast<int64_t>(rec.rows.size())) {
      reject("id '" + l.id + "': row " + std::to_string(l.row) + " is out of range (the request had " +
             std::to_string(rec.rows.size()) + " rows)");
      continue;
    }
    Row& row = rec.rows[static_cast<size_t>(l.row)];
    if (row.output.empty()) {
      reject("id '" + l.id + "': the prediction was not kept (output row too large or not numeric)");
      continue;
    }
    if (l.label.has_value() == !l.value.empty()) {
      reject("id '" + l.id + "': give exactly one of \"label\" (class) or \"value\" (regression)");
      continue;
    }
    if (!l.value.empty() && l.value.size() != 1 && l.value.size() != row.output.size()) {
      reject("id '" + l.id + "': " + std::to_string(l.value.size()) + " values but the prediction has " +
             std::to_string(row.output.size()));
      continue;
    }
    Window& w = windows_[{model, rec.version}];
    const std::string task = l.label ? "classification" : "regression";
    if (!w.task.empty() && w.task != task) {
      reject("id '" + l.id + "': a " + task + " label for model '" + model + "' whose earlier labels were " + w.task);
      continue;
    }
    if (row.labelled) {
      ++res.duplicate;
      continue;
    }
    row.labelled = true;
    w.task = task;
    Outcome o;
    if (l.label) {
      o.predicted = predicted_class(row.output);
      o.label = *l.label;
    } else {
      const size_t k = l.value.size() == 1 ? 1 : row.output.size();
      for (size_t i = 0; i < k; ++i) {
        const double d = static_cast<double>(row.output[i]) - l.value[i];
        o.abs_err += std::abs(d);
        o.sq_err += d * d;
      }
      o.values = static_cast<int64_t>(k);
    }
    w.items.push_back(o);
    ++w.total;
    while (w.items.size() > options_.window) w.items.pop_front();
    ++res.matched;
    if (!row.input.empty()) {
      auto& dq = labelled_[model];
      dq.push_back({row.input, rec.input_row_shape, l.label, l.value, l.id, rec.version});
      ++labelled_total_[model];
      while (dq.size() > options_.labelled_capacity) dq.pop_front();
    }
  }
  return res;
}

RollingMetrics FeedbackStore::compute(const std::string& model, int64_t version, const Window& w) const {
  RollingMetrics m;
  m.model = model;
  m.version = version;
  m.task = w.task;
  m.n = w.items.size();
  m.labels_total = w.total;
  if (w.items.empty()) return m;
  if (w.task == "regression") {
    double a = 0, s = 0;
    int64_t n = 0;
    for (const auto& o : w.items) {
      a += o.abs_err;
      s += o.sq_err;
      n += o.values;
    }
    m.mae = n ? a / static_cast<double>(n) : 0;
    m.rmse = n ? std::sqrt(s / static_cast<double>(n)) : 0;
    return m;
  }
  std::map<int64_t, int64_t> tp, fp, fn;
  std::set<int64_t> classes;
  int64_t correct = 0;
  for (const auto& o : w.items) {
    classes.insert(o.label);
    classes.insert(o.predicted);
    if (o.predicted == o.label) {
      ++correct;
      ++tp[o.label];
    } else {
      ++fp[o.predicted];
      ++fn[o.label];
    }
  }
  m.accuracy = static_cast<double>(correct) / static_cast<double>(w.items.size());
  double p = 0, r = 0, f = 0;
  for (int64_t c : classes) {
    const double t = static_cast<double>(tp[c]);
    const double pc = t + fp[c] > 0 ? t / (t + fp[c]) : 0;
    const double rc = t + fn[c] > 0 ? t / (t + fn[c]) : 0;
    p += pc;
    r += rc;
    f += pc + rc > 0 ? 2 * pc * rc / (pc + rc) : 0;
  }
  const double k = static_cast<double>(classes.size());
  m.precision = p / k;
  m.recall = r / k;
  m.f1 = f / k;
  return m;
}

std::optional<RollingMetrics> FeedbackStore::rolling(const std::string& model, int64_t version) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = windows_.find({model, version});
  if (it == windows_.end()) return std::nullopt;
  return compute(model, version, it->second);
}

std::vector<RollingMetrics> FeedbackStore::rolling_all() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<RollingMetrics> out;
  for (const auto& [key, w] : windows_) out.push_back(compute(key.first, key.second, w));
  return out;
}

uint64_t FeedbackStore::unknown_total(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = unknown_.find(model);
  return it == unknown_.end() ? 0 : it->second;
}

uint64_t FeedbackStore::labelled_total(const std::string& model) const {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = labelled_total_.find(model);
  return it == labelled_total_.end() ? 0 : it->second;
}

uint64_t FeedbackStore::recorded_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recorded_;
}

LabelledSamples FeedbackStore::labelled(const std::string& model, size_t max) const {
  std::lock_guard<std::mutex> lock(mu_);
  LabelledSamples s;
  auto it = labelled_.find(model);
  if (it == labelled_.end() || it->second.empty() || max == 0) return s;
  const auto& dq = it->second;
  // Only samples with the latest sample's shape and label kind (a model's input shape can change
  // between versions; a batch must be rectangular).
  const Sample& last = dq.back();
  std::vector<const Sample*> pick;
  for (auto r = dq.rbegin(); r != dq.rend() && pick.size() < max; ++r)
    if (r->shape == last.shape && r->x.size() == last.x.size() && r->label.has_value() == last.label.has_value() &&
        r->value.size() == last.value.size())
      pick.push_back(&*r);
  std::reverse(pick.begin(), pick.end());
  const int64_t n = static_cast<int64_t>(pick.size());
  std::vector<int64_t> xd = {n};
  xd.insert(xd.end(), last.shape.begin(), last.shape.end());
  s.x = Tensor(DType::kF32, Shape(xd));
  if (last.label)
    s.y = Tensor(DType::kI64, Shape({n}));
  else
    s.y = Tensor(DType::kF32, Shape({n, static_cast<int64_t>(last.value.size())}));
  for (int64_t i = 0; i < n; ++i) {
    const Sample& p = *pick[static_cast<size_t>(i)];
    std::memcpy(s.x.data<float>() + i * static_cast<int64_t>(p.x.size()), p.x.data(), p.x.size() * sizeof(float));
    if (p.label)
      s.y.data<int64_t>()[i] = *p.label;
    else
      std::memcpy(s.y.data<float>() + i * static_cast<int64_t>(p.value.size()), p.value.data(),
                  p.value.size() * sizeof(float));
    s.ids.push_back(p.id);
    s.versions.push_back(p.version);
  }
  return s;
}

Tensor FeedbackStore::recent_inputs(const std::string& model, size_t max) const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<const std::vector<float>*> rows;
  std::vector<int64_t> shape;
  for (auto r = with_input_.rbegin(); r != with_input_.rend() && rows.size() < max; ++r) {
    const Record& rec = ring_[r->first];
    if (rec.seq != r->second || rec.model != model) continue;
    if (shape.empty()) shape = rec.input_row_shape;
    if (rec.input_row_shape != shape) continue;
    for (const auto& row : rec.rows)
      if (!row.input.empty() && rows.size() < max) rows.push_back(&row.input);
  }
  if (rows.empty()) return {};
  std::reverse(rows.begin(), rows.end());
  std::vector<int64_t> xd = {static_cast<int64_t>(rows.size())};
  xd.insert(xd.end(), shape.begin(), shape.end());
  Tensor x(DType::kF32, Shape(xd));
  const size_t per = rows[0]->size();
  for (size_t i = 0; i < rows.size(); ++i) std::memcpy(x.data<float>() + i * per, rows[i]->data(), per * sizeof(float));
  return x;
}

}  // namespace edgeopt::monitor

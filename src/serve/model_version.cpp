#include "serve/model_version.h"

#include <time.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <cstring>

namespace edgeopt::serve {

namespace {

std::string shape_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) s += ',';
    s += std::to_string(d[i]);
  }
  return s + "]";
}

// Rows [begin, begin + rows) of a tensor whose dim 0 is the batch.
Tensor slice_rows(const Tensor& t, int64_t begin, int64_t rows) {
  std::vector<int64_t> dims = t.shape().dims();
  const size_t row_bytes = dims[0] ? t.nbytes() / static_cast<size_t>(dims[0]) : 0;
  dims[0] = rows;
  Tensor out(t.dtype(), Shape(dims));
  std::memcpy(out.raw(), static_cast<const uint8_t*>(t.raw()) + row_bytes * static_cast<size_t>(begin),
              row_bytes * static_cast<size_t>(rows));
  return out;
}

}  // namespace

ModelVersion::ModelVersion(std::string name, int64_t version, ModelConfig config, const Graph& graph,
                           ExecOptions options, const SplitSpec* split)
    : name_(std::move(name)), version_(version), config_(std::move(config)), options_(options) {
  const int workers = std::max(1, config_.instance_count > 0 ? config_.instance_count : options_.threads);
  config_.instance_count = workers;  // what runs, for the /config endpoint
  if (split)
    split_ = std::make_shared<SplitBackend>(graph, *split, name_, workers);
  else
    for (int i = 0; i < workers; ++i) sessions_.push_back(std::make_unique<runtime::Session>(graph));
  for (const auto& o : config_.outputs) model_outputs_.push_back(o.name);
  for (int i = 0; i < workers; ++i) workers_.emplace_back([this, i] { worker_loop(static_cast<size_t>(i)); });
}

ModelVersion::~ModelVersion() {
  shutdown();
  for (auto& t : workers_) t.join();
  // The sessions hold the weights and activation arenas: free them now, not after this body, so
  // that the trim below sees their pages free.
  sessions_.clear();
  {
    std::lock_guard<std::mutex> dl(drift_mu_);
    drift_.reset();
  }
#if defined(__GLIBC__)
  // glibc keeps freed pages in its heaps when live blocks sit above them (the top is not trimmed):
  // measured by bench/soak.py, RSS grew ~1 MB per model swap without this. Hand them back.
  malloc_trim(0);
#endif
}

void ModelVersion::shutdown() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
}

size_t ModelVersion::queue_size() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void ModelVersion::set_drift(std::unique_ptr<monitor::DriftDetector> d) {
  std::lock_guard<std::mutex> dl(drift_mu_);
  drift_ = std::move(d);
}

std::optional<monitor::DriftStatus> ModelVersion::drift_status() const {
  std::lock_guard<std::mutex> dl(drift_mu_);
  if (!drift_) return std::nullopt;
  return drift_->status();
}

std::vector<double> ModelVersion::recent_latencies(double window_s, double* covered_s) const {
  const auto now = Clock::now();
  const auto since = now - std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(window_s));
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<double> out;
  auto it = recent_.rbegin();
  for (; it != recent_.rend() && it->first >= since; ++it) out.push_back(it->second);
  if (covered_s) {
    // The ring holds the last 4096 answers: when all of them are inside the window and the ring is
    // full, older answers in the window were dropped and the covered span is shorter.
    const bool cut = it == recent_.rend() && recent_.size() >= 4096;
    *covered_s = cut ? std::max(1e-3, std::chrono::duration<double>(now - recent_.front().first).count()) : window_s;
  }
  return out;
}

VersionStats ModelVersion::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void ModelVersion::validate(const InferRequest& r, int64_t* rows) const {
  const std::string model = "model '" + name_ + "' version " + std::to_string(version_);
  *rows = 1;
  bool first = true;
  for (const auto& in : config_.inputs) {
    auto it = r.inputs.find(in.name);
    if (it == r.inputs.end())
      throw ServeError(Status::kBadRequest, "input '" + in.name + "' is missing (" + model + " expects " +
                                                oip_datatype(in.dtype) + shape_str(in.dims) + ")");
    const Tensor& t = it->second;
    if (t.dtype() != in.dtype)
      throw ServeError(Status::kBadRequest, "input '" + in.name + "' has datatype " + oip_datatype(t.dtype()) + " but " +
                                                model + " expects " + oip_datatype(in.dtype));
    const auto& dims = t.shape().dims();
    const size_t skip = config_.max_batch_size > 0 ? 1 : 0;
    std::vector<int64_t> expect = in.dims;
    if (skip) expect.insert(expect.begin(), -1);
    bool ok = dims.size() == expect.size();
    for (size_t d = 0; ok && d < dims.size(); ++d)
      if (expect[d] >= 0 && dims[d] != expect[d]) ok = false;
    if (!ok)
      throw ServeError(Status::kBadRequest, "input '" + in.name + "' has shape " + shape_str(dims) + " but " + model +
                                                " expects " + shape_str(expect) +
                                                (skip ? " (first dim = batch, at most " + std::to_string(config_.max_batch_size) + ")" : ""));
    if (skip) {
      if (dims[0] < 1 || dims[0] > config_.max_batch_size)
        throw ServeError(Status::kBadRequest, "input '" + in.name + "' has batch size " + std::to_string(dims[0]) + " but " +
                                                  model + " takes 1.." + std::to_string(config_.max_batch_size) + " (max_batch_size)");
      if (!first && dims[0] != *rows)
        throw ServeError(Status::kBadRequest, "input '" + in.name + "' has batch size " + std::to_string(dims[0]) +
                                                  " but another input has " + std::to_string(*rows));
      *rows = dims[0];
    }
    first = false;
  }
  for (const auto& [name, t] : r.inputs) {
    bool known = false;
    for (const auto& in : config_.inputs) known = known || in.name == name;
    if (!known) throw ServeError(Status::kBadRequest, "'" + name + "' is not an input of " + model);
  }
  for (const auto& o : r.outputs)
    if (std::find(model_outputs_.begin(), model_outputs_.end(), o) == model_outputs_.end())
      throw ServeError(Status::kBadRequest, "requested output '" + o + "' is not an output of " + model);
}

std::future<InferResult> ModelVersion::submit(InferRequest request) {
  Pending p;
  validate(request, &p.rows);
  p.request = std::move(request);
  p.enqueued = Clock::now();
  auto fut = p.promise.get_future();
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      ++stats_.rejected;
      throw ServeError(Status::kUnavailable, "model '" + name_ + "' version " + std::to_string(version_) +
                                                 " is shutting down; retry on another server or later");
    }
    if (queue_.size() >= options_.max_queue) {
      ++stats_.rejected;
      throw ServeError(Status::kQueueFull, "model '" + name_ + "' is overloaded: " + std::to_string(queue_.size()) +
                                               " requests already queued (--max-queue " +
                                               std::to_string(options_.max_queue) + "); retry later");
    }
    queue_.push_back(std::move(p));
    ++stats_.accepted;
  }
  cv_.notify_all();
  return fut;
}

InferResult ModelVersion::infer(InferRequest request) {
  const auto deadline = request.deadline;
  auto fut = submit(std::move(request));
  if (deadline != Clock::time_point::max() && fut.wait_until(deadline) == std::future_status::timeout)
    throw ServeError(Status::kDeadlineExceeded, "model '" + name_ + "': the request deadline passed before the result was ready");
  return fut.get();
}

bool ModelVersion::compatible(const Pending& a, const Pending& b) const {
  for (const auto& [name, t] : a.request.inputs) {
    auto it = b.request.inputs.find(name);
    if (it == b.request.inputs.end()) return false;
    const auto& da = t.shape().dims();
    const auto& db = it->second.shape().dims();
    if (da.size() != db.size() || !std::equal(da.begin() + 1, da.end(), db.begin() + 1)) return false;
  }
  return true;
}

void ModelVersion::worker_loop(size_t index) {
  const bool batching = config_.max_batch_size > 0;
  const auto delay = std::chrono::microseconds(config_.dynamic_batching ? config_.max_queue_delay_us : 0);
  for (;;) {
    std::vector<Pending> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return (!queue_.empty() && !collecting_) || (stopping_ && queue_.empty()); });
      if (queue_.empty()) return;  // stopping and drained
      // Expired requests are answered without running (the caller has already given up on them).
      const auto now = Clock::now();
      while (!queue_.empty() && queue_.front().request.deadline < now) {
        ++stats_.expired;
        queue_.front().promise.set_exception(std::make_exception_ptr(ServeError(
            Status::kDeadlineExceeded, "model '" + name_ + "': the request deadline passed while it was queued")));
        queue_.pop_front();
      }
      if (queue_.empty()) continue;
      batch.push_back(std::move(queue_.front()));
      queue_.pop_front();
      int64_t rows = batch[0].rows;
      if (batching) {
        collecting_ = true;
        const auto until = batch[0].enqueued + delay;
        auto preferred = [&](int64_t r) {
          return std::find(config_.preferred_batch_sizes.begin(), config_.preferred_batch_sizes.end(), r) !=
                 config_.preferred_batch_sizes.end();
        };
        while (rows < config_.max_batch_size && !preferred(rows)) {
          if (!queue_.empty()) {
            Pending& next = queue_.front();
            if (!compatible(batch[0], next) || rows + next.rows > config_.max_batch_size) break;
            rows += next.rows;
            batch.push_back(std::move(next));
            queue_.pop_front();
            continue;
          }
          if (stopping_ || Clock::now() >= until) break;
          cv_.wait_until(lock, until);
        }
        collecting_ = false;
      }
    }
    cv_.notify_all();  // another worker may collect the next batch while this one runs
    run_batch(index, batch);
  }
}

void ModelVersion::run_batch(size_t index, std::vector<Pending>& batch) {
  try {
    std::map<std::string, Tensor> feeds;
    int64_t total = 0;
    for (const auto& p : batch) total += p.rows;
    if (batch.size() == 1) {
      feeds = batch[0].request.inputs;
    } else {
      for (const auto& [name, first] : batch[0].request.inputs) {
        std::vector<int64_t> dims = first.shape().dims();
        dims[0] = total;
        Tensor cat(first.dtype(), Shape(dims));
        size_t offset = 0;
        for (const auto& p : batch) {
          const Tensor& t = p.request.inputs.at(name);
          std::memcpy(static_cast<uint8_t*>(cat.raw()) + offset, t.raw(), t.nbytes());
          offset += t.nbytes();
        }
        feeds[name] = cat;
      }
    }
    std::map<std::string, Tensor> outputs;
    timespec cpu0{}, cpu1{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu0);
    try {
      outputs = split_ ? split_->infer(index, feeds) : sessions_[index]->run(feeds);
    } catch (const std::exception&) {
      if (batch.size() == 1) throw;
      // One bad request (e.g. a variable dim the model rejects) must not fail the others batched
      // with it: run each alone so only the bad one gets the error.
      for (auto& p : batch) {
        std::vector<Pending> single;
        single.push_back(std::move(p));
        run_batch(index, single);
      }
      return;
    }
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu1);
    const double run_cpu = static_cast<double>(cpu1.tv_sec - cpu0.tv_sec) + 1e-9 * static_cast<double>(cpu1.tv_nsec - cpu0.tv_nsec);
    // Every answer is built, and the batch counted and shown to the drift detector, before the
    // first promise is fulfilled: a caller that reads the stats or /metrics right after its
    // answer then sees its own request counted (no throw can leave some requests answered).
    std::vector<InferResult> results(batch.size());
    int64_t begin = 0;
    for (size_t i = 0; i < batch.size(); ++i) {
      auto& p = batch[i];
      InferResult& r = results[i];
      const auto& names = p.request.outputs.empty() ? model_outputs_ : p.request.outputs;
      for (const auto& n : names) {
        auto it = outputs.find(n);
        if (it == outputs.end())
          throw ServeError(Status::kInternal, "model '" + name_ + "' produced no output '" + n + "'");
        if (batch.size() == 1) {
          r.outputs.emplace_back(n, it->second);
          continue;
        }
        if (it->second.rank() == 0 || it->second.shape()[0] != total)
          throw ServeError(Status::kInternal, "model '" + name_ + "': output '" + n + "' has shape " +
                                                  it->second.shape().str() + ", not batch-major with " +
                                                  std::to_string(total) + " rows");
        r.outputs.emplace_back(n, slice_rows(it->second, begin, p.rows));
      }
      begin += p.rows;
    }
    if (drift_) {
      // Monitoring must never fail a request: a batch the detector cannot read is counted, not thrown.
      std::lock_guard<std::mutex> dl(drift_mu_);
      try {
        const Tensor& x = feeds.at(config_.inputs.at(0).name);
        auto oit = outputs.find(model_outputs_.at(0));
        drift_->observe(x, oit == outputs.end() ? nullptr : &oit->second);
      } catch (const std::exception&) {
        ++drift_errors_;
      }
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      size_t b = 0;
      while (b < kBatchBuckets.size() && static_cast<double>(begin) > kBatchBuckets[b]) ++b;
      ++stats_.batch_counts[b];
      stats_.requests += batch.size();
      stats_.run_cpu_seconds += run_cpu;
      stats_.batches += 1;
      stats_.rows += static_cast<uint64_t>(begin);
      stats_.max_batch_rows_seen = std::max(stats_.max_batch_rows_seen, static_cast<size_t>(begin));
    }
    for (size_t i = 0; i < batch.size(); ++i) {
      const auto answered = Clock::now();
      const double secs = std::chrono::duration<double>(answered - batch[i].enqueued).count();
      {
        std::lock_guard<std::mutex> lock(mu_);
        recent_.emplace_back(answered, secs);
        if (recent_.size() > 4096) recent_.pop_front();
        size_t b = 0;
        while (b < kLatencyBuckets.size() && secs > kLatencyBuckets[b]) ++b;
        ++stats_.latency_counts[b];
        stats_.latency_sum_s += secs;
      }
      batch[i].promise.set_value(std::move(results[i]));
    }
  } catch (...) {
    std::exception_ptr err = std::current_exception();
    try {
      throw;
    } catch (const ServeError&) {
    } catch (const Error& e) {
      err = std::make_exception_ptr(ServeError::from(e));
    } catch (const std::exception& e) {
      err = std::make_exception_ptr(ServeError(Status::kInternal, "model '" + name_ + "': " + e.what()));
    }
    for (auto& p : batch) {
      try {
        p.promise.set_exception(err);
      } catch (const std::future_error&) {
        // this request already got its value before the failure
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    stats_.failed += batch.size();
  }
}

}  // namespace edgeopt::serve

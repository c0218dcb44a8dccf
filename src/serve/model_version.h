// serve::ModelVersion: one loaded version of one model, with a bounded request queue, a dynamic
// batcher and worker threads that each own a runtime::Session (Session is not thread-safe; the
// weights are shared, the activations are per worker).
//
//   auto mv = std::make_shared<ModelVersion>("vision_cnn", 1, config, graph, ExecOptions{});
//   InferRequest r;  r.inputs["input"] = x;  r.deadline = Clock::now() + 1s;
//   InferResult out = mv->infer(std::move(r));        // blocks; throws ServeError
//
// Batching (config.max_batch_size > 0 with dynamic_batching): a worker takes the oldest request and
// keeps adding queued requests with the same non-batch input shapes until the batch reaches
// max_batch_size rows, a preferred batch size, or max_queue_delay_us has passed since the oldest
// one arrived; inputs are concatenated along dim 0, run once, and outputs split back by rows. Only
// one worker collects at a time, so concurrent requests end up in one batch, not one per worker.
// When a batched run throws, its requests are run one by one, so only a bad request gets the error.
// Back-pressure: submit() throws kQueueFull when max_queue requests already wait, kUnavailable once
// shutdown() began. A request still queued at its deadline is answered kDeadlineExceeded without
// running. The destructor finishes every queued request, then joins the workers, so dropping the
// last shared_ptr (hot swap) never fails a request that was already accepted.
// Thread-safety: all public members may be called concurrently.
#pragma once
#include <optional>

#include "monitor/drift.h"
#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/graph.h"
#include "core/tensor.h"
#include "runtime/session.h"
#include "serve/model_config.h"
#include "serve/split_backend.h"
#include "serve/status.h"

namespace edgeopt::serve {

using Clock = std::chrono::steady_clock;

struct InferRequest {
  std::string id;                    // the OIP request id; Server::infer generates one when empty
  std::map<std::string, Tensor> inputs;
  std::vector<std::string> outputs;  // requested output names; empty = all, in model order
  Clock::time_point deadline = Clock::time_point::max();
};

struct InferResult {
  std::vector<std::pair<std::string, Tensor>> outputs;  // in the requested (or model) order
  std::string id;                                       // the request id (Server::infer sets it)
};

struct ExecOptions {
  int threads = 1;          // worker threads (Sessions) when the config's instance_group says 0
  size_t max_queue = 64;    // requests waiting per model version before kQueueFull
};

struct VersionStats {
  uint64_t accepted = 0;   // requests queued by submit()
  uint64_t requests = 0;   // requests answered with outputs
  uint64_t batches = 0;    // Session::run calls
  uint64_t rows = 0;       // batch rows run
  uint64_t rejected = 0;   // kQueueFull / kUnavailable at submit
  uint64_t expired = 0;    // kDeadlineExceeded in the queue
  uint64_t failed = 0;     // the model threw
  size_t max_batch_rows_seen = 0;
  // Request latency (queued to answered, seconds) and rows per model run, as cumulative-ready
  // histograms over fixed buckets (kLatencyBuckets / kBatchBuckets; the last count is +Inf).
  std::array<uint64_t, 13> latency_counts{};
  double latency_sum_s = 0;
  std::array<uint64_t, 8> batch_counts{};
  // CPU time of the worker threads inside Session::run (CLOCK_THREAD_CPUTIME_ID), for the energy
  // estimate per inference.
  double run_cpu_seconds = 0;
};
inline constexpr std::array<double, 12> kLatencyBuckets = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                           0.05,   0.1,   0.25,   0.5,   1.0,  2.5};
inline constexpr std::array<double, 7> kBatchBuckets = {1, 2, 4, 8, 16, 32, 64};

class ModelVersion {
 public:
  // Builds `workers` Sessions from `graph` (construction errors propagate as edgeopt::Error). With
  // `split`, the workers run the model through an edge-cloud split instead (split_backend.h).
  ModelVersion(std::string name, int64_t version, ModelConfig config, const Graph& graph, ExecOptions options,
               const SplitSpec* split = nullptr);
  ~ModelVersion();
  ModelVersion(const ModelVersion&) = delete;
  ModelVersion& operator=(const ModelVersion&) = delete;

  // Checks the request against the config (names, dtypes, shapes, batch rows; errors name the
  // tensor) and queues it. Throws ServeError (kBadRequest, kQueueFull, kUnavailable).
  std::future<InferResult> submit(InferRequest request);
  // submit() then wait until the result or the deadline (kDeadlineExceeded).
  InferResult infer(InferRequest request);
  // Stop accepting; queued requests still run. Idempotent; the destructor calls it.
  void shutdown();

  const std::string& name() const { return name_; }
  int64_t version() const { return version_; }
  const ModelConfig& config() const { return config_; }
  size_t queue_size() const;
  VersionStats stats() const;
  // Drift detection on this version's traffic (monitor/drift.h): every answered batch's first input
  // and first output are observed. Set once, before traffic (the repository does it at load).
  void set_drift(std::unique_ptr<monitor::DriftDetector> d);
  // The detector's latest status; nullopt without a reference.
  std::optional<monitor::DriftStatus> drift_status() const;
  // Latencies (seconds, queued to answered) of the requests answered in the last `window_s`
  // seconds, at most the last 4096, newest first. *covered_s (when given): the seconds those answers
  // span, window_s unless the 4096 cap cut the window short (throughput = size / covered).
  std::vector<double> recent_latencies(double window_s, double* covered_s = nullptr) const;
  // The edge-cloud split this version runs through; null for a whole model.
  const std::shared_ptr<SplitBackend>& split() const { return split_; }

 private:
  struct Pending {
    InferRequest request;
    int64_t rows = 1;  // dim 0 of the inputs when batching
    Clock::time_point enqueued;
    std::promise<InferResult> promise;
  };
  void worker_loop(size_t index);
  void run_batch(size_t index, std::vector<Pending>& batch);
  bool compatible(const Pending& a, const Pending& b) const;
  void validate(const InferRequest& r, int64_t* rows) const;

  std::string name_;
  int64_t version_;
  ModelConfig config_;
  ExecOptions options_;
  std::vector<std::unique_ptr<runtime::Session>> sessions_;  // one per worker (none when split)
  std::shared_ptr<SplitBackend> split_;
  std::vector<std::string> model_outputs_;
  std::unique_ptr<monitor::DriftDetector> drift_;
  mutable std::mutex drift_mu_;
  uint64_t drift_errors_ = 0;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  bool collecting_ = false;
  VersionStats stats_;
  std::deque<std::pair<Clock::time_point, double>> recent_;  // (answered at, latency s), under mu_
  std::vector<std::thread> workers_;
};

}  // namespace edgeopt::serve

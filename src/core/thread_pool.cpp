#include "core/thread_pool.h"

#include <algorithm>
#include <cstdlib>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EDGEOPT_CPU_RELAX() _mm_pause()
#else
#define EDGEOPT_CPU_RELAX() ((void)0)
#endif

namespace edgeopt {
namespace {

// Spinning a little before sleeping hides the condition-variable wake-up (tens of microseconds),
// which matters for the many small kernels of an inference pass; kept short because the cores may
// be shared.
constexpr int kSpinIterations = 4000;

thread_local bool tls_in_parallel = false;

int default_thread_count() {
  if (const char* env = std::getenv("EDGEOPT_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc == 0 ? 1 : static_cast<int>(hc);
}

std::mutex g_default_mu;
std::unique_ptr<ThreadPool> g_default;

}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  workers_.reserve(num_threads_ - 1);
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  wake_.notify_all();
  for (auto& t : workers_) t.join();
}

int64_t ThreadPool::num_chunks(int64_t n, int64_t grain) const {
  if (n <= 0) return 0;
  grain = std::max<int64_t>(1, grain);
  int64_t units = (n + grain - 1) / grain;
  return std::min<int64_t>(units, num_threads_);
}

void ThreadPool::chunk_bounds(int64_t n, int64_t grain, int64_t chunks, int64_t c, int64_t* begin,
                              int64_t* end) {
  grain = std::max<int64_t>(1, grain);
  int64_t units = (n + grain - 1) / grain;
  *begin = std::min(n, units * c / chunks * grain);
  *end = std::min(n, units * (c + 1) / chunks * grain);
}

void ThreadPool::run_chunk(int64_t c) {
  int64_t b, e;
  chunk_bounds(n_, grain_, chunks_, c, &b, &e);
  if (b >= e) return;
  bool was = tls_in_parallel;
  tls_in_parallel = true;
  try {
    (*fn_)(b, e);
  } catch (...) {
    std::lock_guard<std::mutex> lk(error_mu_);
    if (!error_) error_ = std::current_exception();
  }
  tls_in_parallel = was;
}

void ThreadPool::worker_loop(int index) {
  uint64_t seen = 0;
  for (;;) {
    uint64_t g = generation_.load(std::memory_order_acquire);
    for (int i = 0; g == seen && i < kSpinIterations; ++i) {
      EDGEOPT_CPU_RELAX();
      g = generation_.load(std::memory_order_acquire);
    }
    if (g == seen) {
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return stop_ || generation_.load(std::memory_order_acquire) != seen; });
      if (stop_) return;
      g = generation_.load(std::memory_order_acquire);
    }
    seen = g;
    // Every worker takes part in every job (possibly with an empty chunk), so a job's fields are
    // never read after the caller moved on to the next job.
    if (index < chunks_) run_chunk(index);
    if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      std::lock_guard<std::mutex> lk(mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(int64_t n, const RangeFn& fn, int64_t grain) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  const int64_t chunks = num_chunks(n, grain);
  auto run_inline = [&] {
    bool was = tls_in_parallel;
    tls_in_parallel = true;
    struct Restore {
      bool& flag;
      bool value;
      ~Restore() { flag = value; }
    } restore{tls_in_parallel, was};
    for (int64_t c = 0; c < chunks; ++c) {
      int64_t b, e;
      chunk_bounds(n, grain, chunks, c, &b, &e);
      if (b < e) fn(b, e);
    }
  };
  if (chunks <= 1 || workers_.empty() || tls_in_parallel) return run_inline();
  std::unique_lock<std::mutex> owner(busy_, std::try_to_lock);
  if (!owner.owns_lock()) return run_inline();

  fn_ = &fn;
  n_ = n;
  grain_ = grain;
  chunks_ = chunks;
  error_ = nullptr;
  pending_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  {
    std::lock_guard<std::mutex> lk(mu_);
    generation_.fetch_add(1, std::memory_order_release);
  }
  wake_.notify_all();
  run_chunk(0);
  for (int i = 0; pending_.load(std::memory_order_acquire) != 0 && i < kSpinIterations; ++i) EDGEOPT_CPU_RELAX();
  if (pending_.load(std::memory_order_acquire) != 0) {
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return pending_.load(std::memory_order_acquire) == 0; });
  }
  fn_ = nullptr;
  std::exception_ptr err = error_;
  error_ = nullptr;
  owner.unlock();
  if (err) std::rethrow_exception(err);
}

ThreadPool& default_pool() {
  std::lock_guard<std::mutex> lk(g_default_mu);
  if (!g_default) g_default = std::make_unique<ThreadPool>(default_thread_count());
  return *g_default;
}

void set_num_threads(int n) {
  std::lock_guard<std::mutex> lk(g_default_mu);
  int want = n < 1 ? default_thread_count() : n;
  if (g_default && g_default->num_threads() == want) return;
  g_default.reset();
  g_default = std::make_unique<ThreadPool>(want);
}

int num_threads() { return default_pool().num_threads(); }

void parallel_for(int64_t n, const ThreadPool::RangeFn& fn, int64_t grain) {
  default_pool().parallel_for(n, fn, grain);
}

}  // namespace edgeopt

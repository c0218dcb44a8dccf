#include "core/thread_pool.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <memory>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define EDGEOPT_CPU_RELAX() _mm_pause()
#elif defined(__aarch64__)
#define EDGEOPT_CPU_RELAX() __asm__ __volatile__("yield")
#else
#define EDGEOPT_CPU_RELAX() ((void)0)
#endif

namespace edgeopt {
namespace {

// Spinning a little before sleeping hides the condition-variable wake-up (tens of microseconds),
// which matters for the many small kernels of an inference pass; kept short because the cores may
// be shared.
constexpr auto kSpinTime = std::chrono::microseconds(200);
// While spinning, yield the CPU every this many pauses (~3 us on Zen 4, where a pause takes
// ~45 ns): when the other thread of a fork-join was put on the same CPU (a shared machine whose
// other CPU is busy), a pure spin would take half of its time from it; sched_yield lets it run,
// and on an otherwise idle CPU it returns at once.
constexpr int kPausesPerYield = 64;

// Spins until done() or kSpinTime has passed; returns done().
template <typename Done>
bool spin_until(Done&& done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < kPausesPerYield; ++i) {
      if (done()) return true;
      EDGEOPT_CPU_RELAX();
    }
    if (std::chrono::steady_clock::now() >= deadline) return done();
    std::this_thread::yield();
  }
}

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

constexpr uint64_t kGenShift = 32, kChunksShift = 16, kField = 0xffff;
uint64_t job_gen(uint64_t w) { return w >> kGenShift; }
uint64_t job_chunks(uint64_t w) { return (w >> kChunksShift) & kField; }
uint64_t job_next(uint64_t w) { return w & kField; }
bool job_has_work(uint64_t w) { return job_next(w) < job_chunks(w); }

}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::clamp(num_threads, 1, 1024)) {
  workers_.reserve(num_threads_ - 1);
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this] { worker_loop(); });
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

int64_t ThreadPool::claim_and_run(uint64_t w) {
  int64_t ran = 0;
  while (job_has_work(w)) {
    if (!job_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    run_chunk(static_cast<int64_t>(job_next(w)));
    ++ran;
    if (done_.fetch_add(1, std::memory_order_acq_rel) + 1 == static_cast<int64_t>(job_chunks(w))) {
      std::lock_guard<std::mutex> lk(mu_);  // the caller may be asleep on done_cv_
      done_cv_.notify_one();
    }
    w = job_.load(std::memory_order_acquire);
  }
  return ran;
}

void ThreadPool::worker_loop() {
  uint64_t seen_gen = 0;
  for (;;) {
    uint64_t w = 0;
    spin_until([&] {
      w = job_.load(std::memory_order_acquire);
      return job_gen(w) != seen_gen;
    });
    if (job_gen(w) == seen_gen) {
      stat_worker_sleeps_.fetch_add(1, std::memory_order_relaxed);
      std::unique_lock<std::mutex> lk(mu_);
      wake_.wait(lk, [&] { return stop_ || job_gen(job_.load(std::memory_order_acquire)) != seen_gen; });
      if (stop_) return;
      w = job_.load(std::memory_order_acquire);
    }
    seen_gen = job_gen(w);
    claim_and_run(w);
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
  done_.store(0, std::memory_order_relaxed);
  const uint64_t word = ((job_gen(job_.load(std::memory_order_relaxed)) + 1) << kGenShift) |
                        (static_cast<uint64_t>(chunks) << kChunksShift);
  {
    std::lock_guard<std::mutex> lk(mu_);
    job_.store(word, std::memory_order_release);
  }
  wake_.notify_all();
  const int64_t ran = claim_and_run(word);
  stat_jobs_.fetch_add(1, std::memory_order_relaxed);
  stat_chunks_.fetch_add(chunks, std::memory_order_relaxed);
  stat_caller_chunks_.fetch_add(ran, std::memory_order_relaxed);
  // Every chunk is claimed; wait only for those still running on a worker.
  if (!spin_until([&] { return done_.load(std::memory_order_acquire) == chunks; })) {
    stat_caller_sleeps_.fetch_add(1, std::memory_order_relaxed);
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [&] { return done_.load(std::memory_order_acquire) == chunks; });
  }
  fn_ = nullptr;
  std::exception_ptr err = error_;
  error_ = nullptr;
  owner.unlock();
  if (err) std::rethrow_exception(err);
}

ThreadPool::Stats ThreadPool::stats() const {
  Stats st;
  st.jobs = stat_jobs_.load(std::memory_order_relaxed);
  st.chunks = stat_chunks_.load(std::memory_order_relaxed);
  st.caller_chunks = stat_caller_chunks_.load(std::memory_order_relaxed);
  st.caller_sleeps = stat_caller_sleeps_.load(std::memory_order_relaxed);
  st.worker_sleeps = stat_worker_sleeps_.load(std::memory_order_relaxed);
  return st;
}

void ThreadPool::reset_stats() {
  for (auto* c : {&stat_jobs_, &stat_chunks_, &stat_caller_chunks_, &stat_caller_sleeps_, &stat_worker_sleeps_})
    c->store(0, std::memory_order_relaxed);
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

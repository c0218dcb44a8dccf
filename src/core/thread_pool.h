// ThreadPool: a small intra-op pool with deterministic static partitioning.
//
//   edgeopt::parallel_for(rows, [&](int64_t begin, int64_t end) {
//     for (int64_t i = begin; i < end; ++i) process_row(i);
//   });
//   edgeopt::set_num_threads(1);  // e.g. for single-thread benchmarks
//
// parallel_for(n, fn) splits [0, n) into at most num_threads() contiguous chunks whose bounds
// depend only on n, the grain and the thread count (never on scheduling), so a kernel whose chunks
// write disjoint outputs gives bit-identical results run after run. Which thread runs a chunk is
// dynamic: the caller and the workers claim chunks from one atomic counter, so when a worker is
// slow to wake (a busy or shared core) the caller runs its chunks instead of waiting for it; the
// caller only ever waits for chunks already being run. It returns when every chunk is done.
// Waiting threads (a worker between jobs, the caller for a worker's last chunk) spin ~200 us,
// yielding the CPU every few microseconds so that a fork-join partner placed on the same CPU can
// run, then sleep on a condition variable. A call made from inside a chunk (nested parallelism), or
// while another thread is using the same pool, runs its chunks inline on the calling thread, with
// the same chunk bounds. The first exception thrown by a chunk is rethrown to the caller after all
// chunks finished.
//
// The default pool is sized by set_num_threads(n), else the EDGEOPT_NUM_THREADS environment
// variable, else std::thread::hardware_concurrency(). set_num_threads must not race with a running
// parallel_for on the default pool.
#pragma once
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace edgeopt {

class ThreadPool {
 public:
  using RangeFn = std::function<void(int64_t begin, int64_t end)>;

  // num_threads counts the calling thread: 1 means no worker threads at all. Values < 1 mean 1.
  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }
  // Runs fn over [0, n) in contiguous chunks of at least `grain` items (the last may be shorter).
  void parallel_for(int64_t n, const RangeFn& fn, int64_t grain = 1);
  // The chunk count and bounds parallel_for uses (exposed for kernels that size per-chunk scratch).
  int64_t num_chunks(int64_t n, int64_t grain = 1) const;
  static void chunk_bounds(int64_t n, int64_t grain, int64_t chunks, int64_t c, int64_t* begin, int64_t* end);

  // Counters since construction or reset_stats(), for benchmarks and diagnosis (how often the
  // threads met, who ran the chunks, how often someone had to sleep and be woken).
  struct Stats {
    int64_t jobs = 0;              // parallel_for calls handed to the workers (2+ chunks)
    int64_t chunks = 0;            // the chunks of those calls
    int64_t caller_chunks = 0;     // ... run by the calling thread (its own, and those of late workers)
    int64_t caller_sleeps = 0;     // the caller waited past its spin for a worker's chunk to finish
    int64_t worker_sleeps = 0;     // a worker found no job within its spin and slept (a wake-up later)
  };
  Stats stats() const;
  void reset_stats();

 private:
  void worker_loop();
  void run_chunk(int64_t c);
  // Claims and runs chunks of the job published as `word` until none is left; returns how many.
  int64_t claim_and_run(uint64_t word);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex busy_;  // held by the thread that owns the current job
  std::mutex mu_;
  std::condition_variable wake_, done_cv_;
  // The job word: generation (high 32 bits) | chunk count (16 bits) | next unclaimed chunk (16 bits).
  // A chunk is claimed by a CAS that bumps "next"; the job's fields stay valid while a claimed chunk
  // runs, because the caller waits for done_ == chunks before it publishes another job.
  std::atomic<uint64_t> job_{0};
  std::atomic<int64_t> done_{0};
  bool stop_ = false;
  // The current job (valid while one of its chunks is claimed and not done).
  const RangeFn* fn_ = nullptr;
  int64_t n_ = 0, grain_ = 1, chunks_ = 0;
  std::exception_ptr error_;
  std::mutex error_mu_;
  std::atomic<int64_t> stat_jobs_{0}, stat_chunks_{0}, stat_caller_chunks_{0}, stat_caller_sleeps_{0},
      stat_worker_sleeps_{0};
};

// The process-wide pool used by the kernels.
ThreadPool& default_pool();
// Resizes the default pool (n < 1 restores the default: EDGEOPT_NUM_THREADS or hardware cores).
void set_num_threads(int n);
int num_threads();
// default_pool().parallel_for(n, fn, grain).
void parallel_for(int64_t n, const ThreadPool::RangeFn& fn, int64_t grain = 1);

}  // namespace edgeopt

#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <sched.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <numeric>
#include <set>
#include <stdexcept>
#include <thread>

namespace edgeopt {

TEST(ThreadPool, CoversEveryIndexExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    ThreadPool pool(threads);
    for (int64_t n : {1, 2, 3, 7, 64, 1001}) {
      for (int64_t grain : {1, 4, 100}) {
        std::vector<std::atomic<int>> hits(n);
        pool.parallel_for(n, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) hits[i]++;
        }, grain);
        for (int64_t i = 0; i < n; ++i)
          ASSERT_EQ(hits[i].load(), 1) << "threads=" << threads << " n=" << n << " grain=" << grain << " i=" << i;
      }
    }
  }
}

TEST(ThreadPool, ChunkBoundsAreStaticAndRespectGrain) {
  ThreadPool pool(3);
  for (int rep = 0; rep < 20; ++rep) {
    std::mutex mu;
    std::set<std::pair<int64_t, int64_t>> seen;
    pool.parallel_for(100, [&](int64_t b, int64_t e) {
      std::lock_guard<std::mutex> lk(mu);
      seen.insert({b, e});
    }, 8);
    // 13 units of 8 over 3 chunks: [0,32) [32,64) [64,100).
    std::set<std::pair<int64_t, int64_t>> want{{0, 32}, {32, 64}, {64, 100}};
    ASSERT_EQ(seen, want) << "rep " << rep;
  }
}

TEST(ThreadPool, NestedCallsRunInline) {
  ThreadPool pool(2);
  std::atomic<int64_t> sum{0};
  pool.parallel_for(4, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      pool.parallel_for(10, [&](int64_t b2, int64_t e2) {
        for (int64_t j = b2; j < e2; ++j) sum += i * 10 + j;
      });
  });
  EXPECT_EQ(sum.load(), 780);  // sum of 0..39
}

TEST(ThreadPool, RethrowsTheFirstException) {
  ThreadPool pool(2);
  EXPECT_THROW(pool.parallel_for(10, [](int64_t b, int64_t) {
    if (b > 0) throw std::runtime_error("boom");
  }),
               std::runtime_error);
  // Still usable afterwards.
  std::atomic<int> count{0};
  pool.parallel_for(10, [&](int64_t b, int64_t e) { count += static_cast<int>(e - b); });
  EXPECT_EQ(count.load(), 10);
}

TEST(ThreadPool, ConcurrentCallersFromOtherThreadsComplete) {
  ThreadPool pool(2);
  std::atomic<int64_t> total{0};
  auto work = [&] {
    for (int r = 0; r < 200; ++r)
      pool.parallel_for(50, [&](int64_t b, int64_t e) { total += e - b; });
  };
  std::thread a(work), b(work);
  a.join();
  b.join();
  EXPECT_EQ(total.load(), 2 * 200 * 50);
}

// The counters match what the chunks themselves observe: who ran them, and the waits a slow chunk
// and an idle pause force.
TEST(ThreadPool, StatsCountJobsChunksAndWhoRanThem) {
  ThreadPool pool(3);
  pool.parallel_for(30, [](int64_t, int64_t) {});  // workers started and settled
  pool.reset_stats();
  EXPECT_EQ(pool.stats().jobs, 0);
  const auto caller = std::this_thread::get_id();
  std::atomic<int64_t> on_caller{0}, total{0};
  for (int r = 0; r < 50; ++r)
    pool.parallel_for(7, [&](int64_t, int64_t) {
      ++total;
      if (std::this_thread::get_id() == caller) ++on_caller;
    });
  pool.parallel_for(1, [](int64_t, int64_t) {});  // one chunk: runs inline, not a job
  ThreadPool::Stats st = pool.stats();
  EXPECT_EQ(st.jobs, 50);
  EXPECT_EQ(st.chunks, total.load());
  EXPECT_EQ(st.chunks, 150);  // min(7, 3) chunks each
  EXPECT_EQ(st.caller_chunks, on_caller.load());

  // Both chunks must be running at once (a worker owns one); the worker's then outlasts the
  // caller's spin, so the caller sleeps. Afterwards the idle worker runs out of spin and sleeps.
  ThreadPool two(2);
  two.reset_stats();
  std::atomic<int> started{0};
  two.parallel_for(2, [&](int64_t, int64_t) {
    ++started;
    while (started.load() < 2) std::this_thread::yield();
    if (std::this_thread::get_id() != caller) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  st = two.stats();
  EXPECT_EQ(st.jobs, 1);
  EXPECT_EQ(st.caller_chunks, 1);
  EXPECT_EQ(st.caller_sleeps, 1);
  EXPECT_GE(st.worker_sleeps, 1);
}

// Pinned to one CPU (as when the other CPU of a shared machine is busy elsewhere) the threads of a
// fork-join take turns: every index is still covered once and the chunk bounds stay the static ones.
TEST(ThreadPool, CompletesWhenAllThreadsShareOneCpu) {
  cpu_set_t saved;
  ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
  int cpu = 0;
  while (cpu < CPU_SETSIZE && !CPU_ISSET(cpu, &saved)) ++cpu;
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
  {
    ThreadPool pool(4);  // workers inherit the single-CPU affinity
    for (int r = 0; r < 200; ++r) {
      const int64_t n = 1 + (r * 37) % 500;
      std::vector<std::atomic<int>> hits(n);
      std::mutex mu;
      std::set<std::pair<int64_t, int64_t>> seen;
      pool.parallel_for(n, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i]++;
        std::lock_guard<std::mutex> lk(mu);
        seen.insert({b, e});
      }, 3);
      for (int64_t i = 0; i < n; ++i) ASSERT_EQ(hits[i].load(), 1) << "round " << r << " n=" << n << " i=" << i;
      const int64_t chunks = pool.num_chunks(n, 3);
      ASSERT_EQ(static_cast<int64_t>(seen.size()), chunks) << "round " << r;
      for (int64_t c = 0; c < chunks; ++c) {
        int64_t b, e;
        ThreadPool::chunk_bounds(n, 3, chunks, c, &b, &e);
        ASSERT_TRUE(seen.count({b, e})) << "round " << r << ": chunk " << c << " [" << b << "," << e << ") missing";
      }
    }
  }
  ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
}

TEST(ThreadPool, DefaultPoolFollowsSetNumThreads) {
  set_num_threads(3);
  EXPECT_EQ(num_threads(), 3);
  std::atomic<int> count{0};
  parallel_for(9, [&](int64_t b, int64_t e) { count += static_cast<int>(e - b); });
  EXPECT_EQ(count.load(), 9);
  set_num_threads(0);
  EXPECT_GE(num_threads(), 1);
}

}  // namespace edgeopt

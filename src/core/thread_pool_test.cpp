#include "core/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <set>
#include <stdexcept>

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

#include "runtime/memory_plan.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "core/error.h"
#include "runtime/session.h"

namespace edgeopt::runtime {
namespace {

TEST(MemoryPlan, ReusesMemoryOfDeadBuffers) {
  // A chain a -> b -> c -> d: only neighbours are live together, so two slots suffice.
  std::vector<BufferLifetime> b = {{1024, 0, 1}, {1024, 1, 2}, {1024, 2, 3}, {1024, 3, 3}};
  MemoryPlan p = plan_memory_greedy(b);
  EXPECT_TRUE(plan_is_valid(b, p));
  EXPECT_EQ(p.arena_bytes, 2048u);
  EXPECT_EQ(live_peak_bytes(b), 2048u);
}

TEST(MemoryPlan, BestFitPicksTheSmallestGap) {
  // Largest first: 1000 @0, 900 @1000, 800 @1900, 700 @2700, 600 @3400. At step 2 only the [0, 4]
  // ones are live, leaving gaps of 900 (at 1000) and 700 (at 2700): 550 bytes go to the 700 gap.
  std::vector<BufferLifetime> b = {{1000, 0, 4}, {900, 0, 0}, {800, 0, 4}, {700, 0, 0}, {600, 0, 4}, {550, 2, 2}};
  MemoryPlan p = plan_memory_greedy(b, 1);
  ASSERT_TRUE(plan_is_valid(b, p, 1));
  EXPECT_EQ(p.offsets[3], 2700u);
  EXPECT_EQ(p.offsets[5], 2700u) << "best fit, where first fit would take offset 1000";
  EXPECT_EQ(p.arena_bytes, 4000u);
}

TEST(MemoryPlan, RandomLifetimesNeverOverlapAndStayWithinBounds) {
  std::mt19937 rng(123);
  for (int trial = 0; trial < 200; ++trial) {
    const int n = 1 + static_cast<int>(rng() % 40);
    std::vector<BufferLifetime> b(n);
    size_t sum = 0;
    for (auto& x : b) {
      x.first = rng() % 30;
      x.last = x.first + rng() % 8;
      x.bytes = rng() % 5000;
      sum += (x.bytes + 63) / 64 * 64;
    }
    MemoryPlan p = plan_memory_greedy(b);
    ASSERT_TRUE(plan_is_valid(b, p)) << "trial " << trial;
    EXPECT_LE(p.arena_bytes, sum);
    EXPECT_GE(p.arena_bytes, live_peak_bytes(b));
    for (size_t off : p.offsets) EXPECT_EQ(off % 64, 0u);
  }
}

TEST(MemoryPlan, RejectsBadLifetimes) {
  std::vector<BufferLifetime> b = {{16, 3, 2}};
  EXPECT_THROW(plan_memory_greedy(b), Error);
  EXPECT_THROW(plan_memory_greedy({}, 0), Error);
  EXPECT_EQ(plan_memory_greedy({}).arena_bytes, 0u);
}

TEST(MemoryPlan, SessionPlansItsActivations) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {256}});
  g.add_node("Relu", {"x"}, {"a"}, "r1");
  g.add_node("Sigmoid", {"a"}, {"b"}, "s1");
  g.add_node("Relu", {"b"}, {"c"}, "r2");
  g.add_node("Sigmoid", {"c"}, {"y"}, "s2");
  g.outputs.push_back({"y", DType::kF32, {256}});
  Session s(g);
  s.run({{"x", Tensor::zeros(DType::kF32, {256})}});
  EXPECT_EQ(s.planned_values().size(), 5u);
  EXPECT_TRUE(plan_is_valid(std::vector<BufferLifetime>{{1024, 0, 0}, {1024, 0, 1}, {1024, 1, 2}, {1024, 2, 3},
                                                        {1024, 3, 4}},
                            s.memory_plan()));
  // Two 1 KiB buffers live at a time: the plan needs 2 KiB, what the session measured too.
  EXPECT_EQ(s.stats().planned_arena_bytes, 2048u);
  EXPECT_EQ(s.stats().peak_bytes, 2048u);
}

}  // namespace
}  // namespace edgeopt::runtime

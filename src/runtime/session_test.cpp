#include "runtime/session.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cmath>
#include <thread>

#include "core/thread_pool.h"
#include "runtime/passes/pass_test_util.h"

namespace edgeopt::runtime {

namespace {
Graph chain_graph() {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {2, 2}});
  g.add_node("Relu", {"x"}, {"a"}, "r1");
  g.add_node("Relu", {"a"}, {"y"}, "r2");
  g.outputs.push_back({"y", DType::kF32, {2, 2}});
  return g;
}
}  // namespace

TEST(Session, RunsAChainAndFreesIntermediates) {
  Session s(chain_graph());
  auto out = s.run({{"x", Tensor::from_vector<float>({2, 2}, {-1, 2, -3, 4})}});
  EXPECT_EQ(out.at("y").to_f32_vector(), (std::vector<float>{0, 2, 0, 4}));
  // x (16 B) and a (16 B) are live while r2 runs, then y: never all three.
  EXPECT_LE(s.stats().peak_bytes, 48u);
}

TEST(Session, ListsAllUnsupportedOpsAtOnce) {
  Graph g = chain_graph();
  g.nodes[0].op_type = "Frobnicate";
  g.nodes[1].op_type = "Wibble";
  try {
    Session s(g);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kUnimplemented);
    EXPECT_NE(std::string(e.what()).find("'r1' (Frobnicate)"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("'r2' (Wibble)"), std::string::npos) << e.what();
  }
}

TEST(Session, RejectsBadFeedsByName) {
  Session s(chain_graph());
  EXPECT_THROW(s.run({}), Error);
  EXPECT_THROW(s.run({{"x", Tensor::zeros(DType::kI64, {2, 2})}}), Error);
  EXPECT_THROW(s.run({{"x", Tensor::zeros(DType::kF32, {3, 2})}}), Error);
  EXPECT_THROW(s.run({{"x", Tensor::zeros(DType::kF32, {2, 2})}, {"z", Tensor::zeros(DType::kF32, {1})}}), Error);
}

TEST(Session, ProfileTimesEveryNode) {
  Session s(chain_graph(), {.profile = true});
  s.run({{"x", Tensor::zeros(DType::kF32, {2, 2})}});
  ASSERT_EQ(s.timings().size(), 2u);
  EXPECT_EQ(s.timings()[0].calls, 1);
}

TEST(Session, OptimizesItsOwnCopyOnly) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {1, 2, 3, 3}});
  g.initializers["w"] = Tensor::from_vector<float>({2, 2, 1, 1}, {1, -2, 3, 0.5f});
  g.add_node("Conv", {"x", "w"}, {"c"}, "conv");
  g.add_node("Relu", {"c"}, {"r"}, "relu");
  g.add_node("Identity", {"r"}, {"y"}, "id");
  g.outputs.push_back({"y", DType::kF32, {1, 2, 3, 3}});
  Tensor x = Tensor::from_vector<float>({1, 2, 3, 3}, {1, -1, 2, -2, 3, -3, 4, -4, 5, 5, -4, 4, -3, 3, -2, 2, -1, 1});
  Session plain(g, {.optimize = false});
  Session fast(g);
  EXPECT_EQ(plain.graph().nodes.size(), 3u);
  EXPECT_EQ(fast.graph().nodes.size(), 1u);
  EXPECT_EQ(fast.nodes_before_optimize(), 3u);
  EXPECT_EQ(g.nodes.size(), 3u);
  EXPECT_FALSE(g.nodes[0].has_attr("activation"));
  EXPECT_EQ(fast.run({{"x", x}}).at("y").to_f32_vector(), plain.run({{"x", x}}).at("y").to_f32_vector());
  int64_t changed = 0;
  for (const auto& r : fast.pass_reports()) changed += r.nodes_changed;
  EXPECT_EQ(changed, 2);
}

// Several sessions of one model run at once from their own threads, each node's kernel splitting its
// work on the shared 2-thread intra-op pool (what a server's workers do). Every answer equals the
// 1-thread one within float reassociation, and repeated answers at 2 threads are bit-identical
// (deterministic chunking). Under TSan (scripts/sanitize.sh, CI) this is the pool's race check.
TEST(Session, ConcurrentSessionsOnTheSharedPoolAgreeWithOneThread) {
  using passes::testing::random_feeds;
  using passes::testing::random_tensor;
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {1, 3, 20, 20}});
  g.initializers["w1"] = random_tensor({16, 3, 3, 3}, 1);
  g.initializers["b1"] = random_tensor({16}, 2);
  g.initializers["w2"] = random_tensor({24, 16, 1, 1}, 3, -0.3f, 0.3f);
  g.initializers["b2"] = random_tensor({24}, 4);
  g.initializers["w3"] = random_tensor({10, 24}, 5);
  g.initializers["b3"] = random_tensor({10}, 6);
  g.add_node("Conv", {"x", "w1", "b1"}, {"c1"}, "conv1").set_attr("pads", std::vector<int64_t>{1, 1, 1, 1});
  g.add_node("Relu", {"c1"}, {"r1"}, "relu1");
  g.add_node("Conv", {"r1", "w2", "b2"}, {"c2"}, "conv2");
  g.add_node("Relu", {"c2"}, {"r2"}, "relu2");
  g.add_node("GlobalAveragePool", {"r2"}, {"gap"}, "gap");
  g.add_node("Flatten", {"gap"}, {"f"}, "flatten");
  g.add_node("Gemm", {"f", "w3", "b3"}, {"y"}, "fc").set_attr("transB", int64_t{1});
  g.outputs.push_back({"y", DType::kF32, {1, 10}});
  const auto feeds = random_feeds(g, 11);

  set_num_threads(1);
  const std::vector<float> want = Session(g).run(feeds).at("y").to_f32_vector();
  set_num_threads(2);
  const std::vector<float> at2 = Session(g).run(feeds).at("y").to_f32_vector();
  std::atomic<int> off{0}, not_repeatable{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 3; ++t)
    callers.emplace_back([&] {
      Session s(g);
      for (int i = 0; i < 20; ++i) {
        const std::vector<float> y = s.run(feeds).at("y").to_f32_vector();
        if (y != at2) ++not_repeatable;
        for (size_t k = 0; k < y.size(); ++k)
          if (std::abs(y[k] - want[k]) > 1e-4f * std::max(1.f, std::abs(want[k]))) ++off;
      }
    });
  for (auto& c : callers) c.join();
  set_num_threads(0);
  EXPECT_EQ(off.load(), 0);
  EXPECT_EQ(not_repeatable.load(), 0);
}

}  // namespace edgeopt::runtime

#include "runtime/session.h"

#include <gtest/gtest.h>

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

}  // namespace edgeopt::runtime

#include <gtest/gtest.h>

#include <cmath>

#include "core/graph.h"

namespace edgeopt {

TEST(Tensor, StorageIs64ByteAligned) {
  for (int n : {1, 3, 17, 1000}) {
    Tensor t(DType::kF32, {n});
    EXPECT_EQ(reinterpret_cast<uintptr_t>(t.raw()) % kTensorAlignment, 0u) << n;
  }
}

TEST(Tensor, ReshapeKeepsStorageAndChecksCount) {
  Tensor t = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  Tensor r = t.reshaped({3, 2});
  EXPECT_EQ(r.raw(), t.raw());
  EXPECT_THROW(t.reshaped({4}), Error);
}

TEST(Tensor, WrongDtypeAccessThrows) {
  Tensor t = Tensor::zeros(DType::kI64, {2});
  EXPECT_THROW(t.data<float>(), Error);
}

TEST(DType, HalfRoundTripsAndRoundsToNearestEven) {
  for (float v : {0.f, -0.f, 1.f, -2.5f, 65504.f, 6.1035156e-05f, 5.9604645e-08f, 0.33325195f})
    EXPECT_EQ(f16_to_f32(f32_to_f16(v)), v) << v;
  EXPECT_EQ(f16_to_f32(f32_to_f16(1e6f)), INFINITY);
  EXPECT_TRUE(std::isnan(f16_to_f32(f32_to_f16(NAN))));
  // 1 + 2^-11 is halfway between 1 and 1+2^-10: ties go to the even mantissa (1.0).
  EXPECT_EQ(f16_to_f32(f32_to_f16(1.f + std::ldexp(1.f, -11))), 1.f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.f)), 1.f);
  EXPECT_EQ(bf16_to_f32(f32_to_bf16(1.f + std::ldexp(1.f, -8))), 1.f);
}

TEST(Shape, BroadcastFollowsNumpy) {
  EXPECT_EQ(broadcast_shapes({2, 1, 4}, {3, 1}), Shape({2, 3, 4}));
  EXPECT_EQ(broadcast_shapes({}, {5}), Shape({5}));
  EXPECT_THROW(broadcast_shapes({2, 3}, {4}), Error);
}

TEST(Graph, TopoOrderPutsProducersFirstAndDetectsCycles) {
  Graph g;
  g.inputs.push_back({"x", DType::kF32, {1}});
  g.add_node("Relu", {"b"}, {"c"}, "second");
  g.add_node("Relu", {"x"}, {"b"}, "first");
  auto order = g.topo_order();
  ASSERT_EQ(order.size(), 2u);
  EXPECT_EQ(g.nodes[order[0]].name, "first");
  g.nodes[1].inputs[0] = "c";
  EXPECT_THROW(g.topo_order(), Error);
}

TEST(Error, ContextIsOutermostFirst) {
  Error e(ErrorCode::kInvalidArgument, "bad shape");
  e.add_context("node 'c1' (Conv)");
  e.add_context("file 'm.onnx'");
  EXPECT_STREQ(e.what(), "InvalidArgument: file 'm.onnx': node 'c1' (Conv): bad shape");
}

}  // namespace edgeopt

#include <gtest/gtest.h>

#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels::testing {
namespace {

struct BinCase {
  Shape a, b;
};

// Same shape, scalars, channel and bias broadcasts (either side), and a two-sided broadcast that
// runs the reference.
std::vector<BinCase> bin_cases() {
  return {
      {{5, 7, 9}, {5, 7, 9}},         {{5, 16, 9, 11}, {16, 1, 1}},   {{1, 17, 5, 5}, {1, 17, 1, 1}},
      {{5, 17}, {17}},                {{5, 3, 7}, {}},                {{}, {5, 3, 7}},
      {{16, 1, 1}, {5, 16, 9, 11}},   {{7}, {5, 7}},                  {{5, 1, 3}, {1, 4, 1}},
      {{5, 17, 33, 31}, {17, 1, 1}},  {{5, 17, 33, 31}, {5, 17, 33, 31}}, {{3, 5, 7, 2}, {5, 7, 1}},
      {{1, 1, 1}, {1}},               {{0, 3}, {3}},
  };
}

TEST(BinaryFast, ForwardBackwardMatchReference) {
  uint64_t seed = 21;
  for (const char* op : {"Add", "Sub", "Mul", "Div"})
    for (const auto& c : bin_cases()) {
      Node n = make_node(op, 2, 1);
      const bool div = std::string(op) == "Div";
      std::vector<Tensor> in{random_f32(c.a, seed++), random_f32(c.b, seed++, div ? 0.5f : -1.f, div ? 2.f : 1.f)};
      if (div && c.a.numel() > 0) {  // keep a Div divisor away from 0 either way round
        for (int64_t i = 0; i < in[0].numel(); ++i) in[0].data<float>()[i] = 0.5f + std::abs(in[0].data<float>()[i]);
      }
      expect_fast_matches_ref(n, in, {.training = true, .grad_atol = 2e-4},
                              std::string(op) + " a=" + c.a.str() + " b=" + c.b.str());
    }
}

TEST(BinaryFast, IntegersAndErrorsMatchReference) {
  Node n = make_node("Add", 2, 1);
  expect_fast_matches_ref(n, {Tensor::from_vector<int32_t>({3}, {1, 2, 3}), Tensor::from_vector<int32_t>({1}, {5})},
                          {.backward = false}, "i32");
  std::vector<Tensor> bad{random_f32({3, 4}, 1), random_f32({5}, 2)}, out(1);
  ForwardCtx ctx{n, bad, out};
  EXPECT_THROW(find_op("Add")->forward_fast(ctx), Error);
  std::vector<Tensor> mixed{random_f32({3}, 1), Tensor::from_vector<int32_t>({3}, {1, 2, 3})}, out2(1);
  ForwardCtx ctx2{n, mixed, out2};
  EXPECT_THROW(find_op("Add")->forward_fast(ctx2), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

#include <gtest/gtest.h>

#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels::testing {
namespace {

struct AvgCase {
  Shape x;
  std::vector<int64_t> kernel, strides, pads, dilations;
  int64_t ceil_mode = 0;
};

std::string ints(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s + "]";
}

std::vector<AvgCase> avg_cases() {
  std::vector<AvgCase> cases;
  const int64_t channels[] = {1, 3, 7, 16, 17};
  for (size_t i = 0; i < 5; ++i) {
    const int64_t n = i % 2 ? 5 : 1, c = channels[i], h = 9 + 2 * static_cast<int64_t>(i), w = 7 + 3 * static_cast<int64_t>(i);
    cases.push_back({{n, c, h, w}, {2, 2}, {2, 2}, {}, {}});
    cases.push_back({{n, c, h, w}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}});
    cases.push_back({{n, c, h, w}, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}});
  }
  cases.push_back({{2, 3, 11, 10}, {2, 2}, {2, 2}, {}, {}, 1});
  cases.push_back({{1, 7, 13, 12}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 1});
  cases.push_back({{1, 3, 12, 11}, {3, 2}, {2, 3}, {1, 0, 2, 1}, {2, 1}});
  cases.push_back({{1, 2, 3, 3}, {2, 2}, {3, 3}, {2, 2, 2, 2}, {}});  // empty windows average to 0
  cases.push_back({{3, 5, 17}, {3}, {2}, {1, 1}, {}});
  cases.push_back({{1, 2, 5, 6, 7}, {2, 2, 2}, {2, 2, 2}, {}, {}});    // 3-D: the reference
  return cases;
}

TEST(AveragePoolFast, ForwardBackwardMatchReference) {
  uint64_t seed = 61;
  for (const auto& c : avg_cases())
    for (int64_t include_pad : {0, 1}) {
      Node n = make_node("AveragePool", 1, 1);
      n.set_attr("kernel_shape", c.kernel);
      if (!c.strides.empty()) n.set_attr("strides", c.strides);
      if (!c.pads.empty()) n.set_attr("pads", c.pads);
      if (!c.dilations.empty()) n.set_attr("dilations", c.dilations);
      if (c.ceil_mode) n.set_attr("ceil_mode", c.ceil_mode);
      n.set_attr("count_include_pad", include_pad);
      const std::string cs = "x=" + c.x.str() + " k=" + ints(c.kernel) + " s=" + ints(c.strides) + " p=" +
                             ints(c.pads) + " d=" + ints(c.dilations) + (c.ceil_mode ? " ceil" : "") +
                             " include_pad=" + std::to_string(include_pad);
      expect_fast_matches_ref(n, {random_f32(c.x, seed++)}, {.training = true}, cs);
    }
}

TEST(AveragePoolFast, Errors) {
  Node n = make_node("AveragePool", 1, 1);
  n.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
  n.set_attr("count_include_pad", int64_t{3});
  std::vector<Tensor> in{random_f32({1, 1, 4, 4}, 1)}, out(1);
  ForwardCtx ctx{n, in, out};
  EXPECT_THROW(find_op("AveragePool")->forward_fast(ctx), Error);
  Node i32 = make_node("AveragePool", 1, 1);
  i32.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
  std::vector<Tensor> ints_in{Tensor::zeros(DType::kI32, {1, 1, 4, 4})};
  ForwardCtx ctx2{i32, ints_in, out};
  EXPECT_THROW(find_op("AveragePool")->forward_fast(ctx2), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

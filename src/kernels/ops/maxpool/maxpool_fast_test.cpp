#include <gtest/gtest.h>

#include <cmath>

#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels::testing {
namespace {

struct PoolCase {
  Shape x;
  std::vector<int64_t> kernel, strides, pads, dilations;
  int64_t ceil_mode = 0;
  std::string describe() const {
    auto ints = [](const std::vector<int64_t>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
      return s + "]";
    };
    return "x=" + x.str() + " k=" + ints(kernel) + " s=" + ints(strides) + " p=" + ints(pads) + " d=" +
           ints(dilations) + (ceil_mode ? " ceil" : "");
  }
};

Node pool_node(const std::string& op, const PoolCase& c, size_t outputs = 1) {
  Node n = make_node(op, 1, outputs);
  n.set_attr("kernel_shape", c.kernel);
  if (!c.strides.empty()) n.set_attr("strides", c.strides);
  if (!c.pads.empty()) n.set_attr("pads", c.pads);
  if (!c.dilations.empty()) n.set_attr("dilations", c.dilations);
  if (c.ceil_mode) n.set_attr("ceil_mode", c.ceil_mode);
  return n;
}

// Channels {1,3,7,16,17}, batch 1 and 5, odd sizes; the specialized 2x2/s2 and 3x3/s2/p1 cases,
// overlapping windows, ceil mode, dilation, windows wholly in the padding, 1-D and 3-D (reference).
std::vector<PoolCase> pool_cases() {
  std::vector<PoolCase> cases;
  const int64_t channels[] = {1, 3, 7, 16, 17};
  for (size_t i = 0; i < 5; ++i) {
    const int64_t n = i % 2 ? 5 : 1, c = channels[i], h = 9 + 2 * static_cast<int64_t>(i), w = 7 + 3 * static_cast<int64_t>(i);
    cases.push_back({{n, c, h, w}, {2, 2}, {2, 2}, {}, {}});
    cases.push_back({{n, c, h, w}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}});
    cases.push_back({{n, c, h, w}, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}});
  }
  cases.push_back({{5, 16, 28, 28}, {2, 2}, {2, 2}, {}, {}});
  cases.push_back({{2, 3, 11, 10}, {2, 2}, {1, 1}, {}, {}});
  cases.push_back({{2, 3, 11, 10}, {2, 2}, {2, 2}, {}, {}, 1});             // ceil mode: partial last window
  cases.push_back({{1, 7, 13, 12}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, 1});
  cases.push_back({{1, 3, 12, 11}, {3, 2}, {2, 3}, {1, 0, 2, 1}, {2, 1}});  // dilation, asymmetric pads
  cases.push_back({{1, 2, 3, 3}, {2, 2}, {3, 3}, {2, 2, 2, 2}, {}});         // windows wholly in the padding
  cases.push_back({{1, 1, 1, 1}, {1, 1}, {}, {}, {}});
  // Rows of several vectors of outputs (the vector horizontal pass of the separable max): ResNet's
  // 3x3/2 pad 1, stride 1, a 5-wide stride-2 window, ceil mode.
  cases.push_back({{1, 4, 20, 112}, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}});
  cases.push_back({{2, 3, 9, 70}, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}});
  cases.push_back({{1, 2, 11, 77}, {5, 5}, {2, 2}, {2, 2, 2, 2}, {}});
  cases.push_back({{1, 3, 15, 67}, {3, 3}, {2, 2}, {0, 1, 1, 0}, {}, 1});
  cases.push_back({{3, 5, 17}, {3}, {2}, {1, 1}, {}});                      // 1-D
  cases.push_back({{1, 2, 5, 6, 7}, {2, 2, 2}, {2, 2, 2}, {}, {}});           // 3-D: the reference
  return cases;
}

// Quantized inputs so windows hold ties (the first tap must win in both kernels).
Tensor tied_input(const Shape& s, uint64_t seed) {
  Tensor x = random_f32(s, seed, -2.f, 2.f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = std::round(x.data<float>()[i] * 2.f) / 2.f;
  return x;
}

TEST(MaxPoolFast, ForwardBackwardMatchReference) {
  uint64_t seed = 41;
  for (const auto& c : pool_cases()) {
    for (bool tied : {false, true}) {
      Tensor x = tied ? tied_input(c.x, seed++) : random_f32(c.x, seed++);
      for (bool training : {true, false})
        expect_fast_matches_ref(pool_node("MaxPool", c), {x}, {.training = training},
                                c.describe() + (tied ? " tied" : "") + (training ? " training" : ""));
    }
  }
}

TEST(MaxPoolFast, IndicesOutputMatchesReference) {
  uint64_t seed = 141;
  for (const auto& c : pool_cases())
    for (int64_t order : {0, 1}) {
      Node n = pool_node("MaxPool", c, 2);
      n.set_attr("storage_order", order);
      expect_fast_matches_ref(n, {tied_input(c.x, seed++)}, {.training = true},
                              c.describe() + " storage_order=" + std::to_string(order));
    }
}

TEST(MaxPoolFast, NaNsPickWhatTheReferencePicks) {
  // NaN first in a window sticks; a NaN after the first tap is skipped (the reference's order).
  uint64_t seed = 241;
  for (const auto& c : pool_cases()) {
    Tensor x = random_f32(c.x, seed++);
    for (int64_t i = 0; i < x.numel(); i += 5) x.data<float>()[i] = NAN;
    Node n = pool_node("MaxPool", c, 2);
    expect_fast_matches_ref(n, {x}, {.training = true, .backward = false}, c.describe() + " with NaNs");
    // Inference without Indices: the separable vector path must fall back on these planes.
    expect_fast_matches_ref(pool_node("MaxPool", c), {x}, {.training = false, .backward = false},
                            c.describe() + " with NaNs, inference");
  }
}

// u8/i8 codes (the int8 path after fuse_qdq) over every case, windows in the padding included.
TEST(MaxPoolFast, QuantizedCodesMatchReference) {
  uint64_t seed = 7;
  for (const auto& c : pool_cases())
    for (DType dt : {DType::kU8, DType::kI8}) {
      const Tensor f = random_f32(c.x, seed++, -128.f, 127.f);
      Tensor x(dt, c.x);
      for (int64_t i = 0; i < x.numel(); ++i) {
        const auto v = static_cast<int>(std::floor(f.data<float>()[i]));
        if (dt == DType::kU8)
          x.data<uint8_t>()[i] = static_cast<uint8_t>(v + 128);
        else
          x.data<int8_t>()[i] = static_cast<int8_t>(v);
      }
      expect_fast_matches_ref(pool_node("MaxPool", c), {x}, {.backward = false},
                              c.describe() + " " + dtype_name(dt));
    }
}

// The vector 3-wide stride-2 row max for codes (ResNet's 3x3/2 pad 1 MaxPool): rows wide enough for
// several 16-output steps, odd widths, pads 0/1/2 (left edges done apart), extreme codes.
TEST(MaxPoolFast, QuantizedCodes3x3Stride2MatchesReference) {
  uint64_t seed = 907;
  struct Row {
    Shape x;
    std::vector<int64_t> pads;
  };
  const std::vector<Row> rows = {{{1, 3, 11, 112}, {1, 1, 1, 1}}, {{2, 2, 9, 67}, {0, 0, 0, 0}},
                                 {{1, 2, 7, 75}, {2, 2, 2, 2}},   {{1, 1, 5, 35}, {1, 1, 1, 1}},
                                 {{1, 2, 6, 40}, {0, 1, 1, 0}},
                                 // The AVX512-VBMI rows (pad 1, width <= 126): the widest, one row, one column.
                                 {{1, 2, 5, 126}, {1, 1, 1, 1}},  {{1, 1, 1, 64}, {1, 1, 1, 1}},
                                 {{2, 1, 6, 1}, {1, 1, 1, 1}}};
  for (const Row& r : rows)
    for (DType dt : {DType::kU8, DType::kI8})
      for (bool extremes : {false, true}) {
        const Tensor f = random_f32(r.x, seed++, -128.f, 127.f);
        Tensor x(dt, r.x);
        for (int64_t i = 0; i < x.numel(); ++i) {
          int v = static_cast<int>(std::floor(f.data<float>()[i]));
          if (extremes) v = v < -40 ? -128 : (v > 40 ? 127 : 0);
          if (dt == DType::kU8)
            x.data<uint8_t>()[i] = static_cast<uint8_t>(v + 128);
          else
            x.data<int8_t>()[i] = static_cast<int8_t>(v);
        }
        expect_fast_matches_ref(pool_node("MaxPool", {r.x, {3, 3}, {2, 2}, r.pads, {}}), {x}, {.backward = false},
                                "x=" + r.x.str() + " pads=" + Shape(r.pads).str() + " " + dtype_name(dt) +
                                    (extremes ? " extremes" : ""));
      }
}

// The flat 2x2/2 path for codes (all planes in one pass): even sizes of every width class (below
// 8 bytes per output row, the 8-byte row copies, vector tails), odd sizes that must not take it,
// and extreme codes (ties, the type's min/max).
TEST(MaxPoolFast, QuantizedCodes2x2Stride2FlatMatchesReference) {
  uint64_t seed = 301;
  const std::vector<Shape> shapes = {{1, 1, 2, 2},   {1, 3, 4, 6},   {2, 5, 6, 14},  {1, 22, 28, 28}, {1, 44, 14, 14},
                                     {3, 7, 10, 34}, {1, 2, 8, 130}, {1, 4, 12, 16}, {1, 3, 7, 14},   {1, 3, 14, 9}};
  for (const Shape& xs : shapes)
    for (DType dt : {DType::kU8, DType::kI8})
      for (bool extremes : {false, true}) {
        const Tensor f = random_f32(xs, seed++, -128.f, 127.f);
        Tensor x(dt, xs);
        for (int64_t i = 0; i < x.numel(); ++i) {
          int v = static_cast<int>(std::floor(f.data<float>()[i]));
          if (extremes) v = v < -40 ? -128 : (v > 40 ? 127 : 0);
          if (dt == DType::kU8)
            x.data<uint8_t>()[i] = static_cast<uint8_t>(v + 128);
          else
            x.data<int8_t>()[i] = static_cast<int8_t>(v);
        }
        expect_fast_matches_ref(pool_node("MaxPool", {xs, {2, 2}, {2, 2}, {}, {}}), {x}, {.backward = false},
                                "x=" + xs.str() + " " + dtype_name(dt) + (extremes ? " extremes" : ""));
      }
}

TEST(MaxPoolFast, IntegerDtypesAndErrors) {
  Node n = pool_node("MaxPool", {{1, 1, 4, 4}, {2, 2}, {2, 2}, {}, {}});
  Tensor u8(DType::kU8, {1, 1, 4, 4});
  for (int64_t i = 0; i < 16; ++i) u8.data<uint8_t>()[i] = static_cast<uint8_t>((i * 37) % 251);
  expect_fast_matches_ref(n, {u8}, {.backward = false}, "u8");
  Node bad = pool_node("MaxPool", {{1, 1, 4, 4}, {2, 2}, {2, 2}, {}, {}});
  bad.set_attr("storage_order", int64_t{2});
  std::vector<Tensor> in{random_f32({1, 1, 4, 4}, 1)}, out(1);
  ForwardCtx ctx{bad, in, out};
  EXPECT_THROW(find_op("MaxPool")->forward_fast(ctx), Error);
  Node big_kernel = pool_node("MaxPool", {{1, 1, 2, 2}, {3, 3}, {}, {}, {}});
  std::vector<Tensor> small{random_f32({1, 1, 2, 2}, 1)};
  ForwardCtx ctx3{big_kernel, small, out};
  EXPECT_THROW(find_op("MaxPool")->forward_fast(ctx3), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

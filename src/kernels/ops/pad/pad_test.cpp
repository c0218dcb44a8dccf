#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {
Tensor i64(std::vector<int64_t> v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); }
Node pad_node(const std::string& mode, size_t n_in) {
  Node n = make_node("Pad", n_in, 1);
  n.set_attr("mode", mode);
  return n;
}
}  // namespace

TEST(Pad, ConstantEdgeReflectWrap1d) {
  Tensor x = Tensor::from_vector<int32_t>({4}, {1, 2, 3, 4});
  Tensor pads = i64({3, 2});
  expect_close(Tensor::from_vector<int32_t>({9}, {0, 0, 0, 1, 2, 3, 4, 0, 0}),
               run_op(pad_node("constant", 2), {x, pads})[0], 0, 0, "constant");
  expect_close(Tensor::from_vector<int32_t>({9}, {1, 1, 1, 1, 2, 3, 4, 4, 4}),
               run_op(pad_node("edge", 2), {x, pads})[0], 0, 0, "edge");
  expect_close(Tensor::from_vector<int32_t>({9}, {4, 3, 2, 1, 2, 3, 4, 3, 2}),
               run_op(pad_node("reflect", 2), {x, pads})[0], 0, 0, "reflect");
  expect_close(Tensor::from_vector<int32_t>({9}, {2, 3, 4, 1, 2, 3, 4, 1, 2}),
               run_op(pad_node("wrap", 2), {x, pads})[0], 0, 0, "wrap");
  expect_close(Tensor::from_vector<int32_t>({9}, {7, 7, 7, 1, 2, 3, 4, 7, 7}),
               run_op(pad_node("constant", 3), {x, pads, Tensor::from_vector<int32_t>({}, {7})})[0], 0, 0,
               "constant 7");
}

TEST(Pad, OnnxConstantPad4dAndNegativePads) {
  // test_constant_pad: x [1,3,4,5], pads [0,0,1,3, 0,0,2,4] -> [1,3,7,12].
  Tensor x = random_f32({1, 3, 4, 5}, 1);
  auto y = run_op(pad_node("constant", 3), {x, i64({0, 0, 1, 3, 0, 0, 2, 4}), Tensor::scalar_f32(1.5f)})[0];
  ASSERT_EQ(y.shape(), Shape({1, 3, 7, 12}));
  for (int c = 0; c < 3; ++c)
    for (int h = 0; h < 7; ++h)
      for (int w = 0; w < 12; ++w) {
        const bool inside = h >= 1 && h < 5 && w >= 3 && w < 8;
        const float want = inside ? x.data<float>()[(c * 4 + h - 1) * 5 + w - 3] : 1.5f;
        ASSERT_EQ(y.data<float>()[(c * 7 + h) * 12 + w], want) << c << "," << h << "," << w;
      }
  // Negative pads crop: [2,3] with pads [-1, 1, 0, -1] -> rows 1.., cols -1..1 (one col added before).
  Tensor z = Tensor::from_vector<float>({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_close(Tensor::from_vector<float>({1, 3}, {0, 4, 5}),
               run_op(pad_node("constant", 2), {z, i64({-1, 1, 0, -1})})[0], 0, 0, "crop");
}

TEST(Pad, ReflectAndEdge2dLikeOnnxTests) {
  Tensor x = Tensor::from_vector<int32_t>({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_close(Tensor::from_vector<int32_t>({4, 5}, {5, 4, 5, 6, 5, 2, 1, 2, 3, 2, 5, 4, 5, 6, 5, 2, 1, 2, 3, 2}),
               run_op(pad_node("reflect", 2), {x, i64({1, 1, 1, 1})})[0], 0, 0, "reflect 2d");
  expect_close(Tensor::from_vector<int32_t>({4, 5}, {1, 1, 2, 3, 3, 1, 1, 2, 3, 3, 4, 4, 5, 6, 6, 4, 4, 5, 6, 6}),
               run_op(pad_node("edge", 2), {x, i64({1, 1, 1, 1})})[0], 0, 0, "edge 2d");
}

TEST(Pad, AttributeFormAndAxesInput) {
  Node n = make_node("Pad", 1, 1);
  n.set_attr("pads", std::vector<int64_t>{0, 1, 0, 1});
  n.set_attr("value", 2.f);
  Tensor x = Tensor::from_vector<float>({1, 2}, {5, 6});
  expect_close(Tensor::from_vector<float>({1, 4}, {2, 5, 6, 2}), run_op(n, {x})[0], 0, 0, "opset 2 attrs");
  auto y = run_op(pad_node("constant", 4), {x, i64({1, 0}), Tensor(), i64({-1})})[0];  // opset 18 axes
  expect_close(Tensor::from_vector<float>({1, 3}, {0, 5, 6}), y, 0, 0, "axes input");
}

TEST(Pad, Errors) {
  Tensor x = random_f32({2, 3}, 1);
  EXPECT_THROW(run_op(pad_node("constant", 2), {x, i64({1, 1})}), Error);         // wrong length
  EXPECT_THROW(run_op(pad_node("constant", 2), {x, i64({-3, 0, 0, 0})}), Error);  // crops below 0
  EXPECT_THROW(run_op(pad_node("mirror", 2), {x, i64({1, 1, 1, 1})}), Error);     // bad mode
  EXPECT_THROW(run_op(pad_node("constant", 3), {x, i64({1, 1, 1, 1}), Tensor::from_vector<int32_t>({}, {1})}), Error);
  EXPECT_THROW(run_op(pad_node("edge", 2), {Tensor::zeros(DType::kF32, {0, 2}), i64({1, 0, 0, 0})}), Error);
  EXPECT_THROW(run_op(pad_node("constant", 4), {x, i64({1, 1, 1, 1}), Tensor(), i64({0, 0})}), Error);  // repeated axis
  EXPECT_THROW(run_op(make_node("Pad", 1, 1), {x}), Error);                                             // no pads
}

TEST(Pad, GradientsMatchFiniteDifferences) {
  for (const char* mode : {"constant", "reflect", "edge", "wrap"}) {
    SCOPED_TRACE(mode);
    expect_gradients_match(pad_node(mode, 2), {random_f32({2, 3, 4}, 2), i64({0, 2, -1, 1, 1, 2})});
  }
}

}  // namespace edgeopt::kernels::testing

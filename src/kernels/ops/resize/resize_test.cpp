#include <gtest/gtest.h>

#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

Tensor f32v(Shape s, std::vector<float> v) { return Tensor::from_vector<float>(std::move(s), v); }
Tensor i64(std::vector<int64_t> v) { return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v); }

Node resize_node(const std::string& mode, const std::string& coord = "", const std::string& nearest = "") {
  Node n = make_node("Resize", 4, 1);
  n.set_attr("mode", mode);
  if (!coord.empty()) n.set_attr("coordinate_transformation_mode", coord);
  if (!nearest.empty()) n.set_attr("nearest_mode", nearest);
  return n;
}

Tensor run_with_opset(const Node& n, const std::vector<Tensor>& in, int64_t opset) {
  std::vector<Tensor> out(1);
  ForwardCtx ctx{n, in, out};
  ctx.opset = opset;
  find_op(n.op_type)->forward(ctx);
  return out[0];
}

const Tensor k2x2 = f32v({1, 1, 2, 2}, {1, 2, 3, 4});
const Tensor k4x4 = f32v({1, 1, 4, 4}, {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16});

}  // namespace

// Expected values below are those of the ONNX backend tests (onnx/backend/test/case/node/resize.py).
TEST(Resize, NearestUpsampleScales) {
  auto y = run_op(resize_node("nearest"), {k2x2, Tensor(), f32v({4}, {1, 1, 2, 3}), Tensor()})[0];
  expect_close(f32v({1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}), y, 0, 0,
               "upsample_scales_nearest");
}

TEST(Resize, NearestDownsampleScalesAndSizes) {
  Tensor x = f32v({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  expect_close(f32v({1, 1, 1, 2}, {1, 3}),
               run_op(resize_node("nearest"), {x, Tensor(), f32v({4}, {1, 1, 0.6f, 0.6f})})[0], 0, 0,
               "downsample_scales_nearest");
  expect_close(f32v({1, 1, 1, 3}, {1, 2, 4}),
               run_op(resize_node("nearest"), {x, Tensor(), Tensor(), i64({1, 1, 1, 3})})[0], 0, 0,
               "downsample_sizes_nearest");
}

TEST(Resize, NearestModes) {
  // upsample_sizes_nearest_ceil_half_pixel, first row of the [8,8] output.
  auto y = run_op(resize_node("nearest", "half_pixel", "ceil"), {k4x4, Tensor(), Tensor(), i64({1, 1, 8, 8})})[0];
  ASSERT_EQ(y.shape(), Shape({1, 1, 8, 8}));
  const float want_ceil[8] = {1, 2, 2, 3, 3, 4, 4, 4};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(y.data<float>()[i], want_ceil[i]) << "ceil/half_pixel at " << i;
  // upsample_sizes_nearest_floor_align_corners and round_prefer_ceil_asymmetric, first row.
  y = run_op(resize_node("nearest", "align_corners", "floor"), {k4x4, Tensor(), Tensor(), i64({1, 1, 8, 8})})[0];
  const float want_floor[8] = {1, 1, 1, 2, 2, 3, 3, 4};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(y.data<float>()[i], want_floor[i]) << "floor/align_corners at " << i;
  y = run_op(resize_node("nearest", "asymmetric", "round_prefer_ceil"),
             {k4x4, Tensor(), Tensor(), i64({1, 1, 8, 8})})[0];
  const float want_rpc[8] = {1, 2, 2, 3, 3, 4, 4, 4};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(y.data<float>()[i], want_rpc[i]) << "round_prefer_ceil/asymmetric at " << i;
}

TEST(Resize, LinearModes) {
  expect_close(
      f32v({1, 1, 4, 4}, {1, 1.25f, 1.75f, 2, 1.5f, 1.75f, 2.25f, 2.5f, 2.5f, 2.75f, 3.25f, 3.5f, 3, 3.25f, 3.75f, 4}),
      run_op(resize_node("linear"), {k2x2, Tensor(), f32v({4}, {1, 1, 2, 2})})[0], 1e-6, 1e-6,
      "upsample_scales_linear");
  expect_close(f32v({1, 1, 4, 4}, {1, 1.333333f, 1.666667f, 2, 1.666667f, 2, 2.333333f, 2.666667f, 2.333333f, 2.666667f,
                                   3, 3.333333f, 3, 3.333333f, 3.666667f, 4}),
               run_op(resize_node("linear", "align_corners"), {k2x2, Tensor(), f32v({4}, {1, 1, 2, 2})})[0], 1e-5, 1e-5,
               "upsample_scales_linear_align_corners");
  Tensor x = f32v({1, 1, 2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  expect_close(f32v({1, 1, 1, 2}, {2.6666665f, 4.3333331f}),
               run_op(resize_node("linear"), {x, Tensor(), f32v({4}, {1, 1, 0.6f, 0.6f})})[0], 1e-5, 1e-5,
               "downsample_scales_linear");
  expect_close(f32v({1, 1, 3, 1}, {1.6666666f, 7.f, 12.333333f}),
               run_op(resize_node("linear", "pytorch_half_pixel"), {k4x4, Tensor(), Tensor(), i64({1, 1, 3, 1})})[0],
               1e-5, 1e-5, "downsample_sizes_linear_pytorch_half_pixel");
}

TEST(Resize, TfCropAndResizeExtrapolates) {
  Node n = resize_node("linear", "tf_crop_and_resize");
  n.set_attr("extrapolation_value", 10.f);
  auto y = run_op(n, {k4x4, f32v({8}, {0, 0, 0.4f, 0.6f, 1, 1, 1.2f, 1.7f}), Tensor(), i64({1, 1, 3, 3})})[0];
  expect_close(f32v({1, 1, 3, 3}, {7.6f, 10, 10, 12.4f, 10, 10, 10, 10, 10}), y, 1e-5, 1e-5, "tf_crop_and_resize");
}

TEST(Resize, CubicMatchesOnnxReference) {
  // upsample_scales_cubic_align_corners, first row; downsample_scales_cubic with A=-0.5 and exclude_outside.
  auto y = run_op(resize_node("cubic", "align_corners"), {k4x4, Tensor(), f32v({4}, {1, 1, 2, 2})})[0];
  ASSERT_EQ(y.shape(), Shape({1, 1, 8, 8}));
  const float row0[8] = {1, 1.34110787f, 1.80029155f, 2.32944606f, 2.67055394f, 3.19970845f, 3.65889213f, 4};
  for (int i = 0; i < 8; ++i) EXPECT_NEAR(y.data<float>()[i], row0[i], 1e-5) << i;
  Node n = resize_node("cubic");
  n.set_attr("cubic_coeff_a", -0.5f);
  n.set_attr("exclude_outside", int64_t{1});
  auto z = run_op(n, {k4x4, Tensor(), f32v({4}, {1, 1, 0.8f, 0.8f})})[0];
  expect_close(f32v({1, 1, 3, 3}, {1.36812675f, 2.6695014f, 4.0133367f, 6.57362535f, 7.875f, 9.2188353f, 11.94896657f,
                                   13.25034122f, 14.59417652f}),
               z, 1e-5, 1e-5, "downsample_scales_cubic_A_n0p5_exclude_outside");
}

TEST(Resize, Opset10AndUpsampleUseAsymmetricNearest) {
  Node n = make_node("Resize", 2, 1);
  n.set_attr("mode", std::string("nearest"));
  auto y = run_with_opset(n, {k2x2, f32v({4}, {1, 1, 2, 3})}, 10);
  expect_close(f32v({1, 1, 4, 6}, {1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}), y, 0, 0,
               "resize-10 nearest");
  Node u = make_node("Upsample", 1, 1);
  u.set_attr("scales", std::vector<float>{1, 1, 2, 3});
  expect_close(y, run_op(u, {k2x2})[0], 0, 0, "upsample-7 attribute scales");
  Node ul = make_node("Upsample", 2, 1);
  ul.set_attr("mode", std::string("linear"));
  expect_close(f32v({1, 1, 2, 4}, {1, 1.5f, 2, 2, 3, 3.5f, 4, 4}), run_op(ul, {k2x2, f32v({4}, {1, 1, 1, 2})})[0], 1e-6,
               1e-6, "upsample-9 linear (asymmetric)");
}

TEST(Resize, NearestOnIntegersAndAxesAttribute) {
  Tensor x = Tensor::from_vector<uint8_t>({2, 2}, {1, 2, 3, 4});
  Node n = resize_node("nearest");
  n.set_attr("axes", std::vector<int64_t>{-1});
  auto y = run_op(n, {x, Tensor(), Tensor(), i64({4})})[0];
  expect_close(Tensor::from_vector<uint8_t>({2, 4}, {1, 1, 2, 2, 3, 3, 4, 4}), y, 0, 0, "u8 axes=[-1]");
  Node k = resize_node("nearest");
  k.set_attr("keep_aspect_ratio_policy", std::string("not_larger"));
  EXPECT_EQ(run_op(k, {random_f32({1, 1, 2, 4}, 1), Tensor(), Tensor(), i64({1, 1, 8, 4})})[0].shape(),
            Shape({1, 1, 2, 4}));
}

TEST(Resize, Errors) {
  EXPECT_THROW(run_op(resize_node("nearest"), {k2x2, Tensor(), Tensor(), Tensor()}), Error);  // neither
  EXPECT_THROW(run_op(resize_node("nearest"), {k2x2, Tensor(), f32v({4}, {1, 1, 2, 2}), i64({1, 1, 4, 4})}), Error);
  EXPECT_THROW(run_op(resize_node("nearest"), {k2x2, Tensor(), f32v({2}, {2, 2})}), Error);  // wrong length
  EXPECT_THROW(run_op(resize_node("nearest"), {k2x2, Tensor(), f32v({4}, {1, 1, -2, 2})}), Error);
  EXPECT_THROW(run_op(resize_node("area"), {k2x2, Tensor(), f32v({4}, {1, 1, 2, 2})}), Error);
  EXPECT_THROW(run_op(resize_node("nearest", "half_pixel", "nearest"), {k2x2, Tensor(), f32v({4}, {1, 1, 2, 2})}),
               Error);
  EXPECT_THROW(run_op(resize_node("linear", "tf_crop_and_resize"), {k2x2, Tensor(), f32v({4}, {1, 1, 2, 2})}), Error);
  EXPECT_THROW(
      run_op(resize_node("linear"), {Tensor::zeros(DType::kI32, {1, 1, 2, 2}), Tensor(), f32v({4}, {1, 1, 2, 2})}),
      Error);
  Node a = resize_node("linear");
  a.set_attr("antialias", int64_t{1});
  EXPECT_THROW(run_op(a, {k2x2, Tensor(), f32v({4}, {1, 1, 2, 2})}), Error);
}

TEST(Resize, GradientsMatchFiniteDifferences) {
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    SCOPED_TRACE(mode);
    expect_gradients_match(resize_node(mode),
                           {random_f32({1, 2, 3, 3}, 4), Tensor(), f32v({4}, {1, 1, 1.7f, 0.6f}), Tensor()}, {0});
  }
}

}  // namespace edgeopt::kernels::testing

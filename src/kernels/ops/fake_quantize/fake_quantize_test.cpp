#include <gtest/gtest.h>

#include <cmath>

#include "kernels/quant/requantize.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

Node fq_node(int64_t qmin, int64_t qmax, int64_t axis, size_t n_inputs) {
  Node n = make_node("FakeQuantize", n_inputs, 1);
  n.set_attr("qmin", qmin);
  n.set_attr("qmax", qmax);
  n.set_attr("axis", axis);
  return n;
}

}  // namespace

// The fake-quant value must be bit-identical to QuantizeLinear -> DequantizeLinear (what the QDQ
// export runs), ties included, or QAT accuracy would not be the deployed accuracy.
TEST(FakeQuantize, EqualsQuantizeThenDequantizeBitExact) {
  const float s = 0.05f;
  Tensor x = random_f32({257}, 3, -8.f, 8.f);
  for (int k = 0; k < 9; ++k) x.data<float>()[k] = (static_cast<float>(k) - 4.f + 0.5f) * s;  // ties
  Tensor scale = Tensor::scalar_f32(s);
  Tensor zp_u8 = Tensor::from_vector<uint8_t>({}, {100});
  Tensor y = run_op(fq_node(0, 255, 0, 3), {x, scale, Tensor::from_vector<int32_t>({}, {100})})[0];
  Tensor q = run_op(make_node("QuantizeLinear", 3, 1), {x, scale, zp_u8})[0];
  Tensor dq = run_op(make_node("DequantizeLinear", 3, 1), {q, scale, zp_u8})[0];
  for (int64_t i = 0; i < x.numel(); ++i) {
    ASSERT_EQ(y.data<float>()[i], dq.data<float>()[i]) << "index " << i << " x=" << x.data<float>()[i];
    ASSERT_EQ(y.data<float>()[i], kernels::quant::fake_quantize_f32(x.data<float>()[i], s, 100, 0, 255));
  }
  // Half to even: 2.5 * s -> code 2 (+zp), 3.5 * s -> 4.
  Tensor t = run_op(fq_node(-128, 127, 0, 2), {Tensor::from_vector<float>({2}, {2.5f * 0.5f, 3.5f * 0.5f}),
                                              Tensor::scalar_f32(0.5f)})[0];
  EXPECT_EQ(t.data<float>()[0], 1.0f);
  EXPECT_EQ(t.data<float>()[1], 2.0f);
}

TEST(FakeQuantize, PerChannelMatchesPerAxisDequantize) {
  Tensor w = random_f32({3, 2, 2, 2}, 5, -1.f, 1.f);
  Tensor scale = Tensor::from_vector<float>({3}, {0.01f, 0.002f, 0.1f});
  Tensor y = run_op(fq_node(-127, 127, 0, 2), {w, scale})[0];
  for (int64_t i = 0; i < w.numel(); ++i) {
    const float s = scale.data<float>()[i / 8];
    ASSERT_EQ(y.data<float>()[i], kernels::quant::fake_quantize_f32(w.data<float>()[i], s, 0, -127, 127)) << i;
  }
}

// Where the function is differentiable (the saturated region: y = (qmax - zp) * s is flat in x and
// linear in s), the backward equals finite differences.
TEST(FakeQuantize, GradientMatchesFiniteDifferencesWhereSaturated) {
  Tensor x = random_f32({2, 3}, 7, 3.f, 5.f);  // every code above qmax for s=0.01, qmax=127
  for (int64_t i = 0; i < 3; ++i) x.data<float>()[i] *= -1.f;  // and some below qmin
  expect_gradients_match(fq_node(-128, 127, 0, 2), {x, Tensor::scalar_f32(0.01f)}, {}, 1e-4, 1e-3, 1e-3);
  Tensor sc = Tensor::from_vector<float>({2}, {0.01f, 0.005f});  // row 1: codes 600..1000 > 255
  expect_gradients_match(fq_node(0, 255, 0, 2), {x, sc}, {1}, 1e-5, 1e-3, 1e-3);
}

// Inside the range: the straight-through estimator (dx = dy) and LSQ's scale gradient
// sum(dy * (round(x/s) - x/s)).
TEST(FakeQuantize, StraightThroughInsideTheRange) {
  Node n = fq_node(-128, 127, 0, 2);
  Tensor x = random_f32({40}, 11, -1.f, 1.f);
  const float s = 0.02f;
  std::vector<Tensor> in = {x, Tensor::scalar_f32(s)};
  auto out = run_op(n, in, true);
  Tensor dy = random_f32({40}, 12);
  std::vector<Tensor> grad_in(2);
  std::vector<Tensor> saved;
  std::vector<Tensor> go = {dy};
  BackwardCtx ctx{n, in, out, saved, go, grad_in};
  find_op("FakeQuantize")->backward(ctx);
  double want_ds = 0;
  for (int64_t i = 0; i < 40; ++i) {
    EXPECT_EQ(grad_in[0].data<float>()[i], dy.data<float>()[i]) << i;
    const float v = x.data<float>()[i] / s;
    want_ds += dy.data<float>()[i] * (kernels::quant::round_half_even(v) - v);
  }
  EXPECT_NEAR(grad_in[1].data<float>()[0], want_ds, 1e-5);
}

TEST(FakeQuantize, Errors) {
  Tensor x = random_f32({4}, 1);
  EXPECT_THROW(run_op(fq_node(5, 5, 0, 2), {x, Tensor::scalar_f32(0.1f)}), Error);   // empty range
  EXPECT_THROW(run_op(fq_node(0, 255, 0, 2), {x, Tensor::scalar_f32(0.f)}), Error);  // zero scale
  EXPECT_THROW(run_op(fq_node(0, 255, 0, 2), {x, Tensor::from_vector<float>({3}, {1.f, 1.f, 1.f})}), Error);
}

}  // namespace edgeopt::kernels::testing

// ConvBf16: the reference is the fp32 Conv reference on bf16-rounded X and W; the fast kernel
// (with and without the prepared, packed weights) matches it over 1x1 and KxK kernels, strides,
// padding, bias, fused activations, a fused residual, batch sizes and small planes (the pixel-rows
// form); grouped convs are refused.
#include "kernels/ops/conv_bf16/conv_bf16.h"

#include <gtest/gtest.h>

#include <sstream>

#include "core/dtype.h"
#include "core/error.h"
#include "kernels/common.h"
#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels {
namespace {

using testing::expect_close;
using testing::make_node;
using testing::random_f32;
using testing::run_op;

Tensor bf16_rounded(const Tensor& t) {
  return unary_f32(t, [](float v) { return bf16_to_f32(f32_to_bf16(v)); });
}

struct Case {
  int64_t n, c, h, w, m, k, stride, pad;
  bool bias, residual;
  const char* act;  // "", "Relu" or "Clip"
  std::string describe() const {
    std::ostringstream os;
    os << "x=[" << n << "," << c << "," << h << "," << w << "] m=" << m << " k=" << k << " s=" << stride << " p=" << pad
       << " bias=" << bias << " residual=" << residual << " act=" << act;
    return os.str();
  }
};

Node conv_node(const char* op_type, const Case& cs) {
  Node nd = make_node(op_type, cs.residual ? 4 : cs.bias ? 3 : 2, 1);
  nd.set_attr("kernel_shape", std::vector<int64_t>{cs.k, cs.k});
  nd.set_attr("strides", std::vector<int64_t>{cs.stride, cs.stride});
  nd.set_attr("pads", std::vector<int64_t>{cs.pad, cs.pad, cs.pad, cs.pad});
  if (*cs.act) nd.set_attr("activation", std::string(cs.act));
  if (std::string(cs.act) == "Clip") {
    nd.set_attr("activation_min", -0.5f);
    nd.set_attr("activation_max", 0.75f);
  }
  return nd;
}

const Case kCases[] = {
    {1, 8, 5, 5, 6, 1, 1, 0, true, false, ""},      {2, 13, 7, 6, 17, 1, 1, 0, false, true, "Relu"},
    {1, 4, 9, 7, 50, 3, 1, 1, true, true, "Clip"},  {2, 3, 8, 8, 7, 3, 2, 1, true, false, "Relu"},
    {1, 6, 6, 6, 4, 1, 2, 0, false, false, ""},     {1, 5, 4, 4, 3, 3, 1, 0, true, false, "Clip"},
    {1, 33, 14, 14, 9, 3, 1, 1, true, true, "Relu"}, {1, 1, 3, 3, 1, 3, 1, 1, false, false, ""},
    // Small planes, many channels: the pixel-rows form (pixels as the GEMM's rows).
    {2, 16, 7, 7, 96, 3, 1, 1, true, true, "Clip"},  {1, 16, 7, 7, 96, 3, 1, 1, true, false, "Relu"},
    {2, 20, 3, 3, 50, 1, 1, 0, false, true, "Relu"}, {1, 9, 6, 6, 200, 3, 2, 1, true, false, ""},
};

std::vector<Tensor> inputs(const Case& cs, uint64_t seed, int64_t oh, int64_t ow) {
  std::vector<Tensor> in{random_f32({cs.n, cs.c, cs.h, cs.w}, seed), random_f32({cs.m, cs.c, cs.k, cs.k}, seed + 1)};
  if (cs.bias || cs.residual) in.push_back(random_f32({cs.m}, seed + 2));
  if (cs.residual) in.push_back(random_f32({cs.n, cs.m, oh, ow}, seed + 3));
  return in;
}

int64_t out_size(int64_t in, const Case& cs) { return (in + 2 * cs.pad - cs.k) / cs.stride + 1; }

TEST(ConvBf16, ReferenceIsConvOnRoundedInputs) {
  uint64_t seed = 1;
  for (const Case& cs : kCases) {
    std::vector<Tensor> in = inputs(cs, seed += 5, out_size(cs.h, cs), out_size(cs.w, cs));
    std::vector<Tensor> rounded = in;
    rounded[0] = bf16_rounded(in[0]);
    rounded[1] = bf16_rounded(in[1]);
    expect_close(run_op(conv_node("Conv", cs), rounded)[0], run_op(conv_node("ConvBf16", cs), in)[0], 0, 0,
                 "ConvBf16 ref vs Conv on bf16 inputs, " + cs.describe());
  }
}

TEST(ConvBf16, FastMatchesReference) {
  uint64_t seed = 100;
  // Same bf16 products, summed in another order (pairs, K slices): f32 rounding only.
  for (const Case& cs : kCases)
    testing::expect_fast_matches_ref_prepared(conv_node("ConvBf16", cs),
                                              inputs(cs, seed += 5, out_size(cs.h, cs), out_size(cs.w, cs)), 1e-5,
                                              1e-5, cs.describe());
}

TEST(ConvBf16, RefusesGroups) {
  Node nd = make_node("ConvBf16", 2, 1);
  nd.set_attr("group", int64_t{2});
  const std::vector<Tensor> in{random_f32({1, 4, 3, 3}, 1), random_f32({4, 2, 1, 1}, 2)};
  const OpDef* op = find_op("ConvBf16");
  for (ForwardFn fn : {op->forward, op->forward_fast}) {
    std::vector<Tensor> out(1);
    ForwardCtx ctx{nd, in, out};
    EXPECT_THROW(fn(ctx), Error);
  }
}

}  // namespace
}  // namespace edgeopt::kernels

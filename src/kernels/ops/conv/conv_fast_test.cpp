#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <sstream>

#include "core/thread_pool.h"
#include "kernels/microkernels/conv/conv_small_k.h"
#include "kernels/ops/conv/conv_fast.h"
#include "kernels/testing/fast_vs_ref.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

struct ConvCase {
  Shape x, w;
  int64_t group = 1;
  std::vector<int64_t> strides, dilations, pads;  // empty: attribute absent (defaults)
  bool bias = true;
  std::string auto_pad;

  std::string describe() const {
    std::ostringstream os;
    auto ints = [&](const std::vector<int64_t>& v) {
      std::string s = "[";
      // Appended piecewise: `const char* + std::string` trips GCC 12's -Wrestrict false positive.
      for (size_t i = 0; i < v.size(); ++i) {
        if (i) s += ",";
        s += std::to_string(v[i]);
      }
      return s + "]";
    };
    os << "x=" << x.str() << " w=" << w.str() << " g=" << group << " s=" << ints(strides) << " d=" << ints(dilations)
       << " p=" << ints(pads) << (bias ? " bias" : "") << (auto_pad.empty() ? "" : " auto_pad=" + auto_pad);
    return os.str();
  }
};

Node conv_node(const ConvCase& c) {
  Node n = make_node("Conv", c.bias ? 3 : 2, 1);
  if (c.group != 1) n.set_attr("group", c.group);
  if (!c.strides.empty()) n.set_attr("strides", c.strides);
  if (!c.dilations.empty()) n.set_attr("dilations", c.dilations);
  if (!c.pads.empty()) n.set_attr("pads", c.pads);
  if (!c.auto_pad.empty()) n.set_attr("auto_pad", c.auto_pad);
  return n;
}

std::vector<Tensor> conv_inputs(const ConvCase& c, uint64_t seed) {
  std::vector<Tensor> in{random_f32(c.x, seed), random_f32(c.w, seed + 1)};
  if (c.bias) in.push_back(random_f32({c.w[0]}, seed + 2));
  return in;
}

std::string index_str(const Shape& s, int64_t flat) {
  std::vector<int64_t> idx(s.rank());
  for (size_t d = s.rank(); d-- > 0;) {
    idx[d] = flat % s[d];
    flat /= s[d];
  }
  std::string out = "[";
  for (size_t d = 0; d < idx.size(); ++d) {
    if (d) out += ",";
    out += std::to_string(idx[d]);
  }
  return out + "]";
}

// |fast - ref| <= atol + rtol*|ref| element-wise; the message names the kernel, index and case.
void expect_match(const Tensor& ref, const Tensor& fast, const std::string& what, const std::string& cs,
                  double atol = 2e-5, double rtol = 1e-5) {
  ASSERT_TRUE(fast.defined()) << what << " produced nothing; case " << cs;
  ASSERT_EQ(ref.shape(), fast.shape()) << what << " shape; case " << cs;
  const float* r = ref.data<float>();
  const float* f = fast.data<float>();
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double tol = atol + rtol * std::fabs(r[i]);
    ASSERT_LE(std::fabs(double(r[i]) - f[i]), tol)
        << what << " vs ref at " << index_str(ref.shape(), i) << ": ref=" << r[i] << " fast=" << f[i]
        << " |diff|=" << std::fabs(double(r[i]) - f[i]) << " > tol=" << tol << "; case " << cs;
  }
}

std::vector<ConvCase> awkward_cases() {
  std::vector<ConvCase> cases = {
      {{1, 1, 5, 5}, {1, 1, 3, 3}, 1, {}, {}, {}, false},
      {{2, 3, 7, 6}, {4, 3, 3, 3}, 1, {2, 2}, {1, 1}, {1, 1, 1, 1}},
      {{1, 4, 9, 7}, {6, 2, 3, 2}, 2, {1, 2}, {2, 1}, {2, 0, 1, 1}},             // groups, asymmetric pads
      {{2, 8, 8, 8}, {8, 1, 3, 3}, 8, {1, 1}, {}, {1, 1, 1, 1}},                  // depthwise 3x3 s1
      {{1, 13, 11, 9}, {13, 1, 3, 3}, 13, {2, 2}, {}, {1, 1, 1, 1}},              // depthwise 3x3 s2
      {{1, 7, 17, 19}, {14, 1, 5, 5}, 7, {1, 1}, {}, {2, 2, 2, 2}},               // depthwise, multiplier 2, 5x5
      {{1, 4, 10, 13}, {4, 1, 3, 3}, 4, {3, 2}, {2, 2}, {0, 2, 1, 0}},            // depthwise odd stride/dilation
      {{1, 16, 33, 35}, {16, 1, 3, 3}, 16, {1, 1}, {}, {1, 1, 1, 1}},             // depthwise, rows > 2 vectors
      {{1, 3, 13, 11}, {7, 3, 1, 1}, 1, {3, 1}, {}, {0, 0, 0, 0}, false},        // 1x1 strided: im2col path
      {{2, 17, 6, 5}, {13, 17, 1, 1}},                                            // 1x1 pointwise: no im2col
      {{1, 16, 4, 4}, {32, 4, 1, 1}, 4},                                          // grouped pointwise
      {{1, 2, 10, 9}, {3, 2, 3, 3}, 1, {1, 1}, {3, 2}, {0, 1, 2, 0}},             // dilations
      {{3, 16, 14, 14}, {17, 16, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      {{1, 17, 15, 16}, {16, 17, 3, 3}, 1, {2, 2}, {}, {1, 0, 1, 0}},
      {{2, 8, 12, 12}, {8, 4, 3, 3}, 2, {2, 1}, {1, 2}, {2, 2, 2, 2}},
      {{1, 3, 28, 28}, {8, 3, 5, 5}, 1, {1, 1}, {}, {}, true, "SAME_UPPER"},
      {{1, 16, 28, 28}, {32, 16, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      {{2, 5, 11}, {7, 5, 3}, 1, {2}, {}, {1, 1}},                                // 1-D
      {{1, 4, 5, 6, 7}, {3, 4, 3, 3, 3}, 1, {1, 2, 1}, {}, {1, 1, 1, 1, 1, 1}},   // 3-D
      {{1, 6, 1, 9}, {6, 1, 1, 3}, 6, {1, 1}, {}, {0, 1, 0, 1}},                  // depthwise, H = 1
      {{2, 20, 7, 7}, {24, 20, 1, 1}},                                            // pointwise, 49 = 48 + 1 columns
      {{1, 8, 14, 14}, {17, 8, 1, 1}, 1, {}, {}, {}, false},                      // 196 = 192 + 4
      {{2, 19, 28, 31}, {21, 19, 1, 1}},  // pointwise on >= 28x28: X read in place (indirect B), 868 = 18 x 48 + 4
      {{1, 32, 7, 7}, {34, 16, 1, 1}, 2},                                         // grouped pointwise, 7x7
      {{2, 3, 29, 37}, {10, 3, 7, 7}, 1, {2, 2}, {}, {3, 3, 3, 3}},               // 7x7 s2 stem: small-K, K = 147
      {{1, 3, 40, 126}, {10, 3, 7, 7}, 1, {2, 2}, {}, {3, 3, 3, 3}},  // 63 columns = 4 vectors: 2 + 2-vector tiles
      {{0, 3, 5, 5}, {4, 3, 3, 3}},                                               // empty batch
  };
  // Channel sweep over the GEMM remainders.
  uint64_t i = 0;
  for (int64_t c : {1, 3, 4, 7, 8, 13, 16, 17}) {
    const int64_t m = std::vector<int64_t>{3, 8, 17, 1, 16, 4, 9, 13}[i % 8];
    const int64_t hw = 5 + static_cast<int64_t>(i);
    cases.push_back({{1 + static_cast<int64_t>(i % 2), c, hw, hw + 1}, {m, c, 3, 3}, 1,
                     {1 + static_cast<int64_t>(i % 2), 1}, {}, {1, 1, 1, 1}, i % 3 != 0});
    ++i;
  }
  return cases;
}

TEST(ConvFast, ForwardMatchesReference) {
  const OpDef* op = find_op("Conv");
  ASSERT_NE(op, nullptr);
  uint64_t seed = 10;
  for (const auto& cs : awkward_cases()) {
    Node n = conv_node(cs);
    auto in = conv_inputs(cs, seed += 3);
    std::vector<Tensor> ref(1), fast(1);
    ForwardCtx rctx{n, in, ref};
    op->forward(rctx);
    ForwardCtx fctx{n, in, fast};
    ops::conv::conv_f32_nchw_fast(fctx);
    expect_match(ref[0], fast[0], "conv_f32_nchw_fast", cs.describe());
    if (HasFatalFailure()) return;
  }
}

// With the state prepare builds (what a Session does): packed weights, Winograd F(2x2,3x3) for
// 3x3 stride-1 convs with >= 128 channels, the virtual grid for large stride-1 planes (odd sizes,
// asymmetric and large pads, dilation, activations).
TEST(ConvFast, PreparedForwardMatchesReference) {
  const OpDef* op = find_op("Conv");
  ASSERT_NE(op->prepare, nullptr);
  std::vector<ConvCase> cases = awkward_cases();
  const std::vector<ConvCase> winograd = {
      {{1, 16, 8, 8}, {16, 16, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      {{2, 17, 9, 7}, {19, 17, 3, 3}, 1, {}, {}, {1, 1, 1, 1}},                 // odd output sizes, batch 2
      {{1, 24, 11, 13}, {16, 24, 3, 3}, 1, {1, 1}, {1, 1}, {0, 2, 1, 0}, false},  // asymmetric pads
      {{1, 16, 5, 6}, {32, 16, 3, 3}, 1, {1, 1}, {}, {0, 0, 0, 0}},             // valid: 3x4 outputs
      {{1, 16, 3, 3}, {16, 16, 3, 3}, 1, {1, 1}, {}, {2, 2, 2, 2}},             // pads larger than the image
      {{1, 20, 28, 28}, {40, 20, 3, 3}, 1, {1, 1}, {}, {}, true, "SAME_UPPER"},
      {{1, 16, 1, 9}, {16, 16, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},             // one input row
      // Winograd itself takes >= 128 channels in and out (odd counts, batch 2).
      {{1, 128, 6, 7}, {128, 128, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      {{2, 130, 5, 5}, {129, 130, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      // The virtual grid (conv_grid: planes read in place, <= 10% dropped columns): 3x3, dilation 2,
      // 5x5 with asymmetric pads, batch 2, output channels off the panel height.
      {{1, 8, 40, 44}, {16, 8, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      {{1, 9, 30, 60}, {10, 9, 3, 3}, 1, {1, 1}, {2, 2}, {2, 2, 2, 2}},
      {{2, 6, 33, 50}, {7, 6, 5, 5}, 1, {1, 1}, {}, {2, 1, 1, 3}},
      // The pixel-rows form: stride 1 from 256 channels (output channels below and off the
      // 48-column tile), stride 2 at any width (odd sizes, asymmetric pads, 5x5, a 1-pixel-wide
      // image, batch 2).
      {{1, 256, 5, 6}, {40, 256, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      {{2, 260, 7, 7}, {50, 260, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      {{1, 20, 13, 11}, {52, 20, 3, 3}, 1, {2, 2}, {}, {0, 1, 2, 1}},
      {{2, 12, 17, 20}, {9, 12, 5, 5}, 1, {2, 2}, {}, {2, 2, 2, 2}},
      {{1, 16, 9, 1}, {16, 16, 3, 3}, 1, {2, 2}, {}, {1, 1, 1, 1}},
      {{1, 64, 20, 21}, {97, 64, 3, 3}, 1, {2, 2}, {}, {1, 1, 1, 1}},  // K blocks x pixel-block groups
      // 7-pixel blocks where they tile the plane and 8 do not (196 = 28 x 7, 35 = 5 x 7), across K
      // blocks (the next block's weights prefetched) and a short last channel panel.
      {{1, 256, 14, 14}, {100, 256, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      // >= 256 channels in and >= 128 out: the plane decides at the first run, Winograd from 14x14
      // (with the next U prefetched), the pixel-rows form below.
      {{1, 256, 14, 14}, {130, 256, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      {{2, 256, 6, 7}, {128, 256, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
      {{1, 72, 10, 14}, {52, 72, 3, 3}, 1, {2, 2}, {}, {1, 1, 1, 1}},
      // Pointwise convs with many channels on small planes: the packed GEMM with a narrow N edge
      // (49 = 48 + 1 columns, 25 = 16 + 9); 1x1 stride 2 reads X in place in the pixel-rows form.
      {{1, 768, 7, 7}, {40, 768, 1, 1}},
      {{2, 320, 5, 5}, {1024, 320, 1, 1}, 1, {}, {}, {}, false},
      {{2, 256, 10, 9}, {50, 256, 1, 1}, 1, {2, 2}},  // 1x1 stride 2 (ResNet's downsampling), odd sizes
  };
  cases.insert(cases.end(), winograd.begin(), winograd.end());
  uint64_t seed = 700;
  for (size_t k = 0; k < cases.size(); ++k) {
    const ConvCase& cs = cases[k];
    for (const char* act : {"", "Relu"}) {
      Node n = conv_node(cs);
      if (*act) n.set_attr("activation", std::string(act));
      auto in = conv_inputs(cs, seed += 3);
      std::vector<Tensor> consts = in;
      consts[0] = Tensor();  // X is a per-run input
      PrepareCtx pctx{n, consts};
      auto state = op->prepare(pctx);
      std::vector<Tensor> ref(1), fast(1);
      ForwardCtx rctx{n, in, ref};
      op->forward(rctx);
      if (*act)
        for (int64_t i = 0; i < ref[0].numel(); ++i) ref[0].data<float>()[i] = std::max(0.f, ref[0].data<float>()[i]);
      ForwardCtx fctx{n, in, fast};
      fctx.state = state.get();
      ops::conv::conv_f32_nchw_fast(fctx);
      // Winograd sums 16 transformed products per tile: a few ulps more than direct conv.
      expect_match(ref[0], fast[0], std::string("prepared conv_f32_nchw_fast ") + act, cs.describe(), 1e-4, 1e-4);
      if (HasFatalFailure()) return;
    }
  }
}

// Dense 2-D convs with a short K = C*kh*kw run the direct small-K kernel (conv_small_k.h: K <= 64,
// or <= 160 with <= 4 channels, e.g. 3 x 7x7): random channels, kernel shapes (incl. 1xk and kx1),
// strides 1-4, dilations, asymmetric pads, widths on both sides of the register block, channel
// counts off the panel height, batch 1-2, with and without the prepared (packed) weights and a
// fused clamp.
TEST(ConvFast, SmallKDirectMatchesReference) {
  const OpDef* op = find_op("Conv");
  std::mt19937 rng(2026);
  auto uni = [&](int64_t lo, int64_t hi) { return std::uniform_int_distribution<int64_t>(lo, hi)(rng); };
  for (int iter = 0; iter < 80; ++iter) {
    const int64_t c = uni(1, 7), kh = uni(1, iter % 4 == 0 ? 7 : 5), kw = uni(iter % 7 == 0 ? 1 : 2, 7);
    if (!microkernels::conv_small_k_f32_suits(c, c * kh * kw) || kh * kw == 1) continue;
    const int64_t sh = uni(1, 4), sw = uni(1, 4), dh = uni(1, 2), dw = uni(1, 2);
    const std::vector<int64_t> pads{uni(0, 2), uni(0, 3), uni(0, 2), uni(0, 3)};
    const int64_t h = std::max<int64_t>((kh - 1) * dh + 1, uni(1, 40));
    const int64_t w = std::max<int64_t>((kw - 1) * dw + 1, uni(1, 130));
    const ConvCase cs{{uni(1, 2), c, h, w}, {uni(1, 21), c, kh, kw}, 1, {sh, sw}, {dh, dw}, pads, iter % 3 != 0};
    for (bool prepared : {false, true}) {
      Node n = conv_node(cs);
      if (iter % 2) {
        n.set_attr("activation", std::string("Clip"));
        n.set_attr("activation_min", -0.5f);
        n.set_attr("activation_max", 0.75f);
      }
      auto in = conv_inputs(cs, 9000 + iter);
      const std::shared_ptr<const OpState> state = prepared ? prepare_with_constant_weights(*op, n, in) : nullptr;
      std::vector<Tensor> ref(1), fast(1);
      ForwardCtx rctx{n, in, ref};
      op->forward(rctx);
      ForwardCtx fctx{n, in, fast};
      fctx.state = state.get();
      ops::conv::conv_f32_nchw_fast(fctx);
      // Up to 160 products of values in [-1, 1]: the reference sums in another order.
      expect_match(ref[0], fast[0], prepared ? "prepared small-K conv" : "small-K conv", cs.describe(), 5e-5, 1e-5);
      if (HasFatalFailure()) return;
    }
  }
}

// A residual fused by the runtime (4th input R): act(conv + B + R), on the pointwise GEMM (7x7
// and 9x9 planes), the small-K direct kernel, Winograd and depthwise paths.
TEST(ConvFast, FusedResidualMatchesReference) {
  const OpDef* op = find_op("Conv");
  const ConvCase cases[] = {{{1, 20, 7, 7}, {24, 20, 1, 1}},   {{2, 16, 9, 9}, {16, 16, 1, 1}},
                            {{1, 3, 9, 8}, {5, 3, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
                            {{1, 16, 8, 8}, {16, 16, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
                            {{1, 128, 6, 6}, {128, 128, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},  // Winograd
                            {{1, 8, 40, 44}, {16, 8, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},     // grid
                            {{1, 256, 7, 7}, {64, 256, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},   // pixel rows
                            {{2, 24, 14, 15}, {50, 24, 3, 3}, 1, {2, 2}, {}, {1, 1, 1, 1}},   // pixel rows, s2
                            {{1, 800, 3, 4}, {50, 800, 1, 1}},                                // 1x1, K = 800
                            {{1, 256, 14, 13}, {128, 256, 1, 1}, 1, {2, 2}},                  // pixel rows, 1x1/2
                            {{1, 8, 10, 10}, {8, 1, 3, 3}, 8, {1, 1}, {}, {1, 1, 1, 1}},
                            // depthwise in 16-channel blocks (+ a remainder), and a channel multiplier of 2
                            {{2, 20, 7, 7}, {20, 1, 3, 3}, 20, {1, 1}, {}, {1, 1, 1, 1}},
                            {{1, 8, 10, 10}, {16, 1, 3, 3}, 8, {1, 1}, {}, {1, 1, 1, 1}}};
  uint64_t seed = 4000;
  for (const ConvCase& cs : cases)
    for (bool prepared : {false, true}) {
      ConvCase plain = cs;
      std::vector<Tensor> in = conv_inputs(cs, seed += 5);
      Node n0 = conv_node(plain);
      std::vector<Tensor> y0(1);
      ForwardCtx c0{n0, in, y0};
      op->forward(c0);  // conv + B, no residual, no activation
      Node n = make_node("Conv", 4, 1);
      for (const auto& [k, v] : n0.attrs) n.attrs[k] = v;
      n.set_attr("activation", std::string("Clip"));
      n.set_attr("activation_min", -0.25f);
      n.set_attr("activation_max", 0.5f);
      Tensor r = random_f32(y0[0].shape(), seed + 3);
      std::vector<Tensor> in4 = in;
      in4.push_back(r);
      std::shared_ptr<const OpState> state;
      if (prepared) {
        std::vector<Tensor> consts = in4;
        consts[0] = Tensor();
        consts[3] = Tensor();
        PrepareCtx pctx{n, consts};
        state = op->prepare(pctx);
      }
      Tensor want = y0[0].clone();
      for (int64_t i = 0; i < want.numel(); ++i)
        want.data<float>()[i] = std::min(std::max(want.data<float>()[i] + r.data<float>()[i], -0.25f), 0.5f);
      std::vector<Tensor> fast(1);
      ForwardCtx fctx{n, in4, fast};
      fctx.state = state.get();
      ops::conv::conv_f32_nchw_fast(fctx);
      expect_match(want, fast[0], prepared ? "prepared conv + residual" : "conv + residual", cs.describe(), 1e-4, 1e-4);
      if (HasFatalFailure()) return;
    }
}

TEST(ConvFast, ForwardDoesNotDependOnThreadCount) {
  const ConvCase cases[] = {{{4, 16, 14, 14}, {32, 16, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
                            {{1, 16, 28, 28}, {32, 16, 3, 3}, 1, {1, 1}, {}, {1, 1, 1, 1}},
                            {{2, 8, 9, 9}, {8, 1, 3, 3}, 8, {2, 2}, {}, {1, 1, 1, 1}}};
  for (const auto& cs : cases) {
    Node n = conv_node(cs);
    auto in = conv_inputs(cs, 99);
    std::vector<Tensor> one(1), two(1);
    set_num_threads(1);
    ForwardCtx c1{n, in, one};
    ops::conv::conv_f32_nchw_fast(c1);
    set_num_threads(2);
    ForwardCtx c2{n, in, two};
    ops::conv::conv_f32_nchw_fast(c2);
    set_num_threads(0);
    expect_match(one[0], two[0], "conv_f32_nchw_fast 2 threads vs 1", cs.describe(), 0, 0);
    if (HasFatalFailure()) return;
  }
}

TEST(ConvFast, BackwardMatchesReferenceBackward) {
  const OpDef* op = find_op("Conv");
  ASSERT_NE(op, nullptr);
  ASSERT_NE(op->backward, nullptr);
  uint64_t seed = 500;
  for (const auto& cs : awkward_cases()) {
    Node n = conv_node(cs);
    auto in = conv_inputs(cs, seed += 3);
    std::vector<Tensor> y(1);
    ForwardCtx fctx{n, in, y};
    op->forward(fctx);
    std::vector<Tensor> gout{random_f32(y[0].shape(), seed + 7)};
    std::vector<Tensor> gref(in.size()), gfast(in.size());
    BackwardCtx rctx{n, in, y, {}, gout, gref};
    BackwardCtx bctx{n, in, y, {}, gout, gfast};
    if (op->backward_ref)
      op->backward_ref(rctx);
    else
      op->backward(rctx);
    ops::conv::conv_f32_nchw_grad_fast(bctx);
    const char* names[] = {"dX", "dW", "dB"};
    for (size_t i = 0; i < in.size(); ++i) {
      // dW/dB sum over N*OH*OW terms: scale the tolerance with the reduction length.
      const double atol = i == 0 ? 2e-5 : 2e-5 * std::sqrt(double(y[0].numel()) / std::max<int64_t>(1, cs.w[0]));
      expect_match(gref[i], gfast[i], std::string("conv_f32_nchw_grad_fast ") + names[i], cs.describe(), atol, 1e-4);
      if (HasFatalFailure()) return;
    }
  }
}

TEST(ConvFast, RejectsWhatTheReferenceRejects) {
  ConvCase bad_group{{1, 4, 5, 5}, {4, 3, 3, 3}, 2};
  Node n = conv_node(bad_group);
  auto in = conv_inputs(bad_group, 1);
  std::vector<Tensor> out(1);
  ForwardCtx ctx{n, in, out};
  EXPECT_THROW(ops::conv::conv_f32_nchw_fast(ctx), Error);
  std::vector<Tensor> short_in{random_f32({1, 3}, 1), random_f32({4, 3}, 2)};
  Node n2 = make_node("Conv", 2, 1);
  ForwardCtx ctx2{n2, short_in, out};
  EXPECT_THROW(ops::conv::conv_f32_nchw_fast(ctx2), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

namespace edgeopt::kernels::testing {
namespace {

// prepare reads the attributes once (conv::read_conv_attrs) and the forward's geometry comes from
// them: the same output as the unprepared forward for padded, strided, dilated, grouped,
// depthwise and auto_pad convs, on two input sizes per state (the geometry still follows x); and
// invalid attributes are still the forward's error, with the unprepared forward's message.
TEST(ConvFast, PreparedAttributesEqualPerRunAttributes) {
  const OpDef* op = find_op("Conv");
  const ConvCase cases[] = {{{1, 3, 9, 8}, {5, 3, 3, 3}, 1, {2, 1}, {1, 2}, {1, 0, 2, 1}, true},
                            {{1, 8, 10, 10}, {8, 1, 3, 3}, 8, {1, 1}, {1, 1}, {1, 1, 1, 1}, true},
                            {{2, 16, 8, 8}, {16, 16, 3, 3}, 1, {1, 1}, {1, 1}, {1, 1, 1, 1}, false},
                            {{1, 6, 7, 7}, {4, 3, 1, 1}, 2, {1, 1}, {1, 1}, {0, 0, 0, 0}, true}};
  uint64_t seed = 7100;
  for (const ConvCase& cs : cases)
    for (bool auto_pad : {false, true}) {
      Node n = conv_node(cs);
      if (auto_pad) {
        n.attrs.erase("pads");
        n.set_attr("auto_pad", std::string("SAME_UPPER"));
      }
      std::vector<Tensor> in = conv_inputs(cs, seed += 3);
      const std::shared_ptr<const OpState> state = prepare_with_constant_weights(*op, n, in);
      ASSERT_NE(state, nullptr) << cs.describe();
      for (int64_t grow : {0, 3}) {
        std::vector<Tensor> xin = in;
        Shape xs = cs.x;
        xs = Shape({xs[0], xs[1], xs[2] + grow, xs[3] + grow});
        xin[0] = random_f32(xs, seed + 1000 + static_cast<uint64_t>(grow));
        std::vector<Tensor> plain(1), prepared(1);
        ForwardCtx c0{n, xin, plain};
        ops::conv::conv_f32_nchw_fast(c0);
        ForwardCtx c1{n, xin, prepared};
        c1.state = state.get();
        ops::conv::conv_f32_nchw_fast(c1);
        // Winograd runs only with the prepared weights: equal up to its rounding (a wrong geometry
        // would differ by O(1) or in shape).
        ASSERT_EQ(plain[0].shape(), prepared[0].shape()) << cs.describe();
        expect_close(plain[0], prepared[0], 1e-5, 1e-5, "prepared attributes; case " + cs.describe());
      }
    }
  // strides of the wrong length: prepare still succeeds and the forward reports the attribute.
  ConvCase bad = cases[0];
  Node n = conv_node(bad);
  n.set_attr("strides", std::vector<int64_t>{1, 1, 1});
  std::vector<Tensor> in = conv_inputs(bad, 7300);
  const std::shared_ptr<const OpState> state = prepare_with_constant_weights(*op, n, in);
  std::string plain_msg, prepared_msg;
  try {
    std::vector<Tensor> y(1);
    ForwardCtx c{n, in, y};
    ops::conv::conv_f32_nchw_fast(c);
  } catch (const Error& e) {
    plain_msg = e.what();
  }
  try {
    std::vector<Tensor> y(1);
    ForwardCtx c{n, in, y};
    c.state = state.get();
    ops::conv::conv_f32_nchw_fast(c);
  } catch (const Error& e) {
    prepared_msg = e.what();
  }
  EXPECT_NE(plain_msg.find("strides"), std::string::npos) << plain_msg;
  EXPECT_EQ(prepared_msg, plain_msg);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

// ConvMaxPool: the fused kernels (conv_pool_fp32.h, direct and Winograd) against the reference
// (Conv then MaxPool reference kernels) over awkward shapes, with and without the prepared state,
// at 1 and 2 threads; under every Highway target through the kernels_test_target_<T> runs.
#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "core/thread_pool.h"
#include "kernels/testing/fast_vs_ref.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

struct ConvPoolCase {
  Shape x, w;
  std::vector<int64_t> pads;  // empty: absent
  bool bias = true;
  std::string act;            // "", "Relu", "Clip"
  std::vector<int64_t> strides, dilations;
  int64_t group = 1;
  std::string auto_pad;
  std::string describe() const {
    auto ints = [](const std::vector<int64_t>& v) {
      std::string s = "[";
      for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
      return s + "]";
    };
    std::ostringstream os;
    os << "x=" << x.str() << " w=" << w.str() << " p=" << ints(pads) << (bias ? " bias" : "") << " act=" << act
       << " s=" << ints(strides) << " d=" << ints(dilations) << " g=" << group
       << (auto_pad.empty() ? "" : " auto_pad=" + auto_pad);
    return os.str();
  }
};

Node conv_pool_node(const ConvPoolCase& c) {
  Node n = make_node("ConvMaxPool", c.bias ? 3 : 2, 1);
  if (!c.pads.empty()) n.set_attr("pads", c.pads);
  if (!c.strides.empty()) n.set_attr("strides", c.strides);
  if (!c.dilations.empty()) n.set_attr("dilations", c.dilations);
  if (c.group != 1) n.set_attr("group", c.group);
  if (!c.auto_pad.empty()) n.set_attr("auto_pad", c.auto_pad);
  if (!c.act.empty()) n.set_attr("activation", c.act);
  if (c.act == "Clip") {
    n.set_attr("activation_min", -0.25f);
    n.set_attr("activation_max", 0.5f);
  }
  return n;
}

std::vector<Tensor> conv_pool_inputs(const ConvPoolCase& c, uint64_t seed) {
  std::vector<Tensor> in{random_f32(c.x, seed), random_f32(c.w, seed + 1)};
  if (c.bias) in.push_back(random_f32({c.w[0]}, seed + 2));
  return in;
}

// Channels across the 16-lane blocks and the 32-channel register tiles (1, 7, 16, 17, 33, 64),
// inputs below/above the Winograd threshold (1, 3, 8, 13, 32), odd and even conv outputs (the pool
// drops a last odd row/column), 1x1 to 5x5 and non-square kernels, asymmetric and large pads.
std::vector<ConvPoolCase> cases() {
  std::vector<ConvPoolCase> cs = {
      {{1, 1, 28, 28}, {32, 1, 3, 3}, {1, 1, 1, 1}, true, "Relu"},    // vision_cnn layer 1 (direct)
      {{1, 32, 14, 14}, {64, 32, 3, 3}, {1, 1, 1, 1}, true, "Relu"},  // vision_cnn layer 2 (Winograd)
      {{2, 3, 9, 11}, {7, 3, 3, 3}, {1, 1, 1, 1}, false, ""},
      {{1, 13, 7, 10}, {17, 13, 3, 3}, {0, 2, 1, 0}, true, "Clip"},   // Winograd, asymmetric pads
      {{3, 8, 5, 5}, {33, 8, 3, 3}, {}, true, "Relu"},                 // valid: 3x3 conv out -> 1x1
      {{1, 32, 15, 13}, {16, 32, 3, 3}, {1, 1, 1, 1}, true, ""},       // odd conv output
      {{1, 16, 3, 3}, {16, 16, 3, 3}, {2, 2, 2, 2}, true, "Relu"},     // pads larger than the image
      {{1, 5, 8, 9}, {1, 5, 5, 5}, {2, 2, 2, 2}, true, ""},
      {{1, 4, 6, 7}, {17, 4, 1, 1}, {}, true, "Relu"},
      {{2, 2, 10, 7}, {9, 2, 2, 3}, {0, 1, 1, 0}, true, "Clip"},
      {{1, 40, 20, 18}, {64, 40, 3, 3}, {}, true, "Relu", {}, {}, 1, "SAME_UPPER"},
      {{1, 9, 31, 4}, {20, 9, 3, 3}, {1, 0, 1, 0}, false, "Relu"},
      {{1, 3, 2, 2}, {5, 3, 1, 1}, {}, true, ""},                      // one pooled output
      {{1, 64, 11, 128}, {20, 64, 3, 3}, {1, 1, 1, 1}, true, "Relu"},  // Winograd in 3 bands of tile rows
  };
  // What the fused kernels do not cover runs Conv then MaxPool (fast kernels): strides,
  // dilations, groups, 1-D.
  cs.push_back({{1, 4, 12, 12}, {8, 4, 3, 3}, {1, 1, 1, 1}, true, "Relu", {2, 2}});
  cs.push_back({{1, 4, 12, 12}, {8, 4, 3, 3}, {2, 2, 2, 2}, true, "", {}, {2, 2}});
  cs.push_back({{1, 8, 10, 10}, {8, 2, 3, 3}, {1, 1, 1, 1}, true, "Relu", {}, {}, 4});
  return cs;
}

void expect_fast_matches_ref_case(const ConvPoolCase& cs, uint64_t seed, bool prepared, int threads) {
  const OpDef* op = find_op("ConvMaxPool");
  ASSERT_NE(op, nullptr);
  const Node n = conv_pool_node(cs);
  const auto in = conv_pool_inputs(cs, seed);
  const std::shared_ptr<const OpState> state = prepared ? prepare_with_constant_weights(*op, n, in) : nullptr;
  std::vector<Tensor> ref(1), fast(1);
  ForwardCtx rctx{n, in, ref};
  op->forward(rctx);
  set_num_threads(threads);
  ForwardCtx fctx{n, in, fast};
  fctx.state = state.get();
  op->forward_fast(fctx);
  set_num_threads(0);
  ASSERT_EQ(ref[0].shape(), fast[0].shape()) << cs.describe();
  // Winograd sums 16 transformed products per tile: a few ulps more than direct convolution.
  expect_close(ref[0], fast[0], 1e-4, 1e-4,
               "ConvMaxPool fast vs ref (" + std::string(prepared ? "prepared" : "unprepared") + ", " +
                   std::to_string(threads) + " threads); case " + cs.describe());
}

TEST(ConvMaxPool, FastMatchesReference) {
  uint64_t seed = 900;
  for (const auto& cs : cases())
    for (bool prepared : {true, false})
      for (int threads : {1, 2}) {
        expect_fast_matches_ref_case(cs, seed += 3, prepared, threads);
        if (HasFatalFailure()) return;
      }
}

// Random shapes: channels 1-40, outputs 1-70, 1x1 to 4x4 kernels, pads 0-2 per side.
TEST(ConvMaxPool, FastMatchesReferenceOnRandomShapes) {
  std::mt19937 rng(4242);
  auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng); };
  for (int k = 0; k < 40; ++k) {
    ConvPoolCase cs;
    const int64_t kh = k % 3 == 0 ? 3 : pick(1, 4), kw = k % 3 == 0 ? 3 : pick(1, 4);
    const std::vector<int64_t> pads{pick(0, 2), pick(0, 2), pick(0, 2), pick(0, 2)};
    const int64_t h = std::max<int64_t>(pick(1, 19), kh + 1 - pads[0] - pads[2]);
    const int64_t w = std::max<int64_t>(pick(1, 19), kw + 1 - pads[1] - pads[3]);
    cs.x = Shape({pick(1, 2), pick(1, 40), h, w});
    cs.w = Shape({pick(1, 70), cs.x[1], kh, kw});
    cs.pads = pads;
    cs.bias = k % 4 != 1;
    cs.act = k % 3 == 0 ? "Relu" : k % 3 == 1 ? "Clip" : "";
    expect_fast_matches_ref_case(cs, 5000 + 7 * k, k % 2 == 0, 1 + k % 2);
    if (HasFatalFailure()) return;
  }
}

TEST(ConvMaxPool, ReferenceEqualsConvThenMaxPool) {
  const ConvPoolCase cs{{2, 3, 9, 11}, {7, 3, 3, 3}, {1, 0, 1, 2}, true, "Relu"};
  const auto in = conv_pool_inputs(cs, 17);
  Node conv = conv_pool_node(cs);
  conv.op_type = "Conv";
  conv.attrs.erase("activation");
  const Tensor y = run_op(conv, in)[0];
  const Tensor r = run_op(make_node("Relu", 1, 1), {y})[0];
  Node pool = make_node("MaxPool", 1, 1);
  pool.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
  pool.set_attr("strides", std::vector<int64_t>{2, 2});
  const Tensor want = run_op(pool, {r})[0];
  const Tensor got = run_op(conv_pool_node(cs), in)[0];
  expect_close(want, got, 0, 0, "ConvMaxPool ref vs Conv -> Relu -> MaxPool");
}

TEST(ConvMaxPool, StateFromOtherWeightsIsIgnored) {
  const OpDef* op = find_op("ConvMaxPool");
  for (const ConvPoolCase& cs : {ConvPoolCase{{1, 16, 10, 10}, {16, 16, 3, 3}, {1, 1, 1, 1}, true, "Relu"},
                                 ConvPoolCase{{1, 2, 10, 10}, {16, 2, 3, 3}, {1, 1, 1, 1}, true, "Relu"}}) {
    const Node n = conv_pool_node(cs);
    auto in = conv_pool_inputs(cs, 31);
    std::vector<Tensor> consts{Tensor(), random_f32(cs.w, 99), in[2]};
    PrepareCtx pctx{n, consts};
    auto state = op->prepare(pctx);
    ASSERT_NE(state, nullptr);
    std::vector<Tensor> ref(1), fast(1);
    ForwardCtx rctx{n, in, ref};
    op->forward(rctx);
    ForwardCtx fctx{n, in, fast};
    fctx.state = state.get();
    op->forward_fast(fctx);
    expect_close(ref[0], fast[0], 1e-4, 1e-4, "ConvMaxPool with a state of other weights; " + cs.describe());
  }
}

TEST(ConvMaxPool, TooSmallInputReportsThePool) {
  const ConvPoolCase cs{{1, 2, 3, 3}, {4, 2, 3, 3}, {}, true, ""};  // conv output 1x1: no 2x2 window
  const Node n = conv_pool_node(cs);
  const auto in = conv_pool_inputs(cs, 3);
  for (bool fast : {false, true}) {
    std::vector<Tensor> out(1);
    ForwardCtx ctx{n, in, out};
    const OpDef* op = find_op("ConvMaxPool");
    EXPECT_THROW((fast ? op->forward_fast : op->forward)(ctx), Error) << (fast ? "fast" : "ref");
  }
}

}  // namespace
}  // namespace edgeopt::kernels::testing

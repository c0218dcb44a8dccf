#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "core/error.h"
#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/quant/requantize.h"
#include "kernels/testing/int8_testing.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::ops::qlinear_conv {
namespace {

using testing::expect_bit_exact;
using testing::q8_scalar;
using testing::random_q8;

struct Case {
  std::vector<int64_t> x_shape;  // [N, C, *spatial]
  int64_t m = 4, group = 1;
  std::vector<int64_t> kernel, strides, pads, dilations;
  DType xt = DType::kU8, wt = DType::kI8, yt = DType::kU8;
  int w_zp_mode = 0;  // 0: zero (GEMM path), 1: per-channel random (reference fallback / depthwise)
  bool per_channel = true, bias = true;
  std::string activation;  // "", "Relu", "Clip"

  std::string describe() const {
    std::ostringstream os;
    os << "x=" << Shape(x_shape).str() << " M=" << m << " group=" << group << " k=" << Shape(kernel).str()
       << " strides=" << Shape(strides).str() << " pads=" << Shape(pads).str() << " dil=" << Shape(dilations).str()
       << " x:" << dtype_name(xt) << " w:" << dtype_name(wt) << " y:" << dtype_name(yt) << " wzp=" << w_zp_mode
       << " per_channel=" << per_channel << " bias=" << bias << " act=" << activation;
    return os.str();
  }
};

struct Built {
  Node node;
  std::vector<Tensor> in;
};

Built build(const Case& cs, std::mt19937& rng) {
  Built b;
  b.node = testing::make_node("QLinearConv", 9, 1);
  if (!cs.bias) b.node.inputs.resize(8);
  b.node.set_attr("group", cs.group);
  if (!cs.strides.empty()) b.node.set_attr("strides", cs.strides);
  if (!cs.pads.empty()) b.node.set_attr("pads", cs.pads);
  if (!cs.dilations.empty()) b.node.set_attr("dilations", cs.dilations);
  if (!cs.activation.empty()) b.node.set_attr("activation", cs.activation);
  if (cs.activation == "Clip") {
    b.node.set_attr("activation_min", 0.f);
    b.node.set_attr("activation_max", 1.5f);
  }
  const int64_t c = cs.x_shape[1];
  std::vector<int64_t> w_shape{cs.m, c / cs.group};
  w_shape.insert(w_shape.end(), cs.kernel.begin(), cs.kernel.end());
  std::uniform_real_distribution<float> sd(0.005f, 0.02f);
  std::uniform_int_distribution<int> zd(-20, 20);
  const int zx = (cs.xt == DType::kU8 ? 128 : 0) + zd(rng);
  b.in.push_back(random_q8(cs.xt, Shape(cs.x_shape), rng));
  b.in.push_back(Tensor::scalar_f32(sd(rng)));
  b.in.push_back(q8_scalar(cs.xt, zx));
  b.in.push_back(random_q8(cs.wt, Shape(w_shape), rng));
  const int64_t nch = cs.per_channel ? cs.m : 1;
  std::vector<float> sw(nch);
  for (auto& s : sw) s = sd(rng) * 0.5f;
  b.in.push_back(cs.per_channel ? Tensor::from_vector(Shape({cs.m}), sw) : Tensor::scalar_f32(sw[0]));
  Tensor wzp(cs.wt, cs.per_channel ? Shape({cs.m}) : Shape({}));
  for (int64_t i = 0; i < wzp.numel(); ++i) {
    const int base = cs.wt == DType::kU8 ? 128 : 0;
    const int v = base + (cs.w_zp_mode == 1 ? zd(rng) : 0);
    if (cs.wt == DType::kU8)
      wzp.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    else
      wzp.data<int8_t>()[i] = static_cast<int8_t>(v);
  }
  b.in.push_back(wzp);
  b.in.push_back(Tensor::scalar_f32(0.05f + sd(rng) * 5.f));
  b.in.push_back(q8_scalar(cs.yt, (cs.yt == DType::kU8 ? 128 : 0) + zd(rng)));
  if (cs.bias) {
    Tensor bias(DType::kI32, Shape({cs.m}));
    std::uniform_int_distribution<int32_t> bd(-3000, 3000);
    for (int64_t i = 0; i < cs.m; ++i) bias.data<int32_t>()[i] = bd(rng);
    b.in.push_back(bias);
  }
  return b;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back({{1, 3, 7, 9}, 5, 1, {3, 3}, {}, {1, 1, 1, 1}, {}});
  v.push_back({{2, 8, 11, 6}, 16, 1, {3, 3}, {2, 2}, {1, 0, 1, 2}, {}, DType::kI8, DType::kI8, DType::kI8});
  v.push_back({{1, 17, 5, 5}, 33, 1, {1, 1}, {}, {}, {}, DType::kU8, DType::kI8, DType::kU8, 0, false});
  v.push_back({{2, 6, 9, 9}, 6, 3, {3, 3}, {1, 2}, {2, 2, 2, 2}, {2, 2}, DType::kU8, DType::kU8});
  v.push_back({{1, 12, 10, 8}, 12, 12, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, DType::kU8, DType::kI8, DType::kU8, 1});
  v.push_back({{2, 8, 9, 7}, 8, 8, {5, 3}, {2, 1}, {2, 1, 0, 1}, {1, 2}, DType::kI8, DType::kI8, DType::kI8, 0});
  v.push_back({{1, 4, 13}, 7, 1, {4}, {3}, {2, 1}, {}, DType::kU8, DType::kI8, DType::kU8});
  v.push_back({{1, 2, 4, 5, 6}, 3, 1, {2, 2, 3}, {1, 2, 1}, {1, 0, 1, 0, 1, 1}, {}, DType::kI8, DType::kU8});
  v.push_back({{1, 5, 6, 6}, 9, 1, {3, 3}, {}, {1, 1, 1, 1}, {}, DType::kU8, DType::kI8, DType::kU8, 1});
  v.push_back({{3, 64, 7, 7}, 40, 2, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}});
  // Stride 2 on the NHWC4 phase planes (>= 8 channels, dilation 1): ResNet-18's 3x3/2 with 16-32
  // channels (odd and even sizes, a wide row over several 32-column panels, s8 input), 5x5/2 with
  // asymmetric pads and 9 channels (a padded channel quad), a 1x1/2 downsample (im2col), batch 2.
  v.push_back({{1, 16, 14, 14}, 24, 1, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}});
  v.push_back({{2, 32, 15, 45}, 16, 1, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, DType::kI8, DType::kI8, DType::kU8});
  v.push_back({{1, 9, 13, 21}, 8, 1, {5, 5}, {2, 2}, {2, 1, 1, 2}, {}, DType::kU8, DType::kI8, DType::kI8});
  v.push_back({{2, 16, 10, 9}, 32, 1, {1, 1}, {2, 2}, {}, {}, DType::kU8, DType::kI8, DType::kU8});
  // 1x1 stride 2 on rows wide enough for the 16-output steps of im2col_row_u8, s8 (xor) and u8.
  v.push_back({{1, 8, 6, 70}, 16, 1, {1, 1}, {2, 2}, {}, {}, DType::kI8, DType::kI8, DType::kI8});
  v.push_back({{1, 4, 5, 67}, 8, 1, {1, 1}, {2, 2}, {}, {}, DType::kU8, DType::kI8, DType::kU8});
  // Pointwise convs whose last 32-pixel panel is short (<= 24 pixels) finish it as pixel rows read
  // from the packed panel: 196 = 6 x 32 + 4 (14x14), 48 = 32 + 16 with batch 2 and s8 output.
  v.push_back({{1, 24, 14, 14}, 64, 1, {1, 1}, {}, {}, {}});
  v.push_back({{2, 40, 6, 8}, 32, 1, {1, 1}, {}, {}, {}, DType::kU8, DType::kI8, DType::kI8});
  // 1x1 stride 2 on the NHWC4 phase (0, 0) plane (>= 8 channels): odd sizes, padding rows/columns
  // that read only the zero point, a padded channel quad, batch 2 and s8 input.
  v.push_back({{2, 12, 9, 11}, 20, 1, {1, 1}, {2, 2}, {1, 0, 1, 1}, {}, DType::kI8, DType::kI8, DType::kU8});
  v.push_back({{1, 64, 14, 14}, 40, 1, {1, 1}, {2, 2}, {}, {}});
  // Depthwise rows wider than one 32-column step, stride-2 phases with odd and even padding.
  v.push_back({{1, 4, 9, 70}, 4, 4, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, DType::kU8, DType::kI8, DType::kU8});
  v.push_back({{2, 3, 5, 67}, 3, 3, {3, 3}, {1, 2}, {0, 2, 1, 2}, {}, DType::kI8, DType::kI8, DType::kI8});
  v.push_back({{1, 2, 6, 45}, 2, 2, {2, 4}, {1, 1}, {1, 1, 0, 2}, {}, DType::kU8, DType::kU8, DType::kU8, 1});
  // The row-quad depthwise kernel (AVX512-VNNI: s8 weights with zero point 0 / u8 with 128, kernel
  // width <= 4): MobileNetV2-like 3x3 s1/s2 planes (7x7 and 14x14 under one 64-output step, 112-wide
  // rows over several), odd sizes, asymmetric pads, dilation, stride 3, a 4-wide and a 1-tall kernel,
  // batch 2, s8 input, 1-D, and u8 weights; the 5-wide kernel above takes the s16 kernel.
  v.push_back({{1, 16, 14, 14}, 16, 16, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}});
  v.push_back({{2, 8, 13, 11}, 8, 8, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, DType::kI8, DType::kI8, DType::kI8});
  v.push_back({{1, 5, 7, 7}, 5, 5, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, DType::kU8, DType::kU8, DType::kU8});
  v.push_back({{1, 3, 9, 112}, 3, 3, {3, 3}, {2, 2}, {0, 1, 1, 0}, {}});
  v.push_back({{1, 6, 16, 21}, 6, 6, {3, 3}, {2, 1}, {2, 0, 1, 2}, {2, 2}, DType::kI8, DType::kU8, DType::kU8});
  v.push_back({{1, 4, 12, 17}, 4, 4, {3, 3}, {3, 3}, {1, 1, 1, 1}, {}, DType::kU8, DType::kI8, DType::kI8});
  v.push_back({{2, 3, 10, 9}, 3, 3, {2, 4}, {1, 2}, {1, 2, 0, 1}, {}, DType::kI8, DType::kI8, DType::kU8});
  v.push_back({{1, 7, 6, 33}, 7, 7, {1, 3}, {1, 1}, {0, 1, 0, 1}, {}, DType::kU8, DType::kI8, DType::kU8, 0, true,
               false});
  v.push_back({{1, 4, 19}, 4, 4, {3}, {1}, {1, 1}, {}, DType::kU8, DType::kI8, DType::kU8});
  v.push_back({{1, 2, 4, 3}, 2, 2, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, DType::kU8, DType::kI8, DType::kU8});
  // Planes of <= 256 outputs take 16 channels per step (dwconv_q8_rowquad_blocks): several blocks
  // and a partial one, 14x14 s2 -> 7x7 with batch 2, 16 outputs exactly, s8 in and out, u8 weights.
  v.push_back({{1, 40, 7, 7}, 40, 40, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}});
  v.push_back({{2, 24, 14, 14}, 24, 24, {3, 3}, {2, 2}, {0, 0, 1, 1}, {}, DType::kI8, DType::kI8, DType::kI8});
  v.push_back({{1, 33, 4, 4}, 33, 33, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, DType::kU8, DType::kU8, DType::kI8});
  // Group-1 strided convs with few channels take the row-quad planes when prepared (im2col when
  // not): the MobileNetV2 and ResNet-18 first layers (3x3 and 7x7 s2, two quads per kernel row),
  // a ResNet layer2.0-like 3x3 s2 with 16 channels, mixed strides with dilation, stride 3 with a
  // 6-wide kernel, and a 7-wide dilated kernel past the AVX-512 builder's reach (portable builder).
  v.push_back({{1, 3, 23, 25}, 8, 1, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}});
  v.push_back({{2, 3, 30, 29}, 10, 1, {7, 7}, {2, 2}, {3, 3, 3, 3}, {}, DType::kI8, DType::kI8, DType::kU8});
  v.push_back({{1, 16, 11, 13}, 12, 1, {3, 3}, {2, 2}, {1, 0, 0, 1}, {}, DType::kU8, DType::kU8, DType::kI8});
  v.push_back({{1, 2, 9, 17}, 5, 1, {3, 4}, {1, 2}, {1, 1, 1, 1}, {2, 1}});
  v.push_back({{1, 2, 16, 19}, 6, 1, {3, 6}, {3, 3}, {2, 2, 2, 2}, {}, DType::kI8, DType::kI8, DType::kI8});
  v.push_back({{1, 1, 12, 40}, 3, 1, {2, 7}, {2, 2}, {0, 3, 1, 3}, {1, 2}});
  // "Same" stride-1 convs take the shifted-plane im2col: dilation, even kernel, s8 x (xor path).
  v.push_back({{2, 5, 8, 11}, 7, 1, {3, 3}, {1, 1}, {2, 2, 2, 2}, {2, 2}, DType::kI8, DType::kI8, DType::kU8});
  v.push_back({{1, 3, 6, 5}, 4, 1, {2, 4}, {}, {1, 1, 0, 2}, {}, DType::kU8, DType::kI8, DType::kI8});
  v.push_back({{1, 2, 7, 3}, 3, 1, {5, 5}, {}, {2, 2, 2, 2}, {}, DType::kI8, DType::kU8, DType::kU8});
  // Stride-1, group-1 convs with >= 9 channels take the NHWC4 path (channel quads, virtual grid
  // as wide as the padded input): the pruned vision_cnn block1 (22 -> 44 on 14x14), channels not
  // a multiple of 4, rows wider than one 16-pixel step, asymmetric/zero/large pads, dilation, a
  // kernel one column wide (the virtual grid is the output), reads ending at the tensor's end.
  v.push_back({{1, 22, 14, 14}, 44, 1, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}});
  v.push_back({{2, 9, 5, 37}, 6, 1, {3, 3}, {}, {0, 2, 1, 1}, {}, DType::kI8, DType::kI8, DType::kU8});
  v.push_back({{1, 16, 9, 17}, 11, 1, {3, 2}, {}, {}, {2, 1}, DType::kU8, DType::kU8, DType::kI8});
  v.push_back({{1, 12, 6, 20}, 9, 1, {3, 1}, {}, {1, 0, 1, 0}, {}, DType::kU8, DType::kI8, DType::kU8});
  v.push_back({{2, 32, 7, 7}, 64, 1, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, DType::kI8, DType::kI8, DType::kI8});
  // Small planes with output channels a multiple of 32 take the pixel-rows form on AVX512-VNNI
  // (gemm_int8_pixel_rows): 7x7 and 14x14 from stride 1 (7x7 above) and stride 2, u8 and s8.
  v.push_back({{1, 12, 14, 14}, 64, 1, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, DType::kU8, DType::kI8, DType::kU8});
  v.push_back({{1, 16, 14, 14}, 32, 1, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, DType::kI8, DType::kI8, DType::kI8});
  v.push_back({{2, 9, 13, 14}, 96, 1, {3, 3}, {2, 2}, {1, 1, 1, 1}, {}, DType::kU8, DType::kU8, DType::kU8});
  // Pointwise convs on small planes take the pixel-rows form over NHWC4 planes: channels a multiple
  // of 4 (the GEMM weights serve as NHWC4 weights) and not (padded channel quads).
  v.push_back({{1, 40, 7, 7}, 64, 1, {1, 1}, {}, {}, {}, DType::kU8, DType::kI8, DType::kU8});
  v.push_back({{2, 18, 14, 14}, 32, 1, {1, 1}, {}, {}, {}, DType::kI8, DType::kI8, DType::kI8});
  v.push_back({{1, 11, 8, 16}, 5, 1, {5, 5}, {}, {2, 2, 2, 2}, {}, DType::kU8, DType::kU8, DType::kU8, 0, true,
               false});
  v.push_back({{1, 10, 3, 3}, 7, 1, {3, 3}, {}, {3, 3, 3, 3}, {}, DType::kI8, DType::kU8, DType::kU8});
  // Planes large enough that the fused max pool runs in several chunks of row pairs (threads),
  // through the NHWC4 path and through im2col (the C=1/3 first layers), with an odd output size.
  v.push_back({{1, 12, 40, 40}, 16, 1, {3, 3}, {}, {1, 1, 1, 1}, {}});
  v.push_back({{1, 1, 36, 36}, 22, 1, {3, 3}, {}, {1, 1, 1, 1}, {}, DType::kI8, DType::kI8, DType::kU8});
  v.push_back({{1, 3, 35, 33}, 8, 1, {3, 3}, {}, {1, 1, 1, 1}, {}});
  // The row-tap path (1 channel, kernel rows padded to 4 taps): the vision_cnn first layer on s8
  // and u8 input, dilation, asymmetric pads, a 2x4 kernel, two images.
  v.push_back({{2, 1, 28, 28}, 22, 1, {3, 3}, {1, 1}, {1, 1, 1, 1}, {}, DType::kI8, DType::kI8, DType::kU8});
  v.push_back({{1, 1, 13, 17}, 5, 1, {3, 3}, {}, {0, 2, 1, 1}, {2, 2}, DType::kU8, DType::kU8, DType::kI8});
  v.push_back({{1, 1, 9, 14}, 9, 1, {2, 4}, {}, {0, 1, 1, 2}, {1, 2}, DType::kU8, DType::kI8, DType::kU8, 0, true,
               false});
  return v;
}

const char* const kActs[] = {"", "Relu", "Clip"};

TEST(QLinearConv, FastEqualsReferenceBitExactlyOnEveryIsa) {
  const OpDef* op = find_op("QLinearConv");
  ASSERT_NE(op, nullptr);
  std::mt19937 rng(5);
  int i = 0;
  for (Case cs : cases())
    for (bool pool : {false, true}) {  // pool: the fused 2x2/2 max pool (fuse_qconv_maxpool), 2-D only
      if (pool && cs.kernel.size() != 2) continue;
      cs.activation = kActs[i++ % 3];
      cs.per_channel = i % 4 != 0;
      Built b = build(cs, rng);
      if (pool) b.node.set_attr("maxpool", int64_t{2});
      std::vector<Tensor> ref(1);
      ForwardCtx rctx{b.node, b.in, ref};
      op->forward(rctx);
      auto state = op->prepare(PrepareCtx{b.node, b.in});
      // A state prepared from other tensors (other weights, scales, zero point) must be ignored.
      Built other = build(cs, rng);
      if (pool) other.node.set_attr("maxpool", int64_t{2});
      auto stale = op->prepare(PrepareCtx{other.node, other.in});
      for (gemm_int8::Isa isa : gemm_int8::supported_isas()) {
        gemm_int8::ScopedForcedIsa forced(isa);
        for (const OpState* st : {static_cast<const OpState*>(nullptr), state.get(), stale.get()}) {
          std::vector<Tensor> fast(1);
          ForwardCtx fctx{b.node, b.in, fast};
          fctx.state = st;
          op->forward_fast(fctx);
          expect_bit_exact(ref[0], fast[0],
                           cs.describe() + " isa=" + gemm_int8::isa_name(isa) +
                               (st == stale.get() ? " stale state" : st ? " prepared" : " unprepared"));
          if (::testing::Test::HasFatalFailure()) return;
        }
      }
    }
}

// With maxpool = 2 the reference equals QLinearConv followed by the MaxPool op (2x2, stride 2) on the
// codes, the two nodes fuse_qconv_maxpool replaced; odd output sizes drop the last row/column.
TEST(QLinearConv, FusedMaxPoolEqualsConvThenMaxPool) {
  const OpDef* op = find_op("QLinearConv");
  std::mt19937 rng(17);
  for (const Case& cs : cases()) {
    if (cs.kernel.size() != 2) continue;
    Built b = build(cs, rng);
    const std::vector<Tensor> conv = testing::run_op(b.node, b.in);
    Node mp = testing::make_node("MaxPool", 1, 1);
    mp.set_attr("kernel_shape", std::vector<int64_t>{2, 2});
    mp.set_attr("strides", std::vector<int64_t>{2, 2});
    const std::vector<Tensor> want = testing::run_op(mp, {conv[0]});
    b.node.set_attr("maxpool", int64_t{2});
    std::vector<Tensor> got(1);
    ForwardCtx ctx{b.node, b.in, got};
    op->forward(ctx);
    expect_bit_exact(want[0], got[0], cs.describe() + " maxpool=2");
    if (::testing::Test::HasFatalFailure()) return;
  }
  Built b = build(Case{{1, 2, 5}, 3, 1, {3}}, rng);
  b.node.set_attr("maxpool", int64_t{2});
  std::vector<Tensor> out(1);
  ForwardCtx ctx{b.node, b.in, out};
  EXPECT_THROW(op->forward(ctx), Error);  // 1-D: no fused pool
}

// The reference against the QDQ semantics it replaces: DequantizeLinear -> f32 Conv (+ activation)
// -> QuantizeLinear, within one quantization step (the fixed-point multiplier rounds twice).
TEST(QLinearConv, ReferenceIsWithinOneStepOfDequantizeConvQuantize) {
  std::mt19937 rng(11);
  int i = 0;
  for (Case cs : cases()) {
    cs.activation = kActs[i++ % 3];
    const Built b = build(cs, rng);
    const std::vector<Tensor> got = testing::run_op(b.node, b.in);
    // Dequantize x, w (per channel) and the bias, run the f32 Conv reference.
    const float sx = b.in[1].data<float>()[0], sy = b.in[6].data<float>()[0];
    const int32_t zx = static_cast<int32_t>(b.in[2].to_i64_vector()[0]);
    const int32_t zy = static_cast<int32_t>(b.in[7].to_i64_vector()[0]);
    const std::vector<float> sw = b.in[4].to_f32_vector();
    const std::vector<int64_t> zw = b.in[5].to_i64_vector();
    Tensor xf(DType::kF32, b.in[0].shape()), wf(DType::kF32, b.in[3].shape());
    const std::vector<int64_t> xq = b.in[0].to_i64_vector(), wq = b.in[3].to_i64_vector();
    for (int64_t j = 0; j < xf.numel(); ++j) xf.data<float>()[j] = quant::dequantize_f32(xq[j], sx, zx);
    const int64_t per_m = wf.numel() / cs.m;
    for (int64_t j = 0; j < wf.numel(); ++j) {
      const size_t ch = sw.size() == 1 ? 0 : static_cast<size_t>(j / per_m);
      wf.data<float>()[j] = quant::dequantize_f32(wq[j], sw[ch], static_cast<int32_t>(zw[zw.size() == 1 ? 0 : ch]));
    }
    Node conv = b.node;
    conv.op_type = "Conv";
    conv.inputs = {"x", "w"};
    std::vector<Tensor> fin{xf, wf};
    if (cs.bias) {
      Tensor bf(DType::kF32, Shape({cs.m}));
      for (int64_t j = 0; j < cs.m; ++j)
        bf.data<float>()[j] = b.in[8].data<int32_t>()[j] * (sx * sw[sw.size() == 1 ? 0 : j]);
      conv.inputs.push_back("b");
      fin.push_back(bf);
    }
    const std::vector<Tensor> yf = testing::run_op(conv, fin);
    const std::vector<int64_t> yq = got[0].to_i64_vector();
    const int32_t qlo = cs.yt == DType::kU8 ? 0 : -128, qhi = cs.yt == DType::kU8 ? 255 : 127;
    for (int64_t j = 0; j < yf[0].numel(); ++j) {
      const int32_t want = quant::quantize_f32(yf[0].data<float>()[j], sy, zy, qlo, qhi);
      ASSERT_LE(std::abs(want - yq[j]), 1)
          << "element " << j << ": QDQ " << want << ", QLinearConv " << yq[j] << "; " << cs.describe();
    }
  }
}

TEST(QLinearConv, BadInputsNameTheTensor) {
  std::mt19937 rng(3);
  const Case cs{{1, 2, 4, 4}, 3, 1, {3, 3}};
  auto expect_error = [&](std::vector<Tensor> in, const std::string& needle) {
    const Built b = build(cs, rng);
    try {
      testing::run_op(b.node, in);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  Built b = build(cs, rng);
  auto in = b.in;
  in[2] = q8_scalar(DType::kI8, 0);  // x is u8
  expect_error(in, "x_zero_point");
  in = b.in;
  in[4] = Tensor::from_vector(Shape({3}), std::vector<float>{0.1f, 0.f, 0.1f});
  expect_error(in, "w_scale[1]");
  in = b.in;
  in[1] = Tensor::from_vector(Shape({2}), std::vector<float>{0.1f, 0.1f});
  expect_error(in, "x_scale");
  in = b.in;
  in[8] = Tensor::from_vector(Shape({3}), std::vector<float>{1.f, 2.f, 3.f});
  expect_error(in, "input B");
  in = b.in;
  in[0] = testing::random_f32({1, 2, 4, 4}, 1);
  expect_error(in, "input x ");
  in = b.in;
  in[5] = Tensor::from_vector(Shape({2}), std::vector<int8_t>{0, 0});
  expect_error(in, "w_zero_point");
}

TEST(ConvInteger, FastEqualsReferenceBitExactlyOnEveryIsa) {
  const OpDef* op = find_op("ConvInteger");
  ASSERT_NE(op, nullptr);
  std::mt19937 rng(9);
  for (const Case& cs : cases()) {
    const Built q = build(cs, rng);
    Node node = testing::make_node("ConvInteger", 4, 1);
    node.attrs = q.node.attrs;
    node.attrs.erase("activation");
    const std::vector<Tensor> in{q.in[0], q.in[3], q.in[2], q.in[5]};
    std::vector<Tensor> ref(1);
    ForwardCtx rctx{node, in, ref};
    op->forward(rctx);
    ASSERT_EQ(ref[0].dtype(), DType::kI32);
    auto state = op->prepare(PrepareCtx{node, in});
    for (gemm_int8::Isa isa : gemm_int8::supported_isas()) {
      gemm_int8::ScopedForcedIsa forced(isa);
      std::vector<Tensor> fast(1);
      ForwardCtx fctx{node, in, fast};
      fctx.state = state.get();
      op->forward_fast(fctx);
      expect_bit_exact(ref[0], fast[0], cs.describe() + " isa=" + gemm_int8::isa_name(isa));
      if (::testing::Test::HasFatalFailure()) return;
    }
  }
}

}  // namespace
}  // namespace edgeopt::kernels::ops::qlinear_conv

#include <gtest/gtest.h>

#include <random>
#include <sstream>

#include "core/error.h"
#include "kernels/microkernels/gemm_int8/gemm_int8.h"
#include "kernels/quant/requantize.h"
#include "kernels/testing/int8_testing.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::ops::qlinear_matmul {
namespace {

using testing::expect_bit_exact;
using testing::q8_scalar;
using testing::random_q8;

struct Case {
  std::vector<int64_t> a_shape, b_shape;
  DType at = DType::kU8, bt = DType::kI8, yt = DType::kU8;
  bool random_b_zp = false, per_column = true, bias = true;
  std::string activation;
  std::string describe() const {
    std::ostringstream os;
    os << "a=" << Shape(a_shape).str() << " b=" << Shape(b_shape).str() << " a:" << dtype_name(at)
       << " b:" << dtype_name(bt) << " y:" << dtype_name(yt) << " random_b_zp=" << random_b_zp
       << " per_column=" << per_column << " bias=" << bias << " act=" << activation;
    return os.str();
  }
};

struct Built {
  Node node;
  std::vector<Tensor> in;
};

Built build(const Case& cs, std::mt19937& rng) {
  Built b;
  b.node = testing::make_node("QLinearMatMul", cs.bias ? 9 : 8, 1);
  if (!cs.activation.empty()) b.node.set_attr("activation", cs.activation);
  if (cs.activation == "Clip") {
    b.node.set_attr("activation_min", -0.5f);
    b.node.set_attr("activation_max", 2.f);
  }
  const int64_t n = cs.b_shape.back();
  std::uniform_real_distribution<float> sd(0.005f, 0.02f);
  std::uniform_int_distribution<int> zd(-20, 20);
  b.in.push_back(random_q8(cs.at, Shape(cs.a_shape), rng));
  b.in.push_back(Tensor::scalar_f32(sd(rng)));
  b.in.push_back(q8_scalar(cs.at, (cs.at == DType::kU8 ? 128 : 0) + zd(rng)));
  b.in.push_back(random_q8(cs.bt, Shape(cs.b_shape), rng));
  std::vector<float> sb(cs.per_column ? n : 1);
  for (auto& s : sb) s = sd(rng);
  b.in.push_back(cs.per_column ? Tensor::from_vector(Shape({n}), sb) : Tensor::scalar_f32(sb[0]));
  Tensor zb(cs.bt, cs.per_column ? Shape({n}) : Shape({}));
  for (int64_t i = 0; i < zb.numel(); ++i) {
    const int v = (cs.bt == DType::kU8 ? 128 : 0) + (cs.random_b_zp ? zd(rng) : 0);
    if (cs.bt == DType::kU8)
      zb.data<uint8_t>()[i] = static_cast<uint8_t>(v);
    else
      zb.data<int8_t>()[i] = static_cast<int8_t>(v);
  }
  b.in.push_back(zb);
  b.in.push_back(Tensor::scalar_f32(0.1f + sd(rng) * 10.f));
  b.in.push_back(q8_scalar(cs.yt, (cs.yt == DType::kU8 ? 128 : 0) + zd(rng)));
  if (cs.bias) {
    Tensor bias(DType::kI32, Shape({n}));
    std::uniform_int_distribution<int32_t> bd(-5000, 5000);
    for (int64_t i = 0; i < n; ++i) bias.data<int32_t>()[i] = bd(rng);
    b.in.push_back(bias);
  }
  return b;
}

std::vector<Case> cases() {
  return {
      {{1, 7}, {7, 5}},
      {{3, 33}, {33, 65}, DType::kI8, DType::kI8, DType::kI8},
      {{2, 5, 64}, {64, 40}, DType::kU8, DType::kU8, DType::kU8, false, false, false},
      {{17, 130}, {130, 3}, DType::kI8, DType::kI8, DType::kU8, true},
      {{2, 4, 9}, {2, 9, 6}, DType::kU8, DType::kI8, DType::kI8},
      {{9, 1000}, {1000, 10}},
      // Batch-1 GEMVs (the vision_cnn heads: 2156 x 88, 3136 x 128) and odd K / N.
      {{1, 2156}, {2156, 88}, DType::kU8, DType::kI8, DType::kU8},
      {{1, 3137}, {3137, 129}, DType::kI8, DType::kI8, DType::kI8},
      {{1, 1, 6}, {6, 33}, DType::kU8, DType::kU8, DType::kU8},
  };
}

const char* const kActs[] = {"", "Relu", "Clip"};

TEST(QLinearMatMul, FastEqualsReferenceBitExactlyOnEveryIsa) {
  const OpDef* op = find_op("QLinearMatMul");
  ASSERT_NE(op, nullptr);
  std::mt19937 rng(21);
  int i = 0;
  for (Case cs : cases()) {
    cs.activation = kActs[i++ % 3];
    const Built b = build(cs, rng);
    std::vector<Tensor> ref(1);
    ForwardCtx rctx{b.node, b.in, ref};
    op->forward(rctx);
    auto state = op->prepare(PrepareCtx{b.node, b.in});
    // A state prepared from other tensors (other B, scales, zero point) must be ignored.
    const Built other = build(cs, rng);
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

TEST(QLinearMatMul, ReferenceIsWithinOneStepOfDequantizeMatMulQuantize) {
  std::mt19937 rng(4);
  int i = 0;
  for (Case cs : cases()) {
    cs.activation = kActs[i++ % 3];
    const Built b = build(cs, rng);
    const std::vector<int64_t> y = testing::run_op(b.node, b.in)[0].to_i64_vector();
    const float sa = b.in[1].data<float>()[0], sy = b.in[6].data<float>()[0];
    const auto za = static_cast<int32_t>(b.in[2].to_i64_vector()[0]);
    const auto zy = static_cast<int32_t>(b.in[7].to_i64_vector()[0]);
    const std::vector<float> sb = b.in[4].to_f32_vector();
    const std::vector<int64_t> zb = b.in[5].to_i64_vector(), aq = b.in[0].to_i64_vector(), bq = b.in[3].to_i64_vector();
    const int64_t k = cs.a_shape.back(), n = cs.b_shape.back(), m = cs.a_shape[cs.a_shape.size() - 2];
    const int64_t batch = static_cast<int64_t>(aq.size()) / (m * k);
    const bool bb = cs.b_shape.size() > 2;
    const float lo = cs.activation.empty() ? -INFINITY : (cs.activation == "Relu" ? 0.f : -0.5f);
    const float hi = cs.activation == "Clip" ? 2.f : INFINITY;
    const int32_t qlo = cs.yt == DType::kU8 ? 0 : -128, qhi = cs.yt == DType::kU8 ? 255 : 127;
    for (int64_t t = 0; t < batch; ++t)
      for (int64_t r = 0; r < m; ++r)
        for (int64_t j = 0; j < n; ++j) {
          const float sbj = sb[sb.size() == 1 ? 0 : j];
          const auto zbj = static_cast<int32_t>(zb[zb.size() == 1 ? 0 : j]);
          float acc = cs.bias ? b.in[8].data<int32_t>()[j] * (sa * sbj) : 0.f;
          for (int64_t kk = 0; kk < k; ++kk)
            acc += quant::dequantize_f32(aq[(t * m + r) * k + kk], sa, za) *
                   quant::dequantize_f32(bq[(bb ? t * k * n : 0) + kk * n + j], sbj, zbj);
          acc = std::min(std::max(acc, lo), hi);
          const int32_t want = quant::quantize_f32(acc, sy, zy, qlo, qhi);
          const int64_t got = y[(t * m + r) * n + j];
          ASSERT_LE(std::abs(want - got), 1)
              << "[" << t << "," << r << "," << j << "] QDQ " << want << " got " << got << "; " << cs.describe();
        }
  }
}

TEST(QLinearMatMul, BadInputsNameTheTensor) {
  std::mt19937 rng(1);
  const Built b = build(Case{{2, 3}, {3, 4}}, rng);
  auto expect_error = [&](std::vector<Tensor> in, const std::string& needle) {
    try {
      testing::run_op(b.node, in);
      ADD_FAILURE() << "no error for " << needle;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  auto in = b.in;
  in[5] = q8_scalar(DType::kU8, 0);
  expect_error(in, "b_zero_point");
  in = b.in;
  in[6] = Tensor::scalar_f32(-1.f);
  expect_error(in, "y_scale");
  in = b.in;
  in[3] = random_q8(DType::kI8, {5, 4}, rng);
  expect_error(in, "K = 3");
  in = b.in;
  in[4] = Tensor::from_vector(Shape({3}), std::vector<float>{0.1f, 0.1f, 0.1f});
  expect_error(in, "b_scale");
}

TEST(MatMulInteger, FastEqualsReferenceBitExactlyOnEveryIsa) {
  const OpDef* op = find_op("MatMulInteger");
  ASSERT_NE(op, nullptr);
  std::mt19937 rng(8);
  for (const Case& cs : cases()) {
    const Built q = build(cs, rng);
    const Node node = testing::make_node("MatMulInteger", 4, 1);
    const std::vector<Tensor> in{q.in[0], q.in[3], q.in[2], q.in[5]};
    std::vector<Tensor> ref(1);
    ForwardCtx rctx{node, in, ref};
    op->forward(rctx);
    // Spot-check the reference itself against the definition.
    const std::vector<int64_t> a = in[0].to_i64_vector(), bq = in[1].to_i64_vector(), zb = in[3].to_i64_vector();
    const int64_t k = cs.a_shape.back(), n = cs.b_shape.back();
    int64_t want = 0;
    for (int64_t kk = 0; kk < k; ++kk) want += (a[kk] - in[2].to_i64_vector()[0]) * (bq[kk * n] - zb[0]);
    ASSERT_EQ(ref[0].to_i64_vector()[0], want) << cs.describe();
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
}  // namespace edgeopt::kernels::ops::qlinear_matmul

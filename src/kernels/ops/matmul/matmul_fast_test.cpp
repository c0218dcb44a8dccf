#include <gtest/gtest.h>

#include <cmath>

#include "kernels/ops/matmul/matmul_fast.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

void expect_match(const Tensor& ref, const Tensor& fast, const std::string& what, const std::string& cs) {
  ASSERT_TRUE(fast.defined()) << what << "; case " << cs;
  ASSERT_EQ(ref.shape(), fast.shape()) << what << "; case " << cs;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double r = ref.data<float>()[i], f = fast.data<float>()[i], tol = 1e-4 + 1e-5 * std::fabs(r);
    ASSERT_LE(std::fabs(r - f), tol) << what << " vs ref at flat index " << i << ": ref=" << r << " fast=" << f
                                     << " |diff|=" << std::fabs(r - f) << " > tol=" << tol << "; case " << cs;
  }
}

TEST(MatMulFast, ForwardAndBackwardMatchReference) {
  const OpDef* op = find_op("MatMul");
  ASSERT_NE(op, nullptr);
  const std::pair<Shape, Shape> cases[] = {
      {{7}, {7}},                     // 1-D x 1-D
      {{5}, {5, 3}},                  // 1-D A
      {{4, 5}, {5}},                  // 1-D B
      {{17, 33}, {33, 16}},
      {{3, 7, 9}, {9, 13}},           // batch folds into M
      {{2, 3, 5, 4}, {4, 31}},
      {{2, 1, 6, 5}, {3, 5, 8}},      // broadcast batches
      {{6, 5}, {4, 5, 7}},            // A broadcast over B's batch
      {{2, 8, 16}, {2, 16, 1}},
      {{64, 1568}, {1568, 128}},      // an FC layer
      {{3, 0, 4}, {4, 5}},            // empty
  };
  uint64_t seed = 40;
  for (const auto& [as, bs] : cases) {
    const std::string cs = "A=" + as.str() + " B=" + bs.str();
    Node node = make_node("MatMul", 2, 1);
    std::vector<Tensor> in{random_f32(as, seed++), random_f32(bs, seed++)};
    std::vector<Tensor> ref(1), fast(1);
    ForwardCtx rctx{node, in, ref};
    op->forward(rctx);
    ForwardCtx fctx{node, in, fast};
    ops::matmul::matmul_f32_fast(fctx);
    expect_match(ref[0], fast[0], "matmul_f32_fast", cs);
    if (HasFatalFailure()) return;
    std::vector<Tensor> gout{random_f32(ref[0].shape(), seed++)};
    std::vector<Tensor> gref(2), gfast(2);
    BackwardCtx rb{node, in, ref, {}, gout, gref};
    BackwardCtx fb{node, in, ref, {}, gout, gfast};
    (op->backward_ref ? op->backward_ref : op->backward)(rb);
    ops::matmul::matmul_f32_grad_fast(fb);
    expect_match(gref[0], gfast[0], "matmul_f32_grad_fast dA", cs);
    expect_match(gref[1], gfast[1], "matmul_f32_grad_fast dB", cs);
    if (HasFatalFailure()) return;
  }
}

TEST(MatMulFast, RejectsBadShapes) {
  Node node = make_node("MatMul", 2, 1);
  std::vector<Tensor> in{random_f32({2, 3}, 1), random_f32({4, 5}, 2)};
  std::vector<Tensor> out(1);
  ForwardCtx ctx{node, in, out};
  EXPECT_THROW(ops::matmul::matmul_f32_fast(ctx), Error);
  std::vector<Tensor> in2{random_f32({2, 2, 3}, 1), random_f32({3, 3, 5}, 2)};
  ForwardCtx ctx2{node, in2, out};
  EXPECT_THROW(ops::matmul::matmul_f32_fast(ctx2), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

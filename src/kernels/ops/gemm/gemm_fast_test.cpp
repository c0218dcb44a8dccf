#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "kernels/ops/gemm/gemm_fast.h"
#include "kernels/testing/op_tester.h"

namespace edgeopt::kernels::testing {
namespace {

struct GemmCase {
  int64_t m, n, k;
  bool ta, tb;
  float alpha, beta;
  std::vector<int64_t> c_shape;  // {-1}: no C
  std::string describe() const {
    std::ostringstream os;
    os << "M=" << m << " N=" << n << " K=" << k << " transA=" << ta << " transB=" << tb << " alpha=" << alpha
       << " beta=" << beta << " C=";
    if (!c_shape.empty() && c_shape[0] < 0) {
      os << "none";
    } else {
      os << Shape(c_shape).str();
    }
    return os.str();
  }
};

void expect_match(const Tensor& ref, const Tensor& fast, const std::string& what, const std::string& cs, double atol) {
  ASSERT_TRUE(fast.defined()) << what << "; case " << cs;
  ASSERT_EQ(ref.shape(), fast.shape()) << what << "; case " << cs;
  for (int64_t i = 0; i < ref.numel(); ++i) {
    const double r = ref.data<float>()[i], f = fast.data<float>()[i], tol = atol + 1e-5 * std::fabs(r);
    ASSERT_LE(std::fabs(r - f), tol) << what << " vs ref at flat index " << i << ": ref=" << r << " fast=" << f
                                     << " |diff|=" << std::fabs(r - f) << " > tol=" << tol << "; case " << cs;
  }
}

TEST(GemmFast, ForwardAndBackwardMatchReference) {
  const OpDef* op = find_op("Gemm");
  ASSERT_NE(op, nullptr);
  std::vector<GemmCase> cases;
  const int64_t dims[] = {1, 3, 7, 16, 17, 33, 64};
  int i = 0;
  for (int64_t m : dims)
    for (int64_t n : {1, 5, 16, 31, 100}) {
      const int64_t k = dims[(m + n + i) % 7];
      std::vector<std::vector<int64_t>> cs_options = {{-1}, {}, {n}, {1, n}, {m, 1}, {m, n}, {1, 1}, {1}};
      cases.push_back({m, n, k, bool(i & 1), bool(i & 2), i % 3 == 0 ? 1.f : 0.75f, i % 4 == 0 ? 1.f : -0.5f,
                       cs_options[i % cs_options.size()]});
      ++i;
    }
  cases.push_back({64, 128, 1568, false, true, 1.f, 1.f, {128}});  // an FC layer, training batch
  cases.push_back({1, 10, 128, false, true, 1.f, 1.f, {10}});
  cases.push_back({4, 6, 0, false, false, 1.f, 1.f, {6}});  // K = 0
  uint64_t seed = 1;
  for (const auto& cs : cases) {
    const bool with_c = cs.c_shape.empty() || cs.c_shape[0] >= 0;
    Node node = make_node("Gemm", with_c ? 3 : 2, 1);
    node.set_attr("transA", int64_t(cs.ta));
    node.set_attr("transB", int64_t(cs.tb));
    node.set_attr("alpha", cs.alpha);
    node.set_attr("beta", cs.beta);
    std::vector<Tensor> in{random_f32(cs.ta ? Shape{cs.k, cs.m} : Shape{cs.m, cs.k}, seed++),
                           random_f32(cs.tb ? Shape{cs.n, cs.k} : Shape{cs.k, cs.n}, seed++)};
    if (with_c) in.push_back(random_f32(Shape(cs.c_shape), seed++));
    std::vector<Tensor> ref(1), fast(1);
    ForwardCtx rctx{node, in, ref};
    op->forward(rctx);
    ForwardCtx fctx{node, in, fast};
    ops::gemm::gemm_f32_fast(fctx);
    const double atol = 1e-5 * std::sqrt(double(cs.k) + 1);
    expect_match(ref[0], fast[0], "gemm_f32_fast", cs.describe(), atol);
    if (HasFatalFailure()) return;

    std::vector<Tensor> gout{random_f32(ref[0].shape(), seed++)};
    std::vector<Tensor> gref(in.size()), gfast(in.size());
    BackwardCtx rb{node, in, ref, {}, gout, gref};
    BackwardCtx fb{node, in, ref, {}, gout, gfast};
    (op->backward_ref ? op->backward_ref : op->backward)(rb);
    ops::gemm::gemm_f32_grad_fast(fb);
    const char* names[] = {"dA", "dB", "dC"};
    for (size_t g = 0; g < in.size(); ++g) {
      expect_match(gref[g], gfast[g], std::string("gemm_f32_grad_fast ") + names[g], cs.describe(),
                   1e-5 * std::sqrt(double(std::max(cs.m, cs.n)) + 1));
      if (HasFatalFailure()) return;
    }
  }
}

TEST(GemmFast, RejectsBadShapes) {
  Node node = make_node("Gemm", 3, 1);
  std::vector<Tensor> in{random_f32({2, 3}, 1), random_f32({4, 5}, 2), random_f32({5}, 3)};
  std::vector<Tensor> out(1);
  ForwardCtx ctx{node, in, out};
  EXPECT_THROW(ops::gemm::gemm_f32_fast(ctx), Error);
  std::vector<Tensor> in2{random_f32({2, 3}, 1), random_f32({3, 5}, 2), random_f32({3}, 3)};
  ForwardCtx ctx2{node, in2, out};
  EXPECT_THROW(ops::gemm::gemm_f32_fast(ctx2), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

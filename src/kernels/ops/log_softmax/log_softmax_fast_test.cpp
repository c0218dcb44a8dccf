#include <gtest/gtest.h>

#include "kernels/testing/fast_vs_ref.h"

namespace edgeopt::kernels::testing {

void run_softmax_family_cases(const std::string& op);  // softmax_fast_test.cpp

namespace {

TEST(LogSoftmaxFast, ForwardBackwardMatchReference) { run_softmax_family_cases("LogSoftmax"); }

TEST(LogSoftmaxFast, RejectsNonF32) {
  Node n = make_node("LogSoftmax", 1, 1);
  std::vector<Tensor> in{Tensor::zeros(DType::kI32, {2, 3})}, out(1);
  ForwardCtx ctx{n, in, out};
  EXPECT_THROW(find_op("LogSoftmax")->forward_fast(ctx), Error);
}

}  // namespace
}  // namespace edgeopt::kernels::testing

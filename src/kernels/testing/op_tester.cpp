#include "kernels/testing/op_tester.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

namespace edgeopt::kernels::testing {

Node make_node(const std::string& op_type, size_t n_inputs, size_t n_outputs) {
  Node n;
  n.name = "test_" + op_type;
  n.op_type = op_type;
  for (size_t i = 0; i < n_inputs; ++i) n.inputs.push_back("i" + std::to_string(i));
  for (size_t i = 0; i < n_outputs; ++i) n.outputs.push_back("o" + std::to_string(i));
  return n;
}

Tensor random_f32(Shape shape, uint64_t seed, float lo, float hi) {
  Tensor t(DType::kF32, std::move(shape));
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = d(rng);
  return t;
}

std::vector<Tensor> run_op(const Node& node, const std::vector<Tensor>& inputs, bool training,
                           std::vector<Tensor>* saved, uint64_t seed) {
  const OpDef* op = find_op(node.op_type);
  if (!op) throw Error(ErrorCode::kUnimplemented, "no op " + node.op_type);
  std::vector<Tensor> out(node.outputs.size());
  ForwardCtx ctx{node, inputs, out, training, saved, seed};
  op->forward(ctx);
  return out;
}

void expect_close(const Tensor& want, const Tensor& got, double atol, double rtol, const std::string& what) {
  ASSERT_TRUE(got.defined()) << what << ": output is undefined";
  ASSERT_EQ(want.shape(), got.shape()) << what << ": shape " << got.shape().str() << " != expected "
                                       << want.shape().str();
  for (int64_t i = 0; i < want.numel(); ++i) {
    double a = want.at(i), b = got.at(i);
    if (std::isnan(a) && std::isnan(b)) continue;
    double tol = atol + rtol * std::fabs(a);
    if (!(std::fabs(a - b) <= tol)) {
      ADD_FAILURE() << what << ": at flat index " << i << " want=" << a << " got=" << b
                    << " |diff|=" << std::fabs(a - b) << " > tol=" << tol;
      return;
    }
  }
}

void expect_gradients_match(const Node& node, const std::vector<Tensor>& inputs, std::vector<size_t> wrt,
                            double eps, double atol, double rtol) {
  const OpDef* op = find_op(node.op_type);
  ASSERT_NE(op, nullptr) << node.op_type;
  ASSERT_NE(op->backward, nullptr) << node.op_type << " has no backward";
  if (wrt.empty())
    for (size_t i = 0; i < inputs.size(); ++i)
      if (inputs[i].defined() && inputs[i].dtype() == DType::kF32) wrt.push_back(i);
  const uint64_t seed = 1234;
  std::vector<Tensor> saved;
  std::vector<Tensor> out = run_op(node, inputs, true, &saved, seed);
  std::vector<Tensor> r(out.size());
  for (size_t k = 0; k < out.size(); ++k)
    if (out[k].defined() && out[k].dtype() == DType::kF32) r[k] = random_f32(out[k].shape(), 99 + k);
  auto loss = [&](const std::vector<Tensor>& in) {
    std::vector<Tensor> s;
    auto y = run_op(node, in, true, &s, seed);
    double l = 0;
    for (size_t k = 0; k < y.size(); ++k)
      if (r[k].defined())
        for (int64_t i = 0; i < y[k].numel(); ++i) l += static_cast<double>(r[k].data<float>()[i]) * y[k].data<float>()[i];
    return l;
  };
  std::vector<Tensor> grad_in(inputs.size());
  BackwardCtx bctx{node, inputs, out, saved, r, grad_in};
  op->backward(bctx);
  for (size_t wi : wrt) {
    ASSERT_TRUE(grad_in[wi].defined()) << node.op_type << ": no gradient for input " << wi;
    ASSERT_EQ(grad_in[wi].shape(), inputs[wi].shape()) << node.op_type << ": gradient shape for input " << wi;
    std::vector<Tensor> pert = inputs;
    pert[wi] = inputs[wi].clone();
    float* p = pert[wi].data<float>();
    for (int64_t i = 0; i < pert[wi].numel(); ++i) {
      float orig = p[i];
      p[i] = orig + static_cast<float>(eps);
      double lp = loss(pert);
      p[i] = orig - static_cast<float>(eps);
      double lm = loss(pert);
      p[i] = orig;
      double num = (lp - lm) / (2 * eps);
      double ana = grad_in[wi].data<float>()[i];
      double tol = atol + rtol * std::fabs(num);
      if (!(std::fabs(num - ana) <= tol)) {
        ADD_FAILURE() << node.op_type << " gradient of input " << wi << " at flat index " << i
                      << ": analytic=" << ana << " numeric=" << num << " |diff|=" << std::fabs(num - ana)
                      << " > tol=" << tol;
        return;
      }
    }
  }
}

}  // namespace edgeopt::kernels::testing

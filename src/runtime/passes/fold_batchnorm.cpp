// fold_batchnorm: inference BatchNormalization is a per-channel affine map y = s*x + t with
// s = scale / sqrt(var + eps), t = B - mean * s, so after a Conv or Gemm it folds into the weights
// (each output channel's filter scaled by s) and the bias (b*s + t): one node and one pass over the
// activations fewer (ORT's ConvBNFusion). Scales are computed in double, then rounded once.
#include <cmath>

#include "runtime/passes/pass_util.h"
#include "runtime/passes/passes.h"

namespace edgeopt::runtime::passes {
namespace {

using detail::constant_f32_vector;
using detail::constant_value;

struct BnAffine {
  std::vector<double> s, t;  // y = s * x + t per channel
};

// The BN node's per-channel affine map, or false when it is not a foldable inference BN.
bool bn_affine(const Graph& g, const Node& bn, int64_t* channels, BnAffine* a) {
  if (bn.inputs.size() < 5 || !bn.has_input(0)) return false;
  for (size_t o = 1; o < bn.outputs.size(); ++o)
    if (!bn.outputs[o].empty()) return false;  // training outputs are read
  if (g.opset >= 14 && bn.attr_int("training_mode", 0) != 0) return false;
  if (g.opset < 9 && bn.attr_int("spatial", 1) == 0) return false;
  const Tensor* scale = constant_value(g, bn.inputs[1]);
  if (!scale || scale->rank() != 1) return false;
  const int64_t c = scale->numel();
  const Tensor* p[4];
  for (size_t i = 0; i < 4; ++i)
    if (!(p[i] = constant_f32_vector(g, bn.inputs[i + 1], c))) return false;
  const double eps = bn.attr_float("epsilon", 1e-5f);
  if (!(eps >= 0)) return false;
  a->s.resize(c);
  a->t.resize(c);
  for (int64_t i = 0; i < c; ++i) {
    const double var = p[3]->data<float>()[i];
    if (var + eps <= 0) return false;
    a->s[i] = p[0]->data<float>()[i] / std::sqrt(var + eps);
    a->t[i] = p[1]->data<float>()[i] - p[2]->data<float>()[i] * a->s[i];
  }
  *channels = c;
  return true;
}

std::string add_initializer(Graph& g, const std::string& base, Tensor t) {
  std::string name = g.unique_name(base);
  g.initializers[name] = std::move(t);
  return name;
}

bool fold_into_conv(Graph& g, Node& conv, int64_t c, const BnAffine& a) {
  if (conv.inputs.size() < 2 || !conv.has_input(1)) return false;
  const Tensor* w = constant_value(g, conv.inputs[1]);
  if (!w || w->dtype() != DType::kF32 || w->rank() < 3 || w->shape()[0] != c) return false;
  const Tensor* b = nullptr;
  if (conv.has_input(2) && !(b = constant_f32_vector(g, conv.inputs[2], c))) return false;
  Tensor w2(DType::kF32, w->shape());
  const int64_t per = w->numel() / c;
  for (int64_t m = 0; m < c; ++m)
    for (int64_t k = 0; k < per; ++k)
      w2.data<float>()[m * per + k] = static_cast<float>(w->data<float>()[m * per + k] * a.s[m]);
  Tensor b2(DType::kF32, {c});
  for (int64_t m = 0; m < c; ++m)
    b2.data<float>()[m] = static_cast<float>((b ? b->data<float>()[m] : 0.0) * a.s[m] + a.t[m]);
  conv.inputs.resize(3);
  conv.inputs[1] = add_initializer(g, conv.inputs[1] + "_bnfolded", std::move(w2));
  conv.inputs[2] = add_initializer(g, (conv.name.empty() ? "conv" : conv.name) + "_bnfolded_bias", std::move(b2));
  return true;
}

bool fold_into_gemm(Graph& g, Node& gemm, int64_t c, const BnAffine& a) {
  if (gemm.inputs.size() < 2 || !gemm.has_input(1)) return false;
  const Tensor* w = constant_value(g, gemm.inputs[1]);
  if (!w || w->dtype() != DType::kF32 || w->rank() != 2) return false;
  const bool trans_b = gemm.attr_int("transB", 0) != 0;
  const int64_t rows = w->shape()[0], cols = w->shape()[1];
  if ((trans_b ? rows : cols) != c) return false;
  const float beta = gemm.attr_float("beta", 1.f);
  const Tensor* bias = nullptr;
  if (gemm.has_input(2)) {
    bias = constant_value(g, gemm.inputs[2]);
    // Per-column C only: scalar, [N] or [1, N]; a per-row or full C does not fold into a [N] bias.
    if (!bias || bias->dtype() != DType::kF32 || bias->rank() > 2) return false;
    const bool per_col = bias->numel() == 1 || (bias->numel() == c && bias->shape()[bias->rank() - 1] == c);
    if (!per_col) return false;
  }
  Tensor w2(DType::kF32, w->shape());
  const float* pw = w->data<float>();
  float* pw2 = w2.data<float>();
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < cols; ++j) pw2[i * cols + j] = static_cast<float>(pw[i * cols + j] * a.s[trans_b ? i : j]);
  Tensor b2(DType::kF32, {c});
  for (int64_t j = 0; j < c; ++j) {
    const double cj = bias ? static_cast<double>(beta) * bias->data<float>()[bias->numel() == 1 ? 0 : j] : 0.0;
    b2.data<float>()[j] = static_cast<float>(cj * a.s[j] + a.t[j]);
  }
  gemm.inputs.resize(3);
  gemm.inputs[1] = add_initializer(g, gemm.inputs[1] + "_bnfolded", std::move(w2));
  gemm.inputs[2] = add_initializer(g, (gemm.name.empty() ? "gemm" : gemm.name) + "_bnfolded_bias", std::move(b2));
  gemm.set_attr("beta", 1.f);
  return true;
}

}  // namespace

PassReport fold_batchnorm(Graph& g) {
  PassReport r{"fold_batchnorm", 0};
  auto uses = detail::use_counts(g);
  auto producer = detail::producers(g);
  std::vector<bool> erase(g.nodes.size(), false);
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& bn = g.nodes[i];
    if (bn.op_type != "BatchNormalization" || !bn.domain.empty() || !bn.has_input(0)) continue;
    const std::string& x = bn.inputs[0];
    auto p = producer.find(x);
    if (p == producer.end() || uses[x] != 1 || erase[p->second]) continue;
    Node& prev = g.nodes[p->second];
    if (!prev.domain.empty() || prev.has_attr("activation") || prev.outputs.size() != 1) continue;
    int64_t c = 0;
    BnAffine a;
    if (!bn_affine(g, bn, &c, &a)) continue;
    bool folded = false;
    if (prev.op_type == "Conv") folded = fold_into_conv(g, prev, c, a);
    if (prev.op_type == "Gemm") folded = fold_into_gemm(g, prev, c, a);
    if (!folded) continue;
    prev.outputs[0] = bn.outputs[0];
    erase[i] = true;
    ++r.nodes_changed;
  }
  detail::erase_nodes(g, erase);
  return r;
}

}  // namespace edgeopt::runtime::passes

#include "compress/decompose/tucker2.h"

#include <Eigen/SVD>
#include <algorithm>

#include "compress/lowrank/vbmf.h"
#include "compress/model_stats.h"

namespace edgeopt::compress {
namespace {

using MatrixRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Leading left singular vectors of an unfolding and all its singular values.
std::pair<Eigen::MatrixXf, std::vector<double>> left_basis(const MatrixRM& a) {
  Eigen::BDCSVD<Eigen::MatrixXf> svd(a, Eigen::ComputeThinU);
  const Eigen::VectorXf& sv = svd.singularValues();
  return {svd.matrixU(), std::vector<double>(sv.data(), sv.data() + sv.size())};
}

}  // namespace

FactorizeReport tucker2_decompose(Graph& g, const Tucker2Options& o) {
  EDGEOPT_CHECK_ARG(o.rank_method == "energy" || o.rank_method == "vbmf",
                    "unknown Tucker-2 rank method '" + o.rank_method + "' (energy or vbmf)");
  FactorizeReport rep;
  rep.energy = o.energy;
  const auto shapes = infer_value_shapes(g);
  std::vector<Node> out_nodes;
  for (const Node& n : g.nodes) {
    const Tensor* w = n.op_type == "Conv" && n.domain.empty() && n.has_input(1) && g.is_initializer(n.inputs[1]) &&
                              !g.find_input(n.inputs[1])
                          ? &g.initializers.at(n.inputs[1])
                          : nullptr;
    if (!w || w->dtype() != DType::kF32 || w->rank() != 4 || n.attr_int("group", 1) != 1 || w->numel() < o.min_weights ||
        (w->shape()[2] == 1 && w->shape()[3] == 1) || value_use_count(g, n.inputs[1]) != 1 || !shapes.count(n.outputs[0])) {
      out_nodes.push_back(n);
      continue;
    }
    const int64_t m = w->shape()[0], c = w->shape()[1], kk = w->shape()[2] * w->shape()[3];
    const float* pw = w->data<float>();
    // Mode-0 unfolding [M, C*k] is W's own layout; mode-1 [C, M*k] regroups it by input channel.
    MatrixRM a0 = Eigen::Map<const MatrixRM>(pw, m, c * kk);
    MatrixRM a1(c, m * kk);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < c; ++j)
        for (int64_t k = 0; k < kk; ++k) a1(j, i * kk + k) = pw[(i * c + j) * kk + k];
    auto [u0, s0] = left_basis(a0);
    auto [u1, s1] = left_basis(a1);
    const bool vbmf = o.rank_method == "vbmf";
    const int64_t r_out = o.rank_out > 0 ? std::min<int64_t>(o.rank_out, u0.cols())
                          : vbmf         ? rank_evbmf(s0, m, c * kk)
                                         : rank_for_energy(s0, o.energy);
    const int64_t r_in = o.rank_in > 0 ? std::min<int64_t>(o.rank_in, u1.cols())
                         : vbmf        ? rank_evbmf(s1, c, m * kk)
                                       : rank_for_energy(s1, o.energy);
    // Cost per output pixel (the 1x1 input conv runs at the input resolution: scale by in/out).
    const Shape& ys = shapes.at(n.outputs[0]);
    const Shape& xs = shapes.at(n.inputs[0]);
    const double out_px = static_cast<double>(ys.numel() / ys[1]), in_px = static_cast<double>(xs.numel() / xs[1]);
    const double before = out_px * m * c * kk;
    const double after = in_px * c * r_in + out_px * (r_in * r_out * kk + r_out * m);
    if (after > o.max_cost * before) {
      out_nodes.push_back(n);
      continue;
    }
    Eigen::MatrixXf uo = u0.leftCols(r_out), ui = u1.leftCols(r_in);
    // Core G[ro, ri, k] = sum_{i, j} uo[i, ro] ui[j, ri] W[i, j, k].
    Tensor core(DType::kF32, {r_out, r_in, w->shape()[2], w->shape()[3]});
    float* pc = core.data<float>();
    for (int64_t k = 0; k < kk; ++k) {
      Eigen::MatrixXf wk(m, c);
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < c; ++j) wk(i, j) = pw[(i * c + j) * kk + k];
      Eigen::MatrixXf gk = uo.transpose() * wk * ui;  // [r_out, r_in]
      for (int64_t p = 0; p < r_out; ++p)
        for (int64_t q = 0; q < r_in; ++q) pc[(p * r_in + q) * kk + k] = gk(p, q);
    }
    Tensor first(DType::kF32, {r_in, c, 1, 1}), last(DType::kF32, {m, r_out, 1, 1});
    for (int64_t q = 0; q < r_in; ++q)
      for (int64_t j = 0; j < c; ++j) first.data<float>()[q * c + j] = ui(j, q);
    for (int64_t i = 0; i < m; ++i)
      for (int64_t p = 0; p < r_out; ++p) last.data<float>()[i * r_out + p] = uo(i, p);
    const std::string wa = g.unique_name(n.inputs[1] + ".tucker_in"), wb = g.unique_name(n.inputs[1] + ".tucker_core"),
                      wc = g.unique_name(n.inputs[1] + ".tucker_out");
    g.initializers[wa] = first;
    g.initializers[wb] = core;
    g.initializers[wc] = last;
    const std::string ya = g.unique_name(n.outputs[0] + ".tucker_in"), yb = g.unique_name(n.outputs[0] + ".tucker_core");
    Node a, b = n, cnode;
    a.name = n.name + ".tucker_in";
    a.op_type = "Conv";
    a.inputs = {n.inputs[0], wa};
    a.outputs = {ya};
    a.set_attr("kernel_shape", std::vector<int64_t>{1, 1});
    b.name = n.name + ".tucker_core";
    b.inputs = {ya, wb};
    b.outputs = {yb};
    cnode.name = n.name + ".tucker_out";
    cnode.op_type = "Conv";
    cnode.inputs = {yb, wc};
    if (n.has_input(2)) cnode.inputs.push_back(n.inputs[2]);
    cnode.outputs = n.outputs;
    cnode.set_attr("kernel_shape", std::vector<int64_t>{1, 1});
    rep.layers.push_back({n.name, "tucker2", {static_cast<int64_t>(s1.size()), static_cast<int64_t>(s0.size())},
                          {r_in, r_out}, w->numel(), r_in * c + r_out * r_in * kk + m * r_out});
    g.initializers.erase(n.inputs[1]);
    out_nodes.push_back(a);
    out_nodes.push_back(b);
    out_nodes.push_back(cnode);
  }
  g.nodes = std::move(out_nodes);
  g.value_info.clear();
  return rep;
}

}  // namespace edgeopt::compress

#include "compress/lowrank/factorize.h"

#include <Eigen/SVD>
#include <algorithm>
#include <numeric>

#include "compress/decompose/cp.h"
#include "compress/decompose/tucker2.h"
#include "compress/model_stats.h"

namespace edgeopt::compress {
namespace {

using MatrixRM = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

Tensor from_matrix(const MatrixRM& m, Shape shape) {
  Tensor t(DType::kF32, std::move(shape));
  std::copy_n(m.data(), m.size(), t.data<float>());
  return t;
}

struct Candidate {
  size_t node;
  MatrixRM w;  // [N out, K in]
};

}  // namespace

int64_t rank_for_energy(const std::vector<double>& s, double energy) {
  double total = 0;
  for (double v : s) total += v * v;
  double acc = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    acc += s[i] * s[i];
    if (acc >= energy * total * (1 - 1e-12)) return static_cast<int64_t>(i + 1);
  }
  return std::max<int64_t>(static_cast<int64_t>(s.size()), 1);
}

nlohmann::json FactorizeReport::to_json() const {
  nlohmann::json j;
  j["energy"] = energy;
  j["flops_before"] = flops_before;
  j["flops_after"] = flops_after;
  j["flops_ratio"] = flops_before ? static_cast<double>(flops_after) / flops_before : 0.0;
  j["params_before"] = params_before;
  j["params_after"] = params_after;
  j["layers"] = nlohmann::json::array();
  for (const auto& l : layers)
    j["layers"].push_back({{"node", l.node}, {"method", l.method}, {"full_rank", l.full_rank}, {"rank", l.rank},
                           {"params_before", l.params_before}, {"params_after", l.params_after}});
  return j;
}

FactorizeReport factorize_svd(Graph& g, const SvdOptions& o) {
  FactorizeReport rep;
  rep.energy = o.energy;
  std::vector<Node> out_nodes;
  for (const Node& n : g.nodes) {
    const bool gemm = n.op_type == "Gemm" && n.attr_int("transA", 0) == 0;
    const bool matmul = n.op_type == "MatMul";
    bool conv1x1 = false;
    const Tensor* w = n.domain.empty() && n.has_input(1) && g.is_initializer(n.inputs[1]) && !g.find_input(n.inputs[1])
                          ? &g.initializers.at(n.inputs[1])
                          : nullptr;
    if (w && n.op_type == "Conv" && n.attr_int("group", 1) == 1 && w->rank() == 4 && w->shape()[2] == 1 && w->shape()[3] == 1)
      conv1x1 = true;
    if (!w || w->dtype() != DType::kF32 || w->numel() < o.min_weights || value_use_count(g, n.inputs[1]) != 1 ||
        !(gemm || matmul || conv1x1) || (!conv1x1 && w->rank() != 2)) {
      out_nodes.push_back(n);
      continue;
    }
    // W as [N out, K in].
    const bool tb = gemm && n.attr_int("transB", 0) != 0;
    MatrixRM wm;
    if (conv1x1) wm = Eigen::Map<const MatrixRM>(w->data<float>(), w->shape()[0], w->shape()[1]);
    else if (tb) wm = Eigen::Map<const MatrixRM>(w->data<float>(), w->shape()[0], w->shape()[1]);
    else wm = Eigen::Map<const MatrixRM>(w->data<float>(), w->shape()[0], w->shape()[1]).transpose();
    const int64_t nout = wm.rows(), kin = wm.cols();
    Eigen::BDCSVD<Eigen::MatrixXf> svd(wm, Eigen::ComputeThinU | Eigen::ComputeThinV);
    const Eigen::VectorXf& sv = svd.singularValues();
    std::vector<double> s(sv.data(), sv.data() + sv.size());
    const int64_t full = static_cast<int64_t>(s.size());
    const int64_t r = o.rank > 0 ? std::min(o.rank, full) : rank_for_energy(s, o.energy);
    if (static_cast<double>(r * (kin + nout)) > o.max_cost * static_cast<double>(kin * nout)) {
      out_nodes.push_back(n);
      continue;
    }
    MatrixRM first = svd.matrixV().leftCols(r).transpose();                          // [r, K]
    MatrixRM second = svd.matrixU().leftCols(r) * sv.head(r).asDiagonal();           // [N, r]
    const std::string w1 = g.unique_name(n.inputs[1] + ".svd_a");
    const std::string w2 = g.unique_name(n.inputs[1] + ".svd_b");
    const std::string mid = g.unique_name(n.outputs[0] + ".svd_mid");
    Node a = n, b = n;
    a.name = n.name + ".svd_a";
    b.name = n.name + ".svd_b";
    a.outputs = {mid};
    b.inputs[0] = mid;
    if (conv1x1) {
      g.initializers[w1] = from_matrix(first, {r, kin, 1, 1});
      g.initializers[w2] = from_matrix(second, {nout, r, 1, 1});
      a.inputs = {n.inputs[0], w1};
      b.inputs[1] = w2;
      b.attrs.clear();
      b.set_attr("kernel_shape", std::vector<int64_t>{1, 1});
    } else if (gemm) {
      g.initializers[w1] = from_matrix(first, {r, kin});
      g.initializers[w2] = from_matrix(second, {nout, r});
      a.inputs = {n.inputs[0], w1};
      a.attrs.clear();
      a.set_attr("transB", int64_t{1});
      b.inputs[1] = w2;
      b.set_attr("transB", int64_t{1});
    } else {  // MatMul: A @ V_r [K, r], then @ (U_r S_r)^T [r, N]
      g.initializers[w1] = from_matrix(first.transpose(), {kin, r});
      g.initializers[w2] = from_matrix(second.transpose(), {r, nout});
      a.inputs = {n.inputs[0], w1};
      b.inputs = {mid, w2};
    }
    g.initializers.erase(n.inputs[1]);
    out_nodes.push_back(a);
    out_nodes.push_back(b);
    rep.layers.push_back({n.name, "svd", {full}, {r}, nout * kin, r * (nout + kin)});
  }
  g.nodes = std::move(out_nodes);
  g.value_info.clear();
  return rep;
}

FactorizeReport factorize(Graph& g, const FactorizeOptions& o) {
  EDGEOPT_CHECK_ARG(o.conv_method == "tucker2" || o.conv_method == "cp",
                    "unknown KxK conv decomposition '" + o.conv_method + "' (tucker2 or cp)");
  const int64_t flops0 = graph_flops(g), params0 = g.parameter_count();
  auto run = [&](Graph& h, double energy) {
    FactorizeReport r;
    if (o.tucker && o.conv_method == "cp") {
      r.layers = cp_decompose(h, {.energy = energy, .max_cost = o.max_cost, .min_weights = o.min_weights}).layers;
    } else if (o.tucker) {
      FactorizeReport t = tucker2_decompose(
          h, {.energy = energy, .rank_method = o.tucker_rank, .max_cost = o.max_cost, .min_weights = o.min_weights});
      r.layers = t.layers;
    }
    if (o.svd) {
      FactorizeReport s = factorize_svd(h, {.energy = energy, .max_cost = o.max_cost, .min_weights = o.min_weights});
      r.layers.insert(r.layers.end(), s.layers.begin(), s.layers.end());
    }
    r.energy = energy;
    return r;
  };
  double energy = o.energy;
  if (o.flops_ratio > 0 && o.flops_ratio < 1) {
    // FLOPs fall as energy falls (fewer singular values), so bisect for the largest energy in budget.
    const double target = o.flops_ratio * static_cast<double>(flops0);
    double lo = 0.0, hi = 1.0;
    bool found = false;
    for (int it = 0; it < 14; ++it) {
      const double mid = 0.5 * (lo + hi);
      Graph h = g;
      run(h, mid);
      if (static_cast<double>(graph_flops(h)) <= target) lo = mid, found = true;
      else hi = mid;
    }
    EDGEOPT_CHECK_ARG(found, "factorization cannot reach " + std::to_string(o.flops_ratio) +
                                 " of the FLOPs: the layers it can factorize carry too few of them");
    energy = lo;
  }
  FactorizeReport rep = run(g, energy);
  EDGEOPT_CHECK_ARG(!rep.layers.empty(), "nothing to factorize in '" + g.name +
                                             "': no Gemm/MatMul/1x1 Conv (SVD) or KxK Conv (Tucker-2) with constant "
                                             "weights of >= " + std::to_string(o.min_weights) +
                                             " entries that gets cheaper at energy " + std::to_string(energy));
  rep.flops_before = flops0;
  rep.params_before = params0;
  rep.flops_after = graph_flops(g);
  rep.params_after = g.parameter_count();
  return rep;
}

}  // namespace edgeopt::compress

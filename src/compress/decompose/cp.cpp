#include "compress/decompose/cp.h"

#include <Eigen/Dense>
#include <Eigen/SVD>
#include <algorithm>
#include <array>
#include <cmath>

#include "compress/model_stats.h"

namespace edgeopt::compress {
namespace {

using Mat = Eigen::MatrixXd;

// Leading left singular vectors of the mode-k unfolding, then deterministic pseudo-random columns
// when the rank exceeds that mode's size.
Mat init_factor(const std::vector<double>& t, const std::array<int64_t, 4>& dims, int k, int64_t rank) {
  const int64_t dk = dims[k], rest = static_cast<int64_t>(t.size()) / dk;
  Mat unf(dk, rest);
  std::array<int64_t, 4> idx{};
  for (size_t f = 0; f < t.size(); ++f) {
    int64_t rem = static_cast<int64_t>(f);
    for (int d = 3; d >= 0; --d) idx[d] = rem % dims[d], rem /= dims[d];
    int64_t col = 0;
    for (int d = 0; d < 4; ++d)
      if (d != k) col = col * dims[d] + idx[d];
    unf(idx[k], col) = t[f];
  }
  Eigen::BDCSVD<Mat> svd(unf, Eigen::ComputeThinU);
  Mat f(dk, rank);
  uint64_t state = 0x9e3779b97f4a7c15ull + static_cast<uint64_t>(k);
  for (int64_t r = 0; r < rank; ++r)
    for (int64_t i = 0; i < dk; ++i) {
      if (r < svd.matrixU().cols()) {
        f(i, r) = svd.matrixU()(i, r);
      } else {
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        f(i, r) = static_cast<double>(state >> 11) / static_cast<double>(1ull << 53) - 0.5;
      }
    }
  return f;
}

}  // namespace

CpFactors cp_als_4d(const Tensor& w, int64_t rank, int iterations) {
  EDGEOPT_CHECK_ARG(w.dtype() == DType::kF32 && w.rank() == 4, "CP: the weight must be f32 [M, C, kh, kw], got " +
                                                                   std::string(dtype_name(w.dtype())) + w.shape().str());
  EDGEOPT_CHECK_ARG(rank >= 1, "CP: rank must be >= 1");
  const std::array<int64_t, 4> dims{w.shape()[0], w.shape()[1], w.shape()[2], w.shape()[3]};
  std::vector<double> t(static_cast<size_t>(w.numel()));
  double norm2 = 0;
  for (int64_t i = 0; i < w.numel(); ++i) t[i] = w.data<float>()[i], norm2 += t[i] * t[i];
  std::array<Mat, 4> f;
  for (int k = 0; k < 4; ++k) f[k] = init_factor(t, dims, k, rank);
  std::array<int64_t, 4> idx{};
  for (int it = 0; it < iterations; ++it) {
    for (int k = 0; k < 4; ++k) {
      // MTTKRP: m(i_k, r) = sum over the other indices of T * prod of the other factors.
      Mat m = Mat::Zero(dims[k], rank);
      for (size_t e = 0; e < t.size(); ++e) {
        if (t[e] == 0) continue;
        int64_t rem = static_cast<int64_t>(e);
        for (int d = 3; d >= 0; --d) idx[d] = rem % dims[d], rem /= dims[d];
        for (int64_t r = 0; r < rank; ++r) {
          double p = t[e];
          for (int d = 0; d < 4; ++d)
            if (d != k) p *= f[d](idx[d], r);
          m(idx[k], r) += p;
        }
      }
      Mat v = Mat::Ones(rank, rank);
      for (int d = 0; d < 4; ++d)
        if (d != k) v = v.cwiseProduct(f[d].transpose() * f[d]);
      // Ridge term: keeps the normal equations solvable when columns become collinear.
      v.diagonal().array() += 1e-10 * std::max(1.0, v.trace() / static_cast<double>(rank));
      f[k] = v.ldlt().solve(m.transpose()).transpose();
    }
  }
  // Fit from the explicit reconstruction.
  double err2 = 0;
  for (size_t e = 0; e < t.size(); ++e) {
    int64_t rem = static_cast<int64_t>(e);
    for (int d = 3; d >= 0; --d) idx[d] = rem % dims[d], rem /= dims[d];
    double s = 0;
    for (int64_t r = 0; r < rank; ++r) s += f[0](idx[0], r) * f[1](idx[1], r) * f[2](idx[2], r) * f[3](idx[3], r);
    err2 += (t[e] - s) * (t[e] - s);
  }
  CpFactors out;
  out.rank = rank;
  out.fit = norm2 > 0 ? 1.0 - err2 / norm2 : 1.0;
  // Unit-norm columns for B, Y, X; their norms move into A (balanced for fine-tuning).
  for (int64_t r = 0; r < rank; ++r)
    for (int k = 1; k < 4; ++k) {
      const double n = f[k].col(r).norm();
      if (n > 0) {
        f[k].col(r) /= n;
        f[0].col(r) *= n;
      }
    }
  auto flat = [](const Mat& a) {
    std::vector<float> v(static_cast<size_t>(a.size()));
    for (int64_t i = 0; i < a.rows(); ++i)
      for (int64_t r = 0; r < a.cols(); ++r) v[static_cast<size_t>(i * a.cols() + r)] = static_cast<float>(a(i, r));
    return v;
  };
  out.a = flat(f[0]), out.b = flat(f[1]), out.y = flat(f[2]), out.x = flat(f[3]);
  return out;
}

FactorizeReport cp_decompose(Graph& g, const CpOptions& o) {
  EDGEOPT_CHECK_ARG(o.energy > 0 && o.energy <= 1, "CP: energy (fit) must be in (0, 1]");
  FactorizeReport rep;
  rep.energy = o.energy;
  const auto shapes = infer_value_shapes(g);
  std::vector<Node> out_nodes;
  for (const Node& n : g.nodes) {
    const Tensor* w = n.op_type == "Conv" && n.domain.empty() && n.has_input(1) && g.is_initializer(n.inputs[1]) &&
                              !g.find_input(n.inputs[1])
                          ? &g.initializers.at(n.inputs[1])
                          : nullptr;
    const std::string auto_pad = n.has_attr("auto_pad") ? n.attr_string("auto_pad", "NOTSET") : "NOTSET";
    if (!w || w->dtype() != DType::kF32 || w->rank() != 4 || n.attr_int("group", 1) != 1 ||
        w->numel() < o.min_weights || (w->shape()[2] == 1 && w->shape()[3] == 1) || auto_pad != "NOTSET" ||
        value_use_count(g, n.inputs[1]) != 1 || !shapes.count(n.outputs[0]) || !shapes.count(n.inputs[0])) {
      out_nodes.push_back(n);
      continue;
    }
    const int64_t m = w->shape()[0], c = w->shape()[1], kh = w->shape()[2], kw = w->shape()[3];
    const std::vector<int64_t> st = n.attr_ints("strides", {1, 1}), dl = n.attr_ints("dilations", {1, 1}),
                               pads = n.attr_ints("pads", {0, 0, 0, 0});
    const Shape& xs = shapes.at(n.inputs[0]);
    const Shape& ys = shapes.at(n.outputs[0]);
    // Multiply-accumulates per image: original vs the four layers at rank r (the vertical conv runs
    // at output rows x input columns).
    const double in_px = static_cast<double>(xs[2] * xs[3]), out_px = static_cast<double>(ys[2] * ys[3]);
    const double mid_px = static_cast<double>(ys[2] * xs[3]);
    const double before = out_px * static_cast<double>(m * c * kh * kw);
    auto cost = [&](int64_t r) {
      const double rd = static_cast<double>(r);
      return in_px * c * rd + mid_px * rd * kh + out_px * rd * kw + out_px * rd * m;
    };
    int64_t max_rank = 1;
    while (cost(max_rank + 1) <= o.max_cost * before && max_rank < m * c) ++max_rank;
    if (cost(1) > o.max_cost * before) {
      out_nodes.push_back(n);
      continue;
    }
    CpFactors best;
    if (o.rank > 0) {
      if (o.rank > max_rank) {  // would not get cheaper
        out_nodes.push_back(n);
        continue;
      }
      best = cp_als_4d(*w, o.rank, o.iterations);
    } else {
      // Smallest rank reaching the fit, by bisection over [1, max_rank] (fit grows with the rank).
      best = cp_als_4d(*w, max_rank, o.iterations);
      if (best.fit < o.energy) {  // even the largest affordable rank misses the fit: it does not pay
        out_nodes.push_back(n);
        continue;
      }
      int64_t lo = 1, hi = max_rank;
      while (lo < hi) {
        const int64_t mid = (lo + hi) / 2;
        CpFactors f = cp_als_4d(*w, mid, o.iterations);
        if (f.fit >= o.energy) {
          hi = mid;
          best = std::move(f);
        } else {
          lo = mid + 1;
        }
      }
    }
    const int64_t r = best.rank;
    Tensor t_b(DType::kF32, {r, c, 1, 1}), t_y(DType::kF32, {r, 1, kh, 1}), t_x(DType::kF32, {r, 1, 1, kw}),
        t_a(DType::kF32, {m, r, 1, 1});
    for (int64_t q = 0; q < r; ++q) {
      for (int64_t j = 0; j < c; ++j) t_b.data<float>()[q * c + j] = best.b[j * r + q];
      for (int64_t h = 0; h < kh; ++h) t_y.data<float>()[q * kh + h] = best.y[h * r + q];
      for (int64_t v = 0; v < kw; ++v) t_x.data<float>()[q * kw + v] = best.x[v * r + q];
    }
    for (int64_t i = 0; i < m; ++i)
      for (int64_t q = 0; q < r; ++q) t_a.data<float>()[i * r + q] = best.a[i * r + q];
    const std::string base = n.inputs[1], y0 = n.outputs[0];
    const std::string wb = g.unique_name(base + ".cp_in"), wy = g.unique_name(base + ".cp_vertical"),
                      wx = g.unique_name(base + ".cp_horizontal"), wa = g.unique_name(base + ".cp_out");
    g.initializers[wb] = t_b;
    g.initializers[wy] = t_y;
    g.initializers[wx] = t_x;
    g.initializers[wa] = t_a;
    const std::string z1 = g.unique_name(y0 + ".cp_in"), z2 = g.unique_name(y0 + ".cp_vertical"),
                      z3 = g.unique_name(y0 + ".cp_horizontal");
    auto conv = [&](const std::string& name, std::vector<std::string> in, const std::string& out,
                    std::vector<int64_t> k, int64_t group) {
      Node c1;
      c1.name = name;
      c1.op_type = "Conv";
      c1.inputs = std::move(in);
      c1.outputs = {out};
      c1.set_attr("kernel_shape", k);
      if (group != 1) c1.set_attr("group", group);
      return c1;
    };
    Node n1 = conv(n.name + ".cp_in", {n.inputs[0], wb}, z1, {1, 1}, 1);
    Node n2 = conv(n.name + ".cp_vertical", {z1, wy}, z2, {kh, 1}, r);
    n2.set_attr("strides", std::vector<int64_t>{st[0], 1});
    n2.set_attr("pads", std::vector<int64_t>{pads[0], 0, pads[2], 0});
    n2.set_attr("dilations", std::vector<int64_t>{dl[0], 1});
    Node n3 = conv(n.name + ".cp_horizontal", {z2, wx}, z3, {1, kw}, r);
    n3.set_attr("strides", std::vector<int64_t>{1, st[1]});
    n3.set_attr("pads", std::vector<int64_t>{0, pads[1], 0, pads[3]});
    n3.set_attr("dilations", std::vector<int64_t>{1, dl[1]});
    std::vector<std::string> last_in{z3, wa};
    if (n.has_input(2)) last_in.push_back(n.inputs[2]);
    Node n4 = conv(n.name + ".cp_out", last_in, y0, {1, 1}, 1);
    n4.outputs = n.outputs;
    rep.layers.push_back({n.name, "cp", {std::min(m * c, kh * kw * std::max(m, c))}, {r}, w->numel(),
                          r * (c + kh + kw + m)});
    g.initializers.erase(base);
    out_nodes.push_back(n1);
    out_nodes.push_back(n2);
    out_nodes.push_back(n3);
    out_nodes.push_back(n4);
  }
  g.nodes = std::move(out_nodes);
  g.value_info.clear();
  return rep;
}

}  // namespace edgeopt::compress

#include "compress/model_stats.h"

#include <algorithm>
#include <chrono>
#include <random>

#include "kernels/op_def.h"
#include "runtime/passes/passes.h"
#include "runtime/session.h"

namespace edgeopt::compress {
namespace {

Shape one_sample(const Shape& s) {
  Shape r = s;
  for (auto& d : r.dims())
    if (d < 0) d = 1;
  return r;
}

std::map<std::string, Tensor> random_feeds(const Graph& g) {
  std::map<std::string, Tensor> feeds;
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.f, 1.f);
  for (const auto& in : g.inputs) {
    if (g.is_initializer(in.name)) continue;
    Tensor t = Tensor::zeros(in.dtype, one_sample(in.shape));
    if (t.dtype() == DType::kF32)
      for (int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = u(rng);
    feeds[in.name] = t;
  }
  return feeds;
}

int64_t flops_with_shapes(const Graph& g, const std::unordered_map<std::string, Shape>& shapes) {
  int64_t total = 0;
  for (const auto& n : g.nodes) {
    std::vector<Shape> in, out;
    for (const auto& v : n.inputs) in.push_back(v.empty() ? Shape{} : shapes.count(v) ? shapes.at(v) : Shape{-1});
    for (const auto& v : n.outputs) out.push_back(v.empty() ? Shape{} : shapes.count(v) ? shapes.at(v) : Shape{-1});
    total += 2 * kernels::node_macs(n, in, out);
  }
  return total;
}

}  // namespace

std::unordered_map<std::string, Shape> infer_value_shapes(const Graph& g) {
  std::unordered_map<std::string, Tensor> values;
  for (const auto& [k, t] : g.initializers) values[k] = t;
  for (auto& [k, t] : random_feeds(g)) values[k] = t;
  for (size_t idx : g.topo_order()) {
    const Node& n = g.nodes[idx];
    const kernels::OpDef* op = kernels::find_op(n.op_type);
    EDGEOPT_CHECK(op && n.domain.empty(), ErrorCode::kUnimplemented, n.describe() + " has no kernel");
    std::vector<Tensor> in;
    for (const auto& v : n.inputs) in.push_back(v.empty() ? Tensor() : values.at(v));
    std::vector<Tensor> out(n.outputs.size());
    kernels::ForwardCtx ctx{n, in, out};
    ctx.opset = g.opset;
    try {
      op->forward(ctx);
    } catch (Error& e) {
      e.add_context(n.describe());
      throw;
    }
    for (size_t i = 0; i < n.outputs.size(); ++i)
      if (!n.outputs[i].empty()) values[n.outputs[i]] = out[i];
  }
  std::unordered_map<std::string, Shape> shapes;
  for (const auto& [k, t] : values) shapes[k] = t.shape();
  return shapes;
}

int64_t graph_flops(const Graph& g) { return flops_with_shapes(g, infer_value_shapes(g)); }

nlohmann::json ModelStats::to_json() const {
  return {{"parameters", parameters},       {"nonzero_parameters", nonzero_parameters},
          {"dense_bytes", dense_bytes},     {"sparse_bytes", sparse_bytes},
          {"flops", flops},                 {"effective_flops", effective_flops},
          {"latency_ms", latency_ms}};
}

ModelStats model_stats(const Graph& g, int latency_runs) {
  ModelStats s;
  for (const auto& [k, t] : g.initializers) {
    if (t.dtype() != DType::kF32) {
      s.dense_bytes += static_cast<int64_t>(t.nbytes());
      s.sparse_bytes += static_cast<int64_t>(t.nbytes());
      continue;
    }
    s.parameters += t.numel();
    int64_t nz = 0;
    for (int64_t i = 0; i < t.numel(); ++i) nz += t.data<float>()[i] != 0.f;
    s.nonzero_parameters += nz;
    s.dense_bytes += 4 * t.numel();
    s.sparse_bytes += 2 * nz <= t.numel() ? 8 * nz : 4 * t.numel();
  }
  s.flops = graph_flops(g);
  Graph opt = g;
  runtime::passes::optimize_graph(opt);
  s.effective_flops = graph_flops(opt);
  if (latency_runs > 0) s.latency_ms = median_latency_ms(g, latency_runs);
  return s;
}

double median_latency_ms(const Graph& g, int runs) {
  runtime::Session session(g);
  auto feeds = random_feeds(g);
  for (int i = 0; i < 3; ++i) session.run(feeds);
  std::vector<double> ms;
  for (int i = 0; i < std::max(runs, 1); ++i) {
    auto t0 = std::chrono::steady_clock::now();
    session.run(feeds);
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace edgeopt::compress

namespace edgeopt::compress {

std::pair<double, double> paired_latency_ms(const Graph& a, const Graph& b, int runs) {
  runtime::Session sa(a), sb(b);
  auto fa = random_feeds(a), fb = random_feeds(b);
  for (int i = 0; i < 3; ++i) {
    sa.run(fa);
    sb.run(fb);
  }
  std::vector<double> ma, mb;
  auto time_one = [](runtime::Session& s, const std::map<std::string, Tensor>& f) {
    auto t0 = std::chrono::steady_clock::now();
    s.run(f);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  };
  for (int i = 0; i < std::max(runs, 1); ++i) {
    ma.push_back(time_one(sa, fa));
    mb.push_back(time_one(sb, fb));
  }
  std::sort(ma.begin(), ma.end());
  std::sort(mb.begin(), mb.end());
  return {ma[ma.size() / 2], mb[mb.size() / 2]};
}

int value_use_count(const Graph& g, const std::string& v) {
  int n = 0;
  for (const auto& node : g.nodes)
    for (const auto& i : node.inputs) n += i == v;
  return n;
}

}  // namespace edgeopt::compress

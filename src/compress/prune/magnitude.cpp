#include "compress/prune/magnitude.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace edgeopt::compress {
namespace {

// Indices of weight inputs per op: Conv W, Gemm/MatMul B, LSTM/GRU/RNN W and R.
std::vector<size_t> weight_inputs(const Node& n) {
  if (n.op_type == "Conv" || n.op_type == "Gemm" || n.op_type == "MatMul") return {1};
  if (n.op_type == "LSTM" || n.op_type == "GRU" || n.op_type == "RNN") return {1, 2};
  return {};
}

// Marks the k smallest |w| (ties by index: a stable order keeps runs reproducible) as pruned.
void mask_smallest(const std::vector<const Tensor*>& ws, int64_t k, std::vector<std::vector<uint8_t>>& pruned) {
  std::vector<std::pair<size_t, int64_t>> idx;
  for (size_t t = 0; t < ws.size(); ++t)
    for (int64_t i = 0; i < ws[t]->numel(); ++i) idx.push_back({t, i});
  auto mag = [&](const std::pair<size_t, int64_t>& e) { return std::fabs(ws[e.first]->data<float>()[e.second]); };
  k = std::clamp<int64_t>(k, 0, static_cast<int64_t>(idx.size()));
  std::nth_element(idx.begin(), idx.begin() + k, idx.end(), [&](const auto& a, const auto& b) {
    const float ma = mag(a), mb = mag(b);
    return ma < mb || (ma == mb && a < b);
  });
  for (int64_t i = 0; i < k; ++i) pruned[idx[i].first][idx[i].second] = 1;
}

}  // namespace

std::vector<std::pair<std::string, std::string>> prunable_weights(const Graph& g, int64_t min_weights) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& n : g.nodes) {
    if (!n.domain.empty()) continue;
    for (size_t i : weight_inputs(n)) {
      if (!n.has_input(i)) continue;
      auto it = g.initializers.find(n.inputs[i]);
      if (it == g.initializers.end() || it->second.dtype() != DType::kF32 || it->second.numel() < min_weights) continue;
      if (std::any_of(out.begin(), out.end(), [&](const auto& p) { return p.first == n.inputs[i]; })) continue;
      out.push_back({n.inputs[i], n.name});
    }
  }
  return out;
}

nlohmann::json MagnitudeReport::to_json() const {
  nlohmann::json j;
  j["sparsity"] = sparsity();
  j["pruned_numel"] = pruned_numel;
  j["pruned_zeros"] = pruned_zeros;
  for (const auto& w : weights)
    j["weights"].push_back({{"name", w.name}, {"node", w.node}, {"numel", w.numel}, {"zeros", w.zeros},
                            {"sparsity", w.numel ? static_cast<double>(w.zeros) / w.numel : 0.0}});
  return j;
}

MagnitudeReport prune_magnitude(Graph& g, const MagnitudeOptions& o, std::unordered_map<std::string, Tensor>* masks) {
  EDGEOPT_CHECK_ARG(o.sparsity >= 0 && o.sparsity < 1, "sparsity must be in [0, 1), got " + std::to_string(o.sparsity));
  auto names = prunable_weights(g, o.min_weights);
  EDGEOPT_CHECK_ARG(!names.empty(), "nothing to prune in '" + g.name + "': no Conv/Gemm/MatMul/LSTM/GRU weight with >= " +
                                        std::to_string(o.min_weights) + " entries (see --min-weights)");
  std::vector<const Tensor*> ws;
  for (const auto& [w, node] : names) ws.push_back(&g.initializers.at(w));
  std::vector<std::vector<uint8_t>> pruned(ws.size());
  for (size_t t = 0; t < ws.size(); ++t) pruned[t].assign(static_cast<size_t>(ws[t]->numel()), 0);
  if (o.global) {
    int64_t total = 0;
    for (const Tensor* w : ws) total += w->numel();
    mask_smallest(ws, std::llround(o.sparsity * static_cast<double>(total)), pruned);
  } else {
    for (size_t t = 0; t < ws.size(); ++t) {
      std::vector<std::vector<uint8_t>> one(1, std::vector<uint8_t>(static_cast<size_t>(ws[t]->numel()), 0));
      mask_smallest({ws[t]}, std::llround(o.sparsity * static_cast<double>(ws[t]->numel())), one);
      pruned[t] = std::move(one[0]);
    }
  }
  MagnitudeReport r;
  for (size_t t = 0; t < ws.size(); ++t) {
    const Tensor& w = *ws[t];
    Tensor nw(DType::kF32, w.shape()), m(DType::kF32, w.shape());
    PrunedWeight pw{names[t].first, names[t].second, w.numel(), 0};
    for (int64_t i = 0; i < w.numel(); ++i) {
      const bool cut = pruned[t][i] || w.data<float>()[i] == 0.f;
      nw.data<float>()[i] = cut ? 0.f : w.data<float>()[i];
      m.data<float>()[i] = cut ? 0.f : 1.f;
      pw.zeros += cut;
    }
    g.initializers[names[t].first] = nw;
    if (masks) (*masks)[names[t].first] = m;
    r.pruned_numel += pw.numel;
    r.pruned_zeros += pw.zeros;
    r.weights.push_back(pw);
  }
  return r;
}

double polynomial_sparsity(double initial, double final_sparsity, double t) {
  t = std::clamp(t, 0.0, 1.0);
  return final_sparsity + (initial - final_sparsity) * std::pow(1.0 - t, 3);
}

nlohmann::json GradualReport::to_json() const {
  return {{"sparsity_per_round", sparsity_per_round},
          {"val_metric_per_round", val_metric_per_round},
          {"final", final_report.to_json()}};
}

GradualReport prune_gradual(Graph& g, const train::DataSplits& d, const train::TrainOptions& t, const GradualOptions& o) {
  EDGEOPT_CHECK_ARG(o.rounds >= 1 && o.epochs_per_round >= 1, "gradual pruning needs rounds >= 1 and epochs per round >= 1");
  GradualReport r;
  for (int i = 1; i <= o.rounds; ++i) {
    const double s = polynomial_sparsity(o.initial_sparsity, o.final_sparsity, static_cast<double>(i) / o.rounds);
    train::TrainOptions to = t;
    to.masks.clear();
    r.final_report = prune_magnitude(g, {.sparsity = s, .global = o.global, .min_weights = o.min_weights}, &to.masks);
    to.epochs = o.epochs_per_round;
    to.seed = t.seed + static_cast<uint64_t>(i - 1);
    train::TrainReport tr = train::train_model(g, d, to);
    r.sparsity_per_round.push_back(r.final_report.sparsity());
    r.val_metric_per_round.push_back(tr.best_val_metric);
    if (i == o.rounds && o.final_epochs > 0) {
      to.epochs = o.final_epochs;
      to.seed = t.seed + static_cast<uint64_t>(o.rounds);
      tr = train::train_model(g, d, to);
      r.sparsity_per_round.push_back(r.final_report.sparsity());
      r.val_metric_per_round.push_back(tr.best_val_metric);
    }
  }
  return r;
}

}  // namespace edgeopt::compress

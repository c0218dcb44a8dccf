#include "compress/prune/structured.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <optional>
#include <set>
#include <unordered_map>

#include "compress/model_stats.h"
#include "compress/tensor_slice.h"

namespace edgeopt::compress {
namespace {

using detail::take_f32;

struct ChannelMap {
  size_t axis = 1;
  std::vector<int> items;
};

enum class Kind { kOther, kConv, kDepthwise, kGemm, kMatMul, kRnn, kBatchNorm, kPassThrough, kElementwise, kConcat, kReshapeLike };

const std::set<std::string> kUnary = {"Relu", "LeakyRelu", "Sigmoid", "Tanh", "Clip", "HardSigmoid", "HardSwish",
                                      "Dropout", "Identity", "Elu", "Selu", "Softplus", "Exp", "Log", "Sqrt",
                                      "Neg", "Abs", "Erf"};
const std::set<std::string> kPools = {"MaxPool", "AveragePool", "GlobalAveragePool"};
const std::set<std::string> kElementwiseOps = {"Add", "Sub", "Mul", "Div", "Max", "Min", "Sum"};

class Analysis {
 public:
  Analysis(const Graph& g, const std::string& criterion) : g_(g) {
    shapes_ = infer_value_shapes(g);
    for (const auto& n : g.nodes)
      for (const auto& v : n.inputs)
        if (!v.empty()) ++uses_[v];
    for (const auto& o : g.outputs) ++uses_[o.name];
    order_ = g.topo_order();
    kinds_.assign(g.nodes.size(), Kind::kOther);
    for (size_t idx : order_) analyze(idx);
    for (const auto& o : g.outputs)
      if (auto it = maps_.find(o.name); it != maps_.end()) lock(it->second);
    score_items(criterion);
  }

  int find(int i) {
    while (parent_[i] != i) i = parent_[i] = parent_[parent_[i]];
    return i;
  }
  size_t num_items() const { return parent_.size(); }
  bool locked_class(int root) const { return locked_root_.count(root) != 0; }
  int owner(int item) const { return owner_[item]; }
  double score(int item) const { return score_[item]; }
  const Graph& graph() const { return g_; }
  const std::vector<size_t>& order() const { return order_; }
  Kind kind(size_t idx) const { return kinds_[idx]; }
  const ChannelMap* map_of(const std::string& v) const {
    auto it = maps_.find(v);
    return it == maps_.end() ? nullptr : &it->second;
  }
  const std::vector<int>& produced(size_t idx) const { return produced_.at(idx); }
  size_t rank_of(const std::string& v) const { return shapes_.at(v).rank(); }
  void finalize_locks() {
    for (size_t i = 0; i < locked_.size(); ++i)
      if (locked_[i]) locked_root_.insert(find(static_cast<int>(i)));
  }

 private:
  const Tensor* sole_initializer(const std::string& v) const {
    auto it = g_.initializers.find(v);
    if (it == g_.initializers.end() || it->second.dtype() != DType::kF32 || uses_.at(v) != 1) return nullptr;
    if (g_.find_input(v)) return nullptr;
    return &it->second;
  }
  const Shape* shape(const std::string& v) const {
    auto it = shapes_.find(v);
    return it == shapes_.end() ? nullptr : &it->second;
  }
  std::vector<int> new_items(size_t node, int64_t n) {
    std::vector<int> r;
    for (int64_t c = 0; c < n; ++c) {
      r.push_back(static_cast<int>(parent_.size()));
      parent_.push_back(static_cast<int>(parent_.size()));
      locked_.push_back(0);
      owner_.push_back(static_cast<int>(node));
    }
    produced_[node] = r;
    return r;
  }
  std::vector<int> locked_items(int64_t n) {
    std::vector<int> r;
    for (int64_t c = 0; c < n; ++c) {
      r.push_back(static_cast<int>(parent_.size()));
      parent_.push_back(static_cast<int>(parent_.size()));
      locked_.push_back(1);
      owner_.push_back(-1);
    }
    return r;
  }
  void lock(const ChannelMap& m) {
    for (int i : m.items) locked_[i] = 1;
  }
  void unite(int a, int b) {
    a = find(a);
    b = find(b);
    if (a != b) parent_[std::max(a, b)] = std::min(a, b);
  }
  void lock_inputs(const Node& n) {
    for (const auto& v : n.inputs)
      if (auto it = maps_.find(v); it != maps_.end()) lock(it->second);
  }
  // Input 0's map when its channel axis is `axis`; otherwise locks it and returns null.
  const ChannelMap* input_on_axis(const Node& n, size_t axis) {
    auto it = maps_.find(n.inputs[0]);
    if (it == maps_.end()) return nullptr;
    if (it->second.axis != axis) {
      lock(it->second);
      return nullptr;
    }
    return &it->second;
  }

  void analyze(size_t idx) {
    const Node& n = g_.nodes[idx];
    Kind k = classify(n);
    kinds_[idx] = k;
    const ChannelMap* in0 = n.inputs.empty() ? nullptr : map_of(n.inputs[0]);
    switch (k) {
      case Kind::kConv: {
        input_on_axis(n, 1);
        maps_[n.outputs[0]] = {1, new_items(idx, g_.initializers.at(n.inputs[1]).shape()[0])};
        return;
      }
      case Kind::kDepthwise:
        if (in0 && in0->axis == 1 && static_cast<int64_t>(in0->items.size()) == n.attr_int("group", 1)) {
          maps_[n.outputs[0]] = *in0;
        } else {
          kinds_[idx] = Kind::kOther;
          lock_inputs(n);
        }
        return;
      case Kind::kGemm: {
        input_on_axis(n, 1);
        const Tensor& b = g_.initializers.at(n.inputs[1]);
        maps_[n.outputs[0]] = {1, new_items(idx, n.attr_int("transB", 0) ? b.shape()[0] : b.shape()[1])};
        return;
      }
      case Kind::kMatMul: {
        const Shape* s = shape(n.inputs[0]);
        input_on_axis(n, s->rank() - 1);
        const Shape* so = shape(n.outputs[0]);
        maps_[n.outputs[0]] = {so->rank() - 1, new_items(idx, g_.initializers.at(n.inputs[1]).shape()[1])};
        return;
      }
      case Kind::kRnn: {
        input_on_axis(n, 2);
        auto items = new_items(idx, n.attr_int("hidden_size", 0));
        if (n.outputs.size() > 0 && !n.outputs[0].empty()) maps_[n.outputs[0]] = {3, items};
        for (size_t o = 1; o < n.outputs.size(); ++o)
          if (!n.outputs[o].empty()) maps_[n.outputs[o]] = {2, items};
        return;
      }
      case Kind::kBatchNorm:
        if (in0 && in0->axis == 1) maps_[n.outputs[0]] = *in0;
        else if (in0) lock(*in0);
        return;
      case Kind::kPassThrough:
        if (in0) {
          if (kPools.count(n.op_type) && in0->axis != 1) lock(*in0);
          else maps_[n.outputs[0]] = *in0;
        }
        for (size_t i = 1; i < n.inputs.size(); ++i)
          if (auto* m = map_of(n.inputs[i])) lock(*m);
        return;
      case Kind::kElementwise:
        elementwise(n);
        return;
      case Kind::kConcat:
        concat(n);
        return;
      case Kind::kReshapeLike:
        reshape_like(n);
        return;
      case Kind::kOther:
        lock_inputs(n);
        return;
    }
  }

  Kind classify(const Node& n) const {
    if (!n.domain.empty() || n.outputs.empty()) return Kind::kOther;
    const std::string& t = n.op_type;
    auto weight = [&](size_t i) { return n.has_input(i) ? sole_initializer(n.inputs[i]) : nullptr; };
    auto optional_ok = [&](size_t i) { return !n.has_input(i) || weight(i); };
    if (t == "Conv") {
      const Tensor* w = weight(1);
      if (!w || w->rank() < 3 || !optional_ok(2)) return Kind::kOther;
      const int64_t group = n.attr_int("group", 1);
      if (group == 1) return Kind::kConv;
      const Shape* x = shape(n.inputs[0]);
      if (x && x->rank() >= 2 && group == (*x)[1] && w->shape()[0] == group && w->shape()[1] == 1) return Kind::kDepthwise;
      return Kind::kOther;
    }
    if (t == "Gemm") {
      const Tensor* b = weight(1);
      if (!b || b->rank() != 2 || n.attr_int("transA", 0) != 0 || !optional_ok(2)) return Kind::kOther;
      if (n.has_input(2)) {
        const Tensor* c = weight(2);
        const int64_t nn = n.attr_int("transB", 0) ? b->shape()[0] : b->shape()[1];
        if (!(c->numel() == 1 || (c->rank() == 1 && c->shape()[0] == nn) || (c->rank() == 2 && c->shape()[0] == 1)))
          return Kind::kOther;
      }
      return Kind::kGemm;
    }
    if (t == "MatMul") {
      const Tensor* b = weight(1);
      const Shape* a = shape(n.inputs[0]);
      return b && b->rank() == 2 && a && a->rank() >= 2 ? Kind::kMatMul : Kind::kOther;
    }
    if (t == "LSTM" || t == "GRU") {
      if (!weight(1) || !weight(2) || !optional_ok(3) || n.attr_string("direction", "forward") != "forward" ||
          n.attr_int("layout", 0) != 0)
        return Kind::kOther;
      // sequence_lens (4) is fine; initial states (5, 6) and peepholes (7) are not sliced here.
      for (size_t i = 5; i < n.inputs.size(); ++i)
        if (n.has_input(i)) return Kind::kOther;
      return Kind::kRnn;
    }
    if (t == "BatchNormalization") {
      for (size_t i = 1; i < 5; ++i)
        if (!weight(i)) return Kind::kOther;
      return n.outputs.size() == 1 || std::all_of(n.outputs.begin() + 1, n.outputs.end(), [](const std::string& s) { return s.empty(); })
                 ? Kind::kBatchNorm
                 : Kind::kOther;
    }
    if (kUnary.count(t) || kPools.count(t)) return Kind::kPassThrough;
    if (kElementwiseOps.count(t)) return Kind::kElementwise;
    if (t == "Concat") return Kind::kConcat;
    if (t == "Flatten" || t == "Squeeze" || t == "Unsqueeze" || t == "Transpose") return Kind::kReshapeLike;
    return Kind::kOther;
  }

  void elementwise(const Node& n) {
    const Shape* so = shape(n.outputs[0]);
    if (!so) return lock_inputs(n);
    const size_t r = so->rank();
    std::optional<size_t> axis;
    const ChannelMap* first = nullptr;
    bool ok = true;
    for (const auto& v : n.inputs) {
      const ChannelMap* m = map_of(v);
      if (!m) continue;
      const size_t a = m->axis + (r - shape(v)->rank());
      if (axis && (*axis != a || m->items.size() != first->items.size())) ok = false;
      if (!axis) axis = a, first = m;
    }
    if (!axis) return;
    for (const auto& v : n.inputs) {
      if (v.empty() || map_of(v)) continue;
      const Shape* s = shape(v);
      if (!s) { ok = false; continue; }
      const int64_t di = static_cast<int64_t>(*axis) - static_cast<int64_t>(r - s->rank());
      if (di < 0 || (*s)[static_cast<size_t>(di)] == 1) continue;
      if (!sole_initializer(v)) ok = false;  // a runtime operand with all channels cannot be sliced
    }
    if (!ok) return lock_inputs(n);
    for (const auto& v : n.inputs)
      if (const ChannelMap* m = map_of(v); m && m != first)
        for (size_t i = 0; i < m->items.size(); ++i) unite(first->items[i], m->items[i]);
    maps_[n.outputs[0]] = {*axis, first->items};
  }

  void concat(const Node& n) {
    const Shape* so = shape(n.outputs[0]);
    if (!so) return lock_inputs(n);
    int64_t ax = n.attr_int("axis", 0);
    if (ax < 0) ax += static_cast<int64_t>(so->rank());
    bool any = false;
    for (const auto& v : n.inputs)
      if (const ChannelMap* m = map_of(v)) {
        any = true;
        if (static_cast<int64_t>(m->axis) != ax) return lock_inputs(n);
      }
    if (!any) return;
    ChannelMap out{static_cast<size_t>(ax), {}};
    for (const auto& v : n.inputs) {
      if (v.empty()) continue;
      const ChannelMap* m = map_of(v);
      std::vector<int> items = m ? m->items : locked_items((*shape(v))[static_cast<size_t>(ax)]);
      out.items.insert(out.items.end(), items.begin(), items.end());
    }
    maps_[n.outputs[0]] = out;
  }

  void reshape_like(const Node& n) {
    const ChannelMap* m = map_of(n.inputs[0]);
    if (!m) return;
    for (size_t i = 1; i < n.inputs.size(); ++i)
      if (auto* mi = map_of(n.inputs[i])) lock(*mi);
    const Shape* si = shape(n.inputs[0]);
    const Shape* so = shape(n.outputs[0]);
    if (!si || !so) return lock(*m);
    const size_t r = si->rank(), c = m->axis;
    if (n.op_type == "Flatten") {
      int64_t a = n.attr_int("axis", 1);
      if (a < 0) a += static_cast<int64_t>(r);
      if (a < 1 || static_cast<size_t>(a) > c) return lock(*m);
      int64_t prefix = 1, suffix = 1;
      for (size_t i = static_cast<size_t>(a); i < c; ++i) prefix *= (*si)[i];
      for (size_t i = c + 1; i < r; ++i) suffix *= (*si)[i];
      ChannelMap out{1, {}};
      for (int64_t p = 0; p < prefix; ++p)
        for (int item : m->items)
          for (int64_t s = 0; s < suffix; ++s) out.items.push_back(item);
      maps_[n.outputs[0]] = out;
      return;
    }
    if (n.op_type == "Transpose") {
      std::vector<int64_t> perm = n.attr_ints("perm");
      if (perm.empty())
        for (size_t i = 0; i < r; ++i) perm.push_back(static_cast<int64_t>(r - 1 - i));
      for (size_t j = 0; j < perm.size(); ++j)
        if (perm[j] == static_cast<int64_t>(c)) {
          maps_[n.outputs[0]] = {j, m->items};
          return;
        }
      return lock(*m);
    }
    // Squeeze/Unsqueeze: the channel axis moves by the removed/inserted dims before it. The output
    // dims before it are found by matching the channel count from the input's position.
    if (n.op_type == "Squeeze") {
      std::vector<int64_t> axes = n.attr_ints("axes");
      if (axes.empty() && n.has_input(1) && g_.is_initializer(n.inputs[1])) axes = g_.initializers.at(n.inputs[1]).to_i64_vector();
      if (axes.empty()) return lock(*m);
      size_t shift = 0;
      for (int64_t a : axes) {
        if (a < 0) a += static_cast<int64_t>(r);
        if (a == static_cast<int64_t>(c)) return lock(*m);
        if (a < static_cast<int64_t>(c)) ++shift;
      }
      maps_[n.outputs[0]] = {c - shift, m->items};
      return;
    }
    // Unsqueeze
    std::vector<int64_t> axes = n.attr_ints("axes");
    if (axes.empty() && n.has_input(1) && g_.is_initializer(n.inputs[1])) axes = g_.initializers.at(n.inputs[1]).to_i64_vector();
    const int64_t ro = static_cast<int64_t>(so->rank());
    std::vector<bool> inserted(static_cast<size_t>(ro), false);
    for (int64_t a : axes) inserted[static_cast<size_t>(a < 0 ? a + ro : a)] = true;
    size_t seen = 0;
    for (size_t j = 0; j < inserted.size(); ++j) {
      if (inserted[j]) continue;
      if (seen == c) {
        maps_[n.outputs[0]] = {j, m->items};
        return;
      }
      ++seen;
    }
    lock(*m);
  }

  // Per-channel importance of each producer, normalized by the producer's mean.
  void score_items(const std::string& criterion) {
    EDGEOPT_CHECK_ARG(criterion == "l1" || criterion == "l2" || criterion == "bn_scale",
                      "unknown pruning criterion '" + criterion + "' (l1, l2 or bn_scale)");
    score_.assign(parent_.size(), 0.0);
    for (const auto& [idx, items] : produced_) {
      const Node& n = g_.nodes[idx];
      std::vector<double> s(items.size(), 0.0);
      const bool l1 = criterion == "l1";
      auto acc = [&](size_t ch, float v) { s[ch] += l1 ? std::fabs(v) : static_cast<double>(v) * v; };
      const Tensor& w = g_.initializers.at(n.inputs[1]);
      const float* pw = w.data<float>();
      const int64_t rows = static_cast<int64_t>(items.size());
      if (kinds_[idx] == Kind::kConv || (kinds_[idx] == Kind::kGemm && n.attr_int("transB", 0))) {
        const int64_t per = w.numel() / rows;
        for (int64_t o = 0; o < rows; ++o)
          for (int64_t i = 0; i < per; ++i) acc(static_cast<size_t>(o), pw[o * per + i]);
      } else if (kinds_[idx] == Kind::kGemm || kinds_[idx] == Kind::kMatMul) {
        for (int64_t i = 0; i < w.numel(); ++i) acc(static_cast<size_t>(i % rows), pw[i]);
      } else {  // LSTM/GRU: gate rows g*H + h of W and R
        for (size_t wi : {size_t{1}, size_t{2}}) {
          const Tensor& t = g_.initializers.at(n.inputs[wi]);
          const int64_t cols = t.shape()[2], all_rows = t.shape()[1];
          for (int64_t rr = 0; rr < all_rows; ++rr)
            for (int64_t i = 0; i < cols; ++i) acc(static_cast<size_t>(rr % rows), t.data<float>()[rr * cols + i]);
        }
      }
      if (!l1)
        for (auto& v : s) v = std::sqrt(v);
      if (criterion == "bn_scale") {
        const Node* bn = sole_consumer(n.outputs[0]);
        if (bn && bn->op_type == "BatchNormalization")
          for (size_t ch = 0; ch < s.size(); ++ch) s[ch] = std::fabs(g_.initializers.at(bn->inputs[1]).data<float>()[ch]);
      }
      const double mean = std::accumulate(s.begin(), s.end(), 0.0) / std::max<size_t>(s.size(), 1);
      for (size_t ch = 0; ch < items.size(); ++ch) score_[items[ch]] = mean > 0 ? s[ch] / mean : 1.0;
    }
  }

  const Node* sole_consumer(const std::string& v) const {
    const Node* found = nullptr;
    for (const auto& n : g_.nodes)
      for (const auto& i : n.inputs)
        if (i == v) {
          if (found) return nullptr;
          found = &n;
        }
    return found;
  }

  const Graph& g_;
  std::unordered_map<std::string, Shape> shapes_;
  std::unordered_map<std::string, int> uses_;
  std::vector<size_t> order_;
  std::vector<Kind> kinds_;
  std::unordered_map<std::string, ChannelMap> maps_;
  std::unordered_map<size_t, std::vector<int>> produced_;
  std::vector<int> parent_, owner_;
  std::vector<uint8_t> locked_;
  std::set<int> locked_root_;
  std::vector<double> score_;
};

// Which classes survive at keep ratio r: per group (the lowest producer node owning a member), the
// top ceil(r * n) classes by summed normalized score; locked classes always stay.
std::vector<uint8_t> choose(Analysis& a, double r, int64_t min_channels, int64_t multiple,
                            std::vector<PrunedLayer>* layers) {
  const size_t n = a.num_items();
  std::unordered_map<int, double> class_score;
  std::unordered_map<int, int> class_group;
  for (size_t i = 0; i < n; ++i) {
    const int root = a.find(static_cast<int>(i));
    class_score[root] += a.score(static_cast<int>(i));
    const int own = a.owner(static_cast<int>(i));
    if (own >= 0 && (!class_group.count(root) || own < class_group[root])) class_group[root] = own;
  }
  std::map<int, std::vector<int>> groups;
  for (const auto& [root, grp] : class_group)
    if (!a.locked_class(root)) groups[grp].push_back(root);
  std::vector<uint8_t> kept(n, 1);
  for (auto& [grp, roots] : groups) {
    std::sort(roots.begin(), roots.end(), [&](int x, int y) {
      return class_score[x] > class_score[y] || (class_score[x] == class_score[y] && x < y);
    });
    const int64_t total = static_cast<int64_t>(roots.size());
    int64_t keep = static_cast<int64_t>(std::ceil(r * total - 1e-9));
    if (multiple > 1) keep = (keep + multiple - 1) / multiple * multiple;
    keep = std::clamp<int64_t>(keep, std::min(min_channels, total), total);
    for (int64_t i = keep; i < total; ++i) kept[roots[i]] = 0;
    if (layers) layers->push_back({a.graph().nodes[grp].name, total, keep});
  }
  return kept;
}

std::vector<int64_t> kept_indices(Analysis& a, const std::vector<int>& items, const std::vector<uint8_t>& kept) {
  std::vector<int64_t> idx;
  for (size_t i = 0; i < items.size(); ++i)
    if (kept[a.find(items[i])]) idx.push_back(static_cast<int64_t>(i));
  return idx;
}

std::vector<int64_t> all_indices(int64_t n) {
  std::vector<int64_t> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0);
  return v;
}

Graph apply_plan(Analysis& a, const std::vector<uint8_t>& kept) {
  Graph g = a.graph();
  auto in_idx = [&](const Node& n, size_t input, int64_t full) {
    const ChannelMap* m = a.map_of(n.inputs[input]);
    return m ? kept_indices(a, m->items, kept) : all_indices(full);
  };
  for (size_t idx : a.order()) {
    Node& n = g.nodes[idx];
    auto& init = g.initializers;
    switch (a.kind(idx)) {
      case Kind::kConv: {
        const auto out = kept_indices(a, a.produced(idx), kept);
        Tensor& w = init.at(n.inputs[1]);
        w = take_f32(take_f32(w, 0, out), 1, in_idx(n, 0, w.shape()[1]));
        if (n.has_input(2)) init.at(n.inputs[2]) = take_f32(init.at(n.inputs[2]), 0, out);
        break;
      }
      case Kind::kDepthwise: {
        const auto ch = in_idx(n, 0, n.attr_int("group", 1));
        init.at(n.inputs[1]) = take_f32(init.at(n.inputs[1]), 0, ch);
        if (n.has_input(2)) init.at(n.inputs[2]) = take_f32(init.at(n.inputs[2]), 0, ch);
        n.set_attr("group", static_cast<int64_t>(ch.size()));
        break;
      }
      case Kind::kGemm: {
        const auto out = kept_indices(a, a.produced(idx), kept);
        Tensor& b = init.at(n.inputs[1]);
        const bool tb = n.attr_int("transB", 0) != 0;
        const auto in = in_idx(n, 0, tb ? b.shape()[1] : b.shape()[0]);
        b = tb ? take_f32(take_f32(b, 0, out), 1, in) : take_f32(take_f32(b, 0, in), 1, out);
        if (n.has_input(2)) {
          Tensor& c = init.at(n.inputs[2]);
          if (c.numel() > 1) c = take_f32(c, c.rank() - 1, out);
        }
        break;
      }
      case Kind::kMatMul: {
        const auto out = kept_indices(a, a.produced(idx), kept);
        Tensor& b = init.at(n.inputs[1]);
        b = take_f32(take_f32(b, 0, in_idx(n, 0, b.shape()[0])), 1, out);
        break;
      }
      case Kind::kRnn: {
        const auto h = kept_indices(a, a.produced(idx), kept);
        const int64_t hidden = n.attr_int("hidden_size", 0), gates = n.op_type == "LSTM" ? 4 : 3;
        std::vector<int64_t> rows, brows;
        for (int64_t gi = 0; gi < gates; ++gi)
          for (int64_t j : h) rows.push_back(gi * hidden + j);
        brows = rows;
        for (int64_t r : rows) brows.push_back(r + gates * hidden);
        Tensor& w = init.at(n.inputs[1]);
        w = take_f32(take_f32(w, 1, rows), 2, in_idx(n, 0, w.shape()[2]));
        Tensor& r = init.at(n.inputs[2]);
        r = take_f32(take_f32(r, 1, rows), 2, h);
        if (n.has_input(3)) init.at(n.inputs[3]) = take_f32(init.at(n.inputs[3]), 1, brows);
        n.set_attr("hidden_size", static_cast<int64_t>(h.size()));
        break;
      }
      case Kind::kBatchNorm: {
        const ChannelMap* m = a.map_of(n.inputs[0]);
        if (!m) break;
        const auto ch = kept_indices(a, m->items, kept);
        for (size_t i = 1; i < 5; ++i) init.at(n.inputs[i]) = take_f32(init.at(n.inputs[i]), 0, ch);
        break;
      }
      case Kind::kElementwise: {
        const ChannelMap* m = a.map_of(n.outputs[0]);
        if (!m) break;
        const auto ch = kept_indices(a, m->items, kept);
        const int64_t out_rank = static_cast<int64_t>(a.rank_of(n.outputs[0]));
        // Constant operands with all channels along the (right-aligned) channel axis are sliced.
        for (const auto& v : n.inputs) {
          if (v.empty() || a.map_of(v) || !init.count(v)) continue;
          Tensor& t = init.at(v);
          const int64_t d = static_cast<int64_t>(m->axis) + static_cast<int64_t>(t.rank()) - out_rank;
          if (d >= 0 && t.shape()[static_cast<size_t>(d)] == static_cast<int64_t>(m->items.size()))
            t = take_f32(t, static_cast<size_t>(d), ch);
        }
        break;
      }
      default:
        break;
    }
  }
  g.value_info.clear();  // intermediate shapes changed; consumers re-infer
  return g;
}

}  // namespace

nlohmann::json StructuredReport::to_json() const {
  nlohmann::json j;
  j["keep_ratio"] = keep_ratio;
  j["flops_before"] = flops_before;
  j["flops_after"] = flops_after;
  j["flops_ratio"] = flops_before ? static_cast<double>(flops_after) / flops_before : 0.0;
  j["params_before"] = params_before;
  j["params_after"] = params_after;
  j["locked_channels"] = locked_channels;
  for (const auto& l : layers) j["layers"].push_back({{"node", l.node}, {"before", l.before}, {"after", l.after}});
  return j;
}

StructuredReport prune_structured(Graph& g, const StructuredOptions& o) {
  EDGEOPT_CHECK_ARG(o.channel_multiple >= 1 && o.channel_multiple <= 1024,
                    "channel_multiple must be in [1, 1024], got " + std::to_string(o.channel_multiple));
  Analysis a(g, o.criterion);
  a.finalize_locks();
  StructuredReport rep;
  rep.flops_before = graph_flops(g);
  rep.params_before = g.parameter_count();
  for (size_t i = 0; i < a.num_items(); ++i) rep.locked_channels += a.locked_class(a.find(static_cast<int>(i)));
  EDGEOPT_CHECK_ARG(static_cast<size_t>(rep.locked_channels) < a.num_items(),
                    "structured pruning found no prunable channels in '" + g.name +
                        "' (needs Conv/Gemm/MatMul/LSTM/GRU with constant weights whose outputs feed other layers)");
  double r = o.keep_ratio;
  if (o.flops_ratio > 0 && o.flops_ratio < 1) {
    const double target = o.flops_ratio * static_cast<double>(rep.flops_before);
    double lo = 0.0, hi = 1.0;
    for (int it = 0; it < 16; ++it) {
      const double mid = 0.5 * (lo + hi);
      const Graph trial = apply_plan(a, choose(a, mid, o.min_channels, o.channel_multiple, nullptr));
      if (static_cast<double>(graph_flops(trial)) <= target) lo = mid;
      else hi = mid;
    }
    r = lo;
  }
  EDGEOPT_CHECK_ARG(r > 0 && r <= 1, "keep ratio must be in (0, 1], got " + std::to_string(r));
  rep.keep_ratio = r;
  g = apply_plan(a, choose(a, r, o.min_channels, o.channel_multiple, &rep.layers));
  rep.flops_after = graph_flops(g);
  rep.params_after = g.parameter_count();
  return rep;
}

}  // namespace edgeopt::compress

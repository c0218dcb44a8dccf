#include "runtime/session.h"

#include <chrono>
#include <set>

namespace edgeopt::runtime {

void check_ops_supported(const Graph& g) {
  std::string missing;
  size_t count = 0;
  for (const auto& n : g.nodes) {
    const kernels::OpDef* op = kernels::find_op(n.op_type);
    bool ok = op && (n.domain.empty() || n.domain == "ai.onnx");
    if (!ok) {
      if (count++ < 20) missing += (missing.empty() ? "" : ", ") + n.describe() + (n.domain.empty() ? "" : " domain " + n.domain);
    }
  }
  if (count)
    throw_error(ErrorCode::kUnimplemented, std::to_string(count) + " node(s) use ops edgeopt does not support: " +
                                               missing + (count > 20 ? ", ..." : ""));
  if (g.opset < 7 || g.opset > 18)
    throw_error(ErrorCode::kUnimplemented, "ai.onnx opset " + std::to_string(g.opset) + " is outside the supported range 7-18");
}

Session::Session(Graph graph, SessionOptions opts) : graph_(std::move(graph)), opts_(opts) {
  check_ops_supported(graph_);
  nodes_before_optimize_ = graph_.nodes.size();
  if (opts_.optimize) {
    graph_.topo_order();  // a broken graph fails here, before any rewrite, with the usual message
    pass_reports_ = passes::optimize_graph(graph_, passes::PipelineOptions{opts_.bf16_compute});
  }
  order_ = graph_.topo_order();
  ops_.resize(graph_.nodes.size());
  for (size_t pos = 0; pos < order_.size(); ++pos) {
    const Node& n = graph_.nodes[order_[pos]];
    ops_[order_[pos]] = kernels::find_op(n.op_type);
    for (const auto& in : n.inputs)
      if (!in.empty()) last_use_[in] = pos;
  }
  for (const auto& o : graph_.outputs) last_use_[o.name] = order_.size();  // never freed
  for (const auto& [k, t] : graph_.initializers) stats_.initializer_bytes += t.nbytes();
  // Lifetimes for the memory plan: feeds from step 0, node outputs from their node's position, to
  // the last reader (graph outputs: the end; outputs nobody reads: their own step).
  auto add_buffer = [&](const std::string& name, int64_t first) {
    if (name.empty() || plan_index_.count(name) || (graph_.is_initializer(name) && !graph_.find_input(name))) return;
    auto lu = last_use_.find(name);
    plan_index_[name] = plan_buffers_.size();
    plan_names_.push_back(name);
    const int64_t last = lu == last_use_.end() ? first : std::max(first, static_cast<int64_t>(lu->second));
    plan_buffers_.push_back({0, first, last});
  };
  for (const auto& vi : graph_.inputs) add_buffer(vi.name, 0);
  plan_outputs_.resize(order_.size());
  for (size_t pos = 0; pos < order_.size(); ++pos)
    for (const auto& o : graph_.nodes[order_[pos]].outputs) {
      add_buffer(o, static_cast<int64_t>(pos));
      auto it = plan_index_.find(o);
      plan_outputs_[pos].push_back(it == plan_index_.end() ? std::string::npos : it->second);
    }
  plan_sizes_.assign(plan_buffers_.size(), 0);
  for (const auto& vi : graph_.inputs) {
    auto it = plan_index_.find(vi.name);
    input_slots_.push_back(it == plan_index_.end() ? -1 : static_cast<int64_t>(it->second));
  }
  // Slots; graph inputs shadow initializers of the same name (an input with a default value).
  std::vector<std::vector<int64_t>> frees(order_.size());
  for (size_t b = 0; b < plan_buffers_.size(); ++b)
    if (plan_buffers_[b].last < static_cast<int64_t>(order_.size()))
      frees[static_cast<size_t>(plan_buffers_[b].last)].push_back(static_cast<int64_t>(b));
  steps_.resize(order_.size());
  for (size_t pos = 0; pos < order_.size(); ++pos) {
    const Node& n = graph_.nodes[order_[pos]];
    const kernels::OpDef& op = *ops_[order_[pos]];
    Step& st = steps_[pos];
    st.node = &n;
    st.forward = kernels::select_forward(op, opts_.reference_only);
    for (const auto& name : n.inputs) {
      auto it = plan_index_.find(name);
      const bool constant = !name.empty() && it == plan_index_.end();
      if (constant && !graph_.is_initializer(name))
        throw_error(ErrorCode::kInvalidArgument, n.describe() + ": input '" + name + "' has no value");
      st.in_slots.push_back(it == plan_index_.end() ? -1 : static_cast<int64_t>(it->second));
      st.in_consts.push_back(constant ? &graph_.initializers.at(name) : nullptr);
    }
    for (size_t o = 0; o < n.outputs.size(); ++o)
      st.out_slots.push_back(plan_outputs_[pos][o] == std::string::npos ? -1
                                                                         : static_cast<int64_t>(plan_outputs_[pos][o]));
    st.free_after = std::move(frees[pos]);
    if (op.prepare && !opts_.reference_only && op.forward_fast) {
      std::vector<Tensor> consts;
      for (const Tensor* c : st.in_consts) consts.push_back(c ? *c : Tensor());
      kernels::PrepareCtx pctx{n, consts, graph_.opset};
      try {
        st.state = op.prepare(pctx);
      } catch (Error& e) {
        e.add_context(n.describe());
        throw;
      }
    }
  }
  if (opts_.profile) {
    timings_.resize(order_.size());
    for (size_t pos = 0; pos < order_.size(); ++pos) {
      timings_[pos].node = graph_.nodes[order_[pos]].name;
      timings_[pos].op_type = graph_.nodes[order_[pos]].op_type;
    }
  }
}

void Session::validate_feeds(const std::map<std::string, Tensor>& feeds) const {
  for (const auto& vi : graph_.inputs) {
    auto it = feeds.find(vi.name);
    if (it == feeds.end()) {
      if (graph_.is_initializer(vi.name)) continue;  // an input with a default value
      throw_error(ErrorCode::kInvalidArgument, "input '" + vi.name + "' is missing (expects " +
                                                   dtype_name(vi.dtype) + vi.shape.str() + ")");
    }
    const Tensor& t = it->second;
    if (t.dtype() != vi.dtype)
      throw_error(ErrorCode::kInvalidArgument, "input '" + vi.name + "' has dtype " + dtype_name(t.dtype()) +
                                                   " but the model expects " + dtype_name(vi.dtype));
    bool shape_ok = vi.shape.rank() == 0 && vi.dim_params.empty() ? true : t.rank() == vi.shape.rank();
    if (vi.shape.rank() == 0) shape_ok = t.rank() == 0 || vi.dim_params.size() == 1;  // unknown rank allowed
    for (size_t d = 0; shape_ok && d < vi.shape.rank(); ++d)
      if (vi.shape[d] >= 0 && vi.shape[d] != t.shape()[d]) shape_ok = false;
    if (!shape_ok)
      throw_error(ErrorCode::kInvalidArgument, "input '" + vi.name + "' has shape " + t.shape().str() +
                                                   " but the model expects " + vi.shape.str());
  }
  for (const auto& [name, t] : feeds)
    if (!graph_.find_input(name))
      throw_error(ErrorCode::kInvalidArgument, "'" + name + "' is not an input of the model");
}

std::map<std::string, Tensor> Session::run(const std::map<std::string, Tensor>& feeds) {
  validate_feeds(feeds);
  auto t_start = std::chrono::steady_clock::now();
  std::vector<Tensor> values(plan_buffers_.size());
  size_t live = 0, peak = 0;
  for (size_t i = 0; i < graph_.inputs.size(); ++i) {
    const int64_t slot = input_slots_[i];
    if (slot < 0) continue;
    auto it = feeds.find(graph_.inputs[i].name);
    values[slot] = it != feeds.end() ? it->second : graph_.initializers.at(graph_.inputs[i].name);
    live += values[slot].nbytes();
    plan_sizes_[slot] = values[slot].nbytes();
  }
  peak = live;
  std::vector<Tensor> in, out;
  for (size_t pos = 0; pos < steps_.size(); ++pos) {
    const Step& st = steps_[pos];
    const Node& n = *st.node;
    in.resize(st.in_slots.size());
    for (size_t i = 0; i < st.in_slots.size(); ++i)
      in[i] = st.in_slots[i] >= 0 ? values[st.in_slots[i]] : (st.in_consts[i] ? *st.in_consts[i] : Tensor());
    out.assign(st.out_slots.size(), Tensor());
    kernels::ForwardCtx ctx{n, in, out};
    ctx.opset = graph_.opset;
    ctx.state = st.state.get();
    auto t0 = opts_.profile ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
    try {
      st.forward(ctx);
    } catch (Error& e) {
      e.add_context(n.describe());
      throw;
    } catch (const std::exception& e) {
      throw Error(ErrorCode::kInternal, n.describe() + ": " + e.what());
    }
    if (opts_.profile) {
      timings_[pos].total_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      timings_[pos].calls++;
    }
    for (size_t o = 0; o < st.out_slots.size(); ++o) {
      const int64_t slot = st.out_slots[o];
      if (slot < 0) continue;
      if (!out[o].defined())
        throw_error(ErrorCode::kInternal, n.describe() + ": kernel did not produce output '" + n.outputs[o] + "'");
      live += out[o].nbytes();
      plan_sizes_[slot] = out[o].nbytes();
      values[slot] = std::move(out[o]);
    }
    peak = std::max(peak, live);
    // Free every value whose last reader was this step (graph outputs are never freed).
    for (int64_t slot : st.free_after) {
      live -= values[slot].nbytes();
      values[slot] = Tensor();
    }
  }
  std::map<std::string, Tensor> result;
  for (const auto& o : graph_.outputs) {
    auto it = plan_index_.find(o.name);
    if (it != plan_index_.end() && values[it->second].defined()) {
      result[o.name] = values[it->second];
    } else if (graph_.is_initializer(o.name)) {
      result[o.name] = graph_.initializers.at(o.name);
    } else {
      throw_error(ErrorCode::kInvalidArgument, "graph output '" + o.name + "' was not produced");
    }
  }
  stats_.peak_bytes = peak;
  // Re-plan when the activation sizes changed (first run, or new input shapes).
  bool sizes_changed = plan_.offsets.size() != plan_buffers_.size();
  for (size_t i = 0; i < plan_buffers_.size(); ++i) {
    if (plan_sizes_[i] != plan_buffers_[i].bytes) sizes_changed = true;
    plan_buffers_[i].bytes = plan_sizes_[i];
  }
  if (sizes_changed) {
    plan_ = plan_memory_greedy(plan_buffers_);
    stats_.planned_arena_bytes = plan_.arena_bytes;
  }
  stats_.last_run_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t_start).count();
  return result;
}

}  // namespace edgeopt::runtime

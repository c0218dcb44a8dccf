#include "train/autograd/autograd.h"

#include <cstring>

#include "runtime/session.h"

namespace edgeopt::train {

Autograd::Autograd(Graph& graph) : graph_(graph) {
  runtime::check_ops_supported(graph_);
  order_ = graph_.topo_order();
  ops_.resize(graph_.nodes.size());
  for (size_t i = 0; i < graph_.nodes.size(); ++i) ops_[i] = kernels::find_op(graph_.nodes[i].op_type);
}

const Tensor& Autograd::value(const std::string& name) const {
  auto it = values_.find(name);
  if (it == values_.end()) throw_error(ErrorCode::kNotFound, "no value '" + name + "' in the last forward");
  return it->second;
}

std::map<std::string, Tensor> Autograd::forward(const std::map<std::string, Tensor>& feeds, bool training,
                                                uint64_t step) {
  values_.clear();
  saved_.assign(graph_.nodes.size(), {});
  node_out_.assign(graph_.nodes.size(), {});
  for (const auto& vi : graph_.inputs)
    if (!feeds.count(vi.name) && !graph_.is_initializer(vi.name))
      throw_error(ErrorCode::kInvalidArgument, "input '" + vi.name + "' is missing");
  for (const auto& [k, t] : feeds) values_[k] = t;
  std::vector<Tensor> in;
  for (size_t idx : order_) {
    const Node& n = graph_.nodes[idx];
    in.assign(n.inputs.size(), Tensor());
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      const std::string& name = n.inputs[i];
      if (name.empty()) continue;
      auto it = values_.find(name);
      if (it != values_.end()) {
        in[i] = it->second;
        continue;
      }
      auto jt = graph_.initializers.find(name);
      if (jt == graph_.initializers.end())
        throw_error(ErrorCode::kInvalidArgument, n.describe() + ": input '" + name + "' has no value");
      in[i] = jt->second;
    }
    // BatchNorm in training needs its running-stat outputs even when the graph does not name them.
    Node node = n;
    const bool bn = training && n.op_type == "BatchNormalization";
    if (bn) {
      node.outputs.resize(3);
      node.outputs[1] = "__running_mean";
      node.outputs[2] = "__running_var";
      node.set_attr("training_mode", int64_t{1});
    }
    std::vector<Tensor>& out = node_out_[idx];
    out.assign(node.outputs.size(), Tensor());
    kernels::ForwardCtx ctx{node, in, out, training, training ? &saved_[idx] : nullptr,
                            step * 0x9E3779B97F4A7C15ull + idx, graph_.opset};
    try {
      kernels::select_forward(*ops_[idx])(ctx);
    } catch (Error& e) {
      e.add_context(n.describe());
      throw;
    }
    for (size_t o = 0; o < n.outputs.size(); ++o)
      if (!n.outputs[o].empty()) values_[n.outputs[o]] = out[o];
    if (bn) {
      // Copy the updated running statistics into the initializers (in place: shared storage).
      for (size_t k : {3u, 4u}) {
        auto it = graph_.initializers.find(n.inputs[k]);
        if (it != graph_.initializers.end() && out[k - 2].defined() && out[k - 2].nbytes() == it->second.nbytes())
          std::memcpy(it->second.raw(), out[k - 2].raw(), it->second.nbytes());
      }
    }
  }
  have_training_forward_ = training;
  std::map<std::string, Tensor> result;
  for (const auto& o : graph_.outputs) {
    auto it = values_.find(o.name);
    result[o.name] = it != values_.end() ? it->second : graph_.initializers.at(o.name);
  }
  return result;
}

namespace {
void accumulate(std::unordered_map<std::string, Tensor>& grads, const std::string& name, const Tensor& g) {
  auto it = grads.find(name);
  if (it == grads.end()) {
    grads[name] = g;
    return;
  }
  Tensor sum = it->second.clone();  // gradients from kernels may alias forward values
  float* s = sum.data<float>();
  const float* p = g.data<float>();
  for (int64_t i = 0; i < sum.numel(); ++i) s[i] += p[i];
  it->second = sum;
}
}  // namespace

std::unordered_map<std::string, Tensor> Autograd::backward(const std::map<std::string, Tensor>& grad_outputs,
                                                           bool include_inputs) {
  EDGEOPT_CHECK(have_training_forward_, ErrorCode::kFailedPrecondition, "backward() needs a training forward() first");
  std::unordered_map<std::string, Tensor> grads;
  for (const auto& [k, g] : grad_outputs) {
    auto it = values_.find(k);
    if (it == values_.end()) throw_error(ErrorCode::kNotFound, "no output '" + k + "' to take a gradient from");
    EDGEOPT_CHECK_ARG(g.shape() == it->second.shape(),
                      "gradient for '" + k + "' has shape " + g.shape().str() + ", value has " + it->second.shape().str());
    grads[k] = g;
  }
  std::vector<Tensor> in, grad_out, grad_in;
  for (size_t pos = order_.size(); pos-- > 0;) {
    const size_t idx = order_[pos];
    const Node& n = graph_.nodes[idx];
    bool any = false;
    grad_out.assign(node_out_[idx].size(), Tensor());
    for (size_t o = 0; o < n.outputs.size(); ++o) {
      auto it = n.outputs[o].empty() ? grads.end() : grads.find(n.outputs[o]);
      if (it != grads.end()) {
        grad_out[o] = it->second;
        any = true;
      }
    }
    if (!any) continue;
    for (size_t o = 0; o < grad_out.size(); ++o)  // kernels may assume every float output has a gradient
      if (!grad_out[o].defined() && node_out_[idx][o].defined() && node_out_[idx][o].dtype() == DType::kF32)
        grad_out[o] = Tensor::zeros(DType::kF32, node_out_[idx][o].shape());
    if (!ops_[idx]->backward)
      throw_error(ErrorCode::kUnimplemented, n.describe() + " has no gradient, but a gradient reaches its output");
    in.assign(n.inputs.size(), Tensor());
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (n.inputs[i].empty()) continue;
      auto it = values_.find(n.inputs[i]);
      in[i] = it != values_.end() ? it->second : graph_.initializers.at(n.inputs[i]);
    }
    grad_in.assign(n.inputs.size(), Tensor());
    Node node = n;
    if (n.op_type == "BatchNormalization") {
      node.outputs.resize(3);
      node.outputs[1] = "__running_mean";
      node.outputs[2] = "__running_var";
      node.set_attr("training_mode", int64_t{1});
    }
    kernels::BackwardCtx ctx{node, in, node_out_[idx], saved_[idx], grad_out, grad_in};
    try {
      ops_[idx]->backward(ctx);
    } catch (Error& e) {
      e.add_context(n.describe() + " backward");
      throw;
    }
    for (size_t i = 0; i < n.inputs.size(); ++i)
      if (grad_in[i].defined() && !n.inputs[i].empty()) accumulate(grads, n.inputs[i], grad_in[i]);
  }
  std::unordered_map<std::string, Tensor> result;
  for (auto& [k, g] : grads) {
    auto it = graph_.initializers.find(k);
    if (it != graph_.initializers.end() && it->second.dtype() == DType::kF32) result[k] = g;
    else if (include_inputs && graph_.find_input(k)) result[k] = g;
  }
  return result;
}

}  // namespace edgeopt::train

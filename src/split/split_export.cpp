#include "split/split_export.h"

#include <cmath>
#include <set>

#include "quantize/calibrate.h"
#include "quantize/observers.h"
#include "runtime/session.h"
#include "train/data/dataset.h"

namespace edgeopt::split {

TransportParams calibrate_transport(const Graph& g, const Tensor& x) {
  EDGEOPT_CHECK_ARG(x.defined() && x.rank() >= 1 && x.shape()[0] > 0, "int8 transport calibration needs samples");
  EDGEOPT_CHECK_ARG(g.inputs.size() == 1, "int8 transport calibration needs exactly one graph input");
  std::vector<int64_t> one = x.shape().dims();
  one[0] = 1;
  const Tensor first = Tensor::borrow(x.dtype(), Shape(one), const_cast<void*>(x.raw()));
  std::vector<std::string> values;
  for (const auto& [name, s] : measure_value_shapes(g, first.clone()))
    if (s.dtype == DType::kF32) values.push_back(name);
  quantize::QuantOptions o;
  o.calib = quantize::CalibMethod::kMinMax;
  const auto ranges = quantize::calibrate(g, values, x, o);
  TransportParams p;
  for (const auto& [name, r] : ranges) {
    const quantize::QParam q = quantize::choose_qparams(r, quantize::ActScheme::kAsymmetricU8);
    p.int8[name] = {q.scale, q.zero_point};
  }
  return p;
}

namespace {

ValueInfo wire_info(const std::string& name, DType dt, const Shape& shape, bool batched) {
  ValueInfo vi;
  vi.name = name;
  vi.dtype = dt;
  vi.shape = shape;
  if (batched && shape.rank() >= 1) {
    vi.shape.dims()[0] = -1;
    vi.dim_params.assign(shape.rank(), "");
    vi.dim_params[0] = "N";
  }
  return vi;
}

// Copies the initializers and value_info the nodes of `half` read from `full`.
void take_constants(const Graph& full, Graph& half) {
  for (const auto& n : half.nodes) {
    for (const auto& in : n.inputs) {
      auto it = full.initializers.find(in);
      if (!in.empty() && it != full.initializers.end()) half.initializers[in] = it->second;
    }
    for (const auto& out : n.outputs) {
      auto it = full.value_info.find(out);
      if (it != full.value_info.end()) half.value_info[out] = it->second;
    }
  }
}

Graph empty_like(const Graph& g, const std::string& suffix) {
  Graph h;
  h.name = g.name + suffix;
  h.opset = g.opset;
  h.metadata = g.metadata;
  return h;
}

}  // namespace

SplitHalves split_model(const Graph& g, const Cut& cut, Transport t, const TransportParams& q) {
  EDGEOPT_CHECK_ARG(cut.index <= g.nodes.size(), "cut " + std::to_string(cut.index) + " is past the " +
                                                     std::to_string(g.nodes.size()) + " nodes of the model");
  SplitHalves h;
  h.cut = cut.index;
  h.transport = t;
  h.edge = empty_like(g, ".edge");
  h.cloud = empty_like(g, ".cloud");
  // Per-tensor QuantizeLinear/DequantizeLinear exist from opset 10 with the same semantics since.
  if (t == Transport::kInt8 && g.opset < 10) h.edge.opset = h.cloud.opset = 10;
  h.edge.inputs = g.inputs;
  for (size_t i = 0; i < cut.index; ++i) h.edge.nodes.push_back(g.nodes[i]);
  for (size_t i = cut.index; i < g.nodes.size(); ++i) h.cloud.nodes.push_back(g.nodes[i]);
  take_constants(g, h.edge);
  take_constants(g, h.cloud);
  h.cloud_outputs = cut.cloud_outputs;
  std::set<std::string> cloud_out(cut.cloud_outputs.begin(), cut.cloud_outputs.end());
  for (const auto& o : g.outputs) {
    if (cloud_out.count(o.name)) h.cloud.outputs.push_back(o);
    else {
      h.edge.outputs.push_back(o);
      h.edge_outputs.push_back(o.name);
    }
  }
  // Conversions are prepended to the cloud half in wire order, so collect them first.
  std::vector<Node> cloud_head;
  for (const auto& c : cut.crossing) {
    WireTensor w;
    w.value = c.name;
    w.wire_name = g.unique_name(c.name + "__wire");
    w.shape = c.shape;
    w.batched = c.batched;
    const bool f32 = c.dtype == DType::kF32;
    Node to_wire, from_wire;
    to_wire.name = w.wire_name + "/to_wire";
    from_wire.name = w.wire_name + "/from_wire";
    to_wire.outputs = {w.wire_name};
    from_wire.outputs = {c.name};
    if (!f32 || t == Transport::kF32) {
      w.wire_dtype = c.dtype;
      to_wire.op_type = from_wire.op_type = "Identity";
      to_wire.inputs = {c.name};
      from_wire.inputs = {w.wire_name};
    } else if (t == Transport::kF16) {
      w.wire_dtype = DType::kF16;
      to_wire.op_type = from_wire.op_type = "Cast";
      to_wire.inputs = {c.name};
      to_wire.set_attr("to", int64_t{10});
      from_wire.inputs = {w.wire_name};
      from_wire.set_attr("to", int64_t{1});
    } else {
      auto it = q.int8.find(c.name);
      EDGEOPT_CHECK_ARG(it != q.int8.end(), "int8 transport: tensor '" + c.name +
                                                "' crossing the cut has no calibrated scale (run calibrate_transport "
                                                "on samples, or use --transport fp16)");
      w.quant = it->second;
      w.wire_dtype = DType::kU8;
      const std::string s = g.unique_name(c.name + "__wire_scale"), z = g.unique_name(c.name + "__wire_zero_point");
      const Tensor st = Tensor::scalar_f32(w.quant.scale);
      Tensor zt(DType::kU8, Shape{});
      zt.data<uint8_t>()[0] = static_cast<uint8_t>(w.quant.zero_point);
      for (Graph* half : {&h.edge, &h.cloud}) {
        half->initializers[s] = st;
        half->initializers[z] = zt;
      }
      to_wire.op_type = "QuantizeLinear";
      to_wire.inputs = {c.name, s, z};
      from_wire.op_type = "DequantizeLinear";
      from_wire.inputs = {w.wire_name, s, z};
    }
    h.edge.nodes.push_back(std::move(to_wire));
    h.edge.outputs.push_back(wire_info(w.wire_name, w.wire_dtype, w.shape, w.batched));
    h.cloud.inputs.push_back(wire_info(w.wire_name, w.wire_dtype, w.shape, w.batched));
    cloud_head.push_back(std::move(from_wire));
    h.wire.push_back(std::move(w));
  }
  h.cloud.nodes.insert(h.cloud.nodes.begin(), cloud_head.begin(), cloud_head.end());
  return h;
}

SplitRunner::SplitRunner(const SplitHalves& h) : h_(h) {
  edge_ = std::make_unique<runtime::Session>(h_.edge);
  if (!h_.all_edge()) cloud_ = std::make_unique<runtime::Session>(h_.cloud);
}

SplitRunner::~SplitRunner() = default;

std::map<std::string, Tensor> SplitRunner::run_edge(const std::map<std::string, Tensor>& feeds) {
  return edge_->run(feeds);
}

std::map<std::string, Tensor> SplitRunner::run_cloud(const std::map<std::string, Tensor>& wire) {
  if (!cloud_) return {};
  return cloud_->run(wire);
}

std::map<std::string, Tensor> SplitRunner::run(const std::map<std::string, Tensor>& feeds) {
  auto e = run_edge(feeds);
  std::map<std::string, Tensor> out, wire;
  for (const auto& name : h_.edge_outputs) out[name] = e.at(name);
  for (const auto& w : h_.wire) wire[w.wire_name] = e.at(w.wire_name);
  for (auto& [name, t] : run_cloud(wire)) out[name] = std::move(t);
  return out;
}

}  // namespace edgeopt::split

#include "onnx/export.h"

#include <algorithm>
#include <fstream>
#include <set>

#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>

#include "onnx/import.h"
#include "onnx/onnx_util.h"
#include "onnx/tensor_proto.h"

namespace edgeopt::onnx {

namespace {

using ::onnx::AttributeProto;
using ::onnx::ModelProto;

void value_info_to_proto(const ValueInfo& v, ::onnx::ValueInfoProto* p) {
  p->set_name(v.name);
  auto* tt = p->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(dtype_to_onnx(v.dtype));
  if (v.shape.rank() == 0 && v.dim_params.size() == 1) return;  // unknown rank: no shape
  auto* shape = tt->mutable_shape();
  for (size_t i = 0; i < v.shape.rank(); ++i) {
    auto* d = shape->add_dim();
    if (v.shape[i] >= 0) d->set_dim_value(v.shape[i]);
    else if (i < v.dim_params.size() && !v.dim_params[i].empty()) d->set_dim_param(v.dim_params[i]);
  }
}

void attribute_to_proto(const std::string& name, const Attribute& a, AttributeProto* p) {
  p->set_name(name);
  std::visit(
      [&](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          p->set_type(AttributeProto::INT);
          p->set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          p->set_type(AttributeProto::FLOAT);
          p->set_f(v);
        } else if constexpr (std::is_same_v<T, std::string>) {
          p->set_type(AttributeProto::STRING);
          p->set_s(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          p->set_type(AttributeProto::INTS);
          for (int64_t x : v) p->add_ints(x);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          p->set_type(AttributeProto::FLOATS);
          for (float x : v) p->add_floats(x);
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          p->set_type(AttributeProto::STRINGS);
          for (const auto& x : v) p->add_strings(x);
        } else {
          p->set_type(AttributeProto::TENSOR);
          *p->mutable_t() = tensor_to_proto(v, "");
        }
      },
      a.value);
}

// The share of exact zeros of an f32 tensor.
double zero_fraction(const Tensor& t) {
  if (t.dtype() != DType::kF32 || t.numel() == 0) return 0;
  const float* p = t.data<float>();
  int64_t zeros = 0;
  for (int64_t i = 0; i < t.numel(); ++i) zeros += p[i] == 0.f;
  return static_cast<double>(zeros) / static_cast<double>(t.numel());
}

::onnx::SparseTensorProto sparse_to_proto(const Tensor& t, const std::string& name) {
  ::onnx::SparseTensorProto sp;
  for (int64_t d : t.shape().dims()) sp.add_dims(d);
  std::vector<float> values;
  std::vector<int64_t> indices;
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i)
    if (p[i] != 0.f) values.push_back(p[i]), indices.push_back(i);  // ascending, as the checker requires
  const int64_t nnz = static_cast<int64_t>(values.size());
  *sp.mutable_values() = tensor_to_proto(Tensor::from_vector<float>({nnz}, values), name);
  *sp.mutable_indices() = tensor_to_proto(Tensor::from_vector<int64_t>({nnz}, indices), "");
  return sp;
}

ModelProto graph_to_model(const Graph& g, const SaveOptions& o) {
  ModelProto m;
  m.set_ir_version(ir_version_for_opset(g.opset));
  m.set_producer_name("edgeopt");
  m.set_producer_version("0.1.0");
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(g.opset);
  std::set<std::string> domains;
  for (const auto& n : g.nodes)
    if (!n.domain.empty() && n.domain != "ai.onnx") domains.insert(n.domain);
  for (const auto& d : domains) {
    auto* o = m.add_opset_import();
    o->set_domain(d);
    o->set_version(1);
  }
  for (const auto& [k, v] : g.metadata) {
    auto* kv = m.add_metadata_props();
    kv->set_key(k);
    kv->set_value(v);
  }
  auto* gp = m.mutable_graph();
  gp->set_name(g.name.empty() ? "edgeopt" : g.name);
  for (const auto& n : g.nodes) {
    auto* np = gp->add_node();
    np->set_name(n.name);
    np->set_op_type(n.op_type);
    if (!n.domain.empty()) np->set_domain(n.domain);
    for (const auto& i : n.inputs) np->add_input(i);
    for (const auto& o : n.outputs) np->add_output(o);
    for (const auto& [k, a] : n.attrs) {
      try {
        attribute_to_proto(k, a, np->add_attribute());
      } catch (Error& e) {
        e.add_context(n.describe() + ": attribute '" + k + "'");
        throw;
      }
    }
  }
  std::vector<std::string> init_names;
  for (const auto& [k, t] : g.initializers) init_names.push_back(k);
  std::sort(init_names.begin(), init_names.end());
  const bool sparse_ok = o.sparse_initializers && g.opset >= 11;
  for (const auto& k : init_names) {
    const Tensor& t = g.initializers.at(k);
    if (sparse_ok && !g.find_input(k) && t.numel() >= 64 && zero_fraction(t) >= o.min_sparsity)
      *gp->add_sparse_initializer() = sparse_to_proto(t, k);
    else
      *gp->add_initializer() = tensor_to_proto(t, k);
  }
  for (const auto& v : g.inputs) value_info_to_proto(v, gp->add_input());
  for (const auto& v : g.outputs) value_info_to_proto(v, gp->add_output());
  std::vector<std::string> vi_names;
  for (const auto& [k, v] : g.value_info)
    if (!g.find_input(k) && !g.is_initializer(k)) vi_names.push_back(k);
  std::sort(vi_names.begin(), vi_names.end());
  for (const auto& k : vi_names) {
    bool is_output = false;
    for (const auto& o : g.outputs) is_output |= o.name == k;
    if (!is_output) value_info_to_proto(g.value_info.at(k), gp->add_value_info());
  }
  return m;
}

}  // namespace

std::string save_model_to_bytes(const Graph& g, const SaveOptions& o) {
  ModelProto m = graph_to_model(g, o);
  // Experimental ops make the checker print a warning to stderr and skip the model anyway.
  bool experimental = false;
  for (const auto& n : g.nodes) experimental |= n.domain.empty() && ::onnx::checker::check_is_experimental_op(n.op_type);
  if (g.opset <= onnx_library_max_opset() && !experimental) {
    try {
      ::onnx::checker::check_model(m);  // also checks sparse initializers (sorted, in-range indices)
      install_inference_guards();
      // Shape inference on the dense form: ONNX 1.12 does not see sparse initializers' shapes.
      ModelProto copy = o.sparse_initializers ? graph_to_model(g, {}) : m;
      ::onnx::ShapeInferenceOptions si(/*check_type=*/true, /*error_mode=*/1, /*data_prop=*/false);
      ::onnx::shape_inference::InferShapes(copy, ::onnx::OpSchemaRegistry::Instance(), si);
    } catch (const std::exception& e) {
      throw_error(ErrorCode::kInternal, "the exported graph '" + g.name + "' fails ONNX validation: " + one_line(e.what()));
    }
  }
  std::string out;
  if (!m.SerializeToString(&out))
    throw_error(ErrorCode::kInternal, "cannot serialize the model (over 2 GiB?)");
  return out;
}

void save_model(const Graph& g, const std::string& path, const SaveOptions& o) {
  try {
    std::string bytes = save_model_to_bytes(g, o);
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw_error(ErrorCode::kInvalidArgument, "cannot open for writing");
    f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!f) throw_error(ErrorCode::kInvalidArgument, "error writing the model");
  } catch (Error& e) {
    e.add_context("file '" + path + "'");
    throw;
  }
}

}  // namespace edgeopt::onnx

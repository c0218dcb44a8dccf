#include "onnx/import.h"

#include <climits>
#include <filesystem>
#include <set>
#include <unordered_set>

#include <google/protobuf/io/coded_stream.h>
#include <onnx/checker.h>
#include <onnx/defs/schema.h>
#include <onnx/shape_inference/implementation.h>
#include <onnx/version_converter/convert.h>

#include "onnx/onnx_util.h"
#include "onnx/tensor_proto.h"
#include "runtime/session.h"

namespace edgeopt::onnx {

namespace {

using ::onnx::AttributeProto;
using ::onnx::ModelProto;
using ::onnx::TensorProto;
using ::onnx::ValueInfoProto;

constexpr int kMinOpset = 7;
constexpr int kMaxOpset = 18;

int64_t ai_onnx_opset(const ModelProto& m, bool* found) {
  *found = false;
  int64_t v = 0;
  for (const auto& op : m.opset_import())
    if (op.domain().empty() || op.domain() == "ai.onnx") {
      v = op.version();
      *found = true;
    }
  return v;
}

// Resolves external data into raw_data so the checker and inference see a self-contained model.
void inline_external(TensorProto& t, const std::string& model_dir) {
  if (t.data_location() != TensorProto::EXTERNAL) return;
  Tensor v = tensor_from_proto(t, model_dir);
  if (t.data_type() == TensorProto::DOUBLE) {
    t = tensor_to_proto(v, t.name());  // converted to FLOAT on the way
  } else {
    t.set_raw_data(std::string(static_cast<const char*>(v.raw()), v.nbytes()));
  }
  t.clear_external_data();
  t.set_data_location(TensorProto::DEFAULT);
}

void inline_external_data(::onnx::GraphProto& g, const std::string& model_dir) {
  for (auto& t : *g.mutable_initializer()) inline_external(t, model_dir);
  for (auto& n : *g.mutable_node())
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_t()) inline_external(*a.mutable_t(), model_dir);
      for (auto& t : *a.mutable_tensors()) inline_external(t, model_dir);
    }
}

// Fills the type of a ValueInfo from its proto. Returns false (or throws when `required`) when
// the value is not a tensor of a supported dtype.
bool value_info_from_proto(const ValueInfoProto& p, ValueInfo& out, bool required, const std::string& what) {
  out.name = p.name();
  const std::string label = what + " '" + p.name() + "'";
  if (!p.has_type() || !p.type().has_tensor_type()) {
    if (!required) return false;
    if (!p.has_type())
      throw_error(ErrorCode::kInvalidArgument, label + " has no type");
    throw_error(ErrorCode::kUnimplemented, label + " is not a tensor (sequence, map, optional and sparse values "
                                                   "are not supported)");
  }
  const auto& tt = p.type().tensor_type();
  if (!tt.has_elem_type() || tt.elem_type() == TensorProto::UNDEFINED) {
    if (!required) return false;
    throw_error(ErrorCode::kInvalidArgument, label + " has no element type");
  }
  if (required) {
    if (tt.elem_type() == TensorProto::DOUBLE)
      throw_error(ErrorCode::kUnimplemented, label + " has element type DOUBLE; edgeopt computes in f32 and does "
                                                     "not take f64 inputs/outputs (cast the model's inputs to FLOAT)");
    out.dtype = dtype_from_onnx(tt.elem_type(), label);
  } else {
    try {
      out.dtype = dtype_from_onnx(tt.elem_type(), label);
    } catch (const Error&) {
      return false;
    }
  }
  out.shape = Shape();
  out.dim_params.clear();
  if (!tt.has_shape()) {
    out.dim_params = {"?"};  // unknown rank, see ValueInfo conventions in import.h
    return true;
  }
  bool any_param = false;
  for (const auto& d : tt.shape().dim()) {
    if (d.has_dim_value()) {
      if (d.dim_value() < 0)
        throw_error(ErrorCode::kInvalidArgument, label + " has a negative dim " + std::to_string(d.dim_value()));
      out.shape.dims().push_back(d.dim_value());
      out.dim_params.push_back("");
    } else {
      out.shape.dims().push_back(-1);
      out.dim_params.push_back(d.has_dim_param() ? d.dim_param() : "");
      any_param |= d.has_dim_param() && !d.dim_param().empty();
    }
  }
  if (!any_param) out.dim_params.clear();  // all numeric or unknown: no names to keep
  return true;
}

Attribute::Value attribute_from_proto(const AttributeProto& a, const Node& n, const std::string& model_dir) {
  const std::string label = n.describe() + ": attribute '" + a.name() + "'";
  if (!a.ref_attr_name().empty())
    throw_error(ErrorCode::kUnimplemented, label + " refers to a function attribute, which is not supported");
  int type = a.type();
  if (type == AttributeProto::UNDEFINED) {  // very old models set only the value field
    if (a.has_f()) type = AttributeProto::FLOAT;
    else if (a.has_i()) type = AttributeProto::INT;
    else if (a.has_s()) type = AttributeProto::STRING;
    else if (a.has_t()) type = AttributeProto::TENSOR;
    else if (a.has_g()) type = AttributeProto::GRAPH;
    else if (a.floats_size()) type = AttributeProto::FLOATS;
    else if (a.ints_size()) type = AttributeProto::INTS;
    else if (a.strings_size()) type = AttributeProto::STRINGS;
    else if (a.tensors_size()) type = AttributeProto::TENSORS;
    else if (a.graphs_size()) type = AttributeProto::GRAPHS;
    else throw_error(ErrorCode::kInvalidArgument, label + " has no type and no value");
  }
  try {
    switch (type) {
      case AttributeProto::FLOAT: return a.f();
      case AttributeProto::INT: return a.i();
      case AttributeProto::STRING: return a.s();
      case AttributeProto::TENSOR: return tensor_from_proto(a.t(), model_dir);
      case AttributeProto::FLOATS: return std::vector<float>(a.floats().begin(), a.floats().end());
      case AttributeProto::INTS: return std::vector<int64_t>(a.ints().begin(), a.ints().end());
      case AttributeProto::STRINGS: return std::vector<std::string>(a.strings().begin(), a.strings().end());
      case AttributeProto::GRAPH:
      case AttributeProto::GRAPHS:
        throw_error(ErrorCode::kUnimplemented, "subgraphs (If/Loop/Scan bodies) are not supported");
      case AttributeProto::TENSORS: throw_error(ErrorCode::kUnimplemented, "lists of tensors are not supported");
      case AttributeProto::SPARSE_TENSOR:
      case AttributeProto::SPARSE_TENSORS:
        throw_error(ErrorCode::kUnimplemented, "sparse tensors are not supported");
      case AttributeProto::TYPE_PROTO:
      case AttributeProto::TYPE_PROTOS:
        throw_error(ErrorCode::kUnimplemented, "type attributes are not supported");
      default: throw_error(ErrorCode::kInvalidArgument, "unknown attribute type " + std::to_string(type));
    }
  } catch (Error& e) {
    e.add_context(label);
    throw;
  }
}

// Values must be defined before use and every graph output must exist. The 1.12 checker does not
// check outputs, and the version converter and inference dereference missing producers.
void check_structure(const ::onnx::GraphProto& g) {
  std::unordered_set<std::string> defined;
  for (const auto& v : g.input()) defined.insert(v.name());
  for (const auto& t : g.initializer()) defined.insert(t.name());
  for (int i = 0; i < g.node_size(); ++i) {
    const auto& n = g.node(i);
    for (const auto& in : n.input())
      if (!in.empty() && !defined.count(in))
        throw_error(ErrorCode::kInvalidArgument, "node " + std::to_string(i) + " '" + n.name() + "' (" + n.op_type() +
                                                     ") reads '" + in + "', which no earlier node, input or "
                                                     "initializer defines");
    for (const auto& out : n.output())
      if (!out.empty()) defined.insert(out);
  }
  for (const auto& v : g.output())
    if (!defined.count(v.name()))
      throw_error(ErrorCode::kInvalidArgument, "graph output '" + v.name() + "' is not produced by any node");
}

void maybe_convert_opset(ModelProto& m, int64_t opset) {
  if (opset >= kMinOpset) return;
  if (opset < 1) throw_error(ErrorCode::kInvalidArgument, "ai.onnx opset import " + std::to_string(opset) + " is invalid");
  try {
    m = ::onnx::version_conversion::ConvertVersion(m, kMinOpset);
  } catch (const std::exception& e) {
    throw_error(ErrorCode::kUnimplemented,
                "ai.onnx opset " + std::to_string(opset) + " is older than the supported 7-18 and ONNX's version "
                    "converter could not upgrade it: " + one_line(e.what()));
  }
}

Graph convert_model(ModelProto& m, const std::string& model_dir, const LoadOptions& options) {
  install_inference_guards();  // before inference and the version converter use it
  bool found = false;
  int64_t opset = ai_onnx_opset(m, &found);
  if (!m.has_graph()) throw_error(ErrorCode::kInvalidArgument, "the model has no graph");
  if (found && opset > kMaxOpset)
    throw_error(ErrorCode::kUnimplemented,
                "ai.onnx opset " + std::to_string(opset) + " is newer than the supported 7-18");
  inline_external_data(*m.mutable_graph(), model_dir);
  // Sparse initializers (pruned weights stored as COO) become dense TensorProtos before anything
  // else looks at the model: ONNX 1.12's shape inference does not see their shapes.
  if (m.graph().sparse_initializer_size() > 0) {
    ::onnx::GraphProto* gp = m.mutable_graph();
    std::unordered_set<std::string> dense_names;
    for (const auto& t : gp->initializer()) dense_names.insert(t.name());
    for (const auto& sp : gp->sparse_initializer()) {
      const std::string& name = sp.values().name();
      EDGEOPT_CHECK_ARG(!dense_names.count(name), "initializer '" + name + "' is defined both dense and sparse");
      dense_names.insert(name);
      *gp->add_initializer() = tensor_to_proto(tensor_from_sparse_proto(sp, model_dir), name);
    }
    gp->clear_sparse_initializer();
  }
  check_structure(m.graph());

  const bool known_opset = !found || opset <= onnx_library_max_opset();
  // The checker skips models with experimental ops (ImageScaler, Crop, ...) and prints a warning
  // to stderr; skip it ourselves so the CLI's one-line error rule holds.
  bool experimental = false;
  for (const auto& n : m.graph().node())
    experimental |= (n.domain().empty() || n.domain() == "ai.onnx") && ::onnx::checker::check_is_experimental_op(n.op_type());
  const bool old_opset = found && opset < kMinOpset;
  // The version converter assumes a valid model: old opsets are always checked first.
  if ((options.check || old_opset) && known_opset) {
    if (experimental && old_opset)
      throw_error(ErrorCode::kUnimplemented, "opset " + std::to_string(opset) + " models with experimental ops "
                                             "cannot be checked or converted to opset 7");
    if (!experimental) {
      try {
        ::onnx::checker::check_model(m);
      } catch (const std::exception& e) {
        throw_error(ErrorCode::kInvalidArgument, "the ONNX checker rejects the model: " + one_line(e.what()));
      }
    }
  }
  if (old_opset) {
    maybe_convert_opset(m, opset);
    opset = ai_onnx_opset(m, &found);
  }
  if (options.check) {
    try {
      ::onnx::ShapeInferenceOptions si(/*check_type=*/known_opset, /*error_mode=*/known_opset ? 1 : 0,
                                       /*data_prop=*/true);
      ::onnx::shape_inference::InferShapes(m, ::onnx::OpSchemaRegistry::Instance(), si);
    } catch (const std::exception& e) {
      if (known_opset)
        throw_error(ErrorCode::kInvalidArgument, "ONNX shape inference fails: " + one_line(e.what()));
      m.mutable_graph()->clear_value_info();  // lenient for opsets newer than the ONNX library
    }
  }

  const ::onnx::GraphProto& gp = m.graph();
  Graph g;
  g.name = gp.name().empty() ? "edgeopt" : gp.name();
  if (found) g.opset = opset;
  for (const auto& kv : m.metadata_props()) g.metadata[kv.key()] = kv.value();

  for (const auto& t : gp.initializer()) {
    if (t.name().empty()) throw_error(ErrorCode::kInvalidArgument, "an initializer has no name");
    g.initializers[t.name()] = tensor_from_proto(t, model_dir);
  }

  std::unordered_set<std::string> declared;
  for (const auto& vi : gp.input()) {
    if (g.is_initializer(vi.name())) continue;  // a default value, not a runtime input
    ValueInfo v;
    value_info_from_proto(vi, v, true, "graph input");
    declared.insert(v.name);
    g.inputs.push_back(std::move(v));
  }
  for (const auto& vi : gp.output()) {
    ValueInfo v;
    value_info_from_proto(vi, v, true, "graph output");
    declared.insert(v.name);
    g.outputs.push_back(std::move(v));
  }
  for (const auto& vi : gp.value_info()) {
    if (declared.count(vi.name()) || g.is_initializer(vi.name())) continue;
    ValueInfo v;
    if (value_info_from_proto(vi, v, false, "value")) g.value_info[v.name] = std::move(v);
  }

  std::set<std::string> names;
  for (const auto& np : gp.node()) names.insert(np.name());
  g.nodes.reserve(gp.node_size());
  for (int i = 0; i < gp.node_size(); ++i) {
    const auto& np = gp.node(i);
    Node n;
    n.op_type = np.op_type();
    n.domain = np.domain() == "ai.onnx" ? "" : np.domain();
    n.name = np.name();
    if (n.name.empty()) {
      n.name = n.op_type + "_" + std::to_string(i);
      for (int k = 1; names.count(n.name); ++k) n.name = n.op_type + "_" + std::to_string(i) + "_" + std::to_string(k);
      names.insert(n.name);
    }
    n.inputs.assign(np.input().begin(), np.input().end());
    n.outputs.assign(np.output().begin(), np.output().end());
    for (const auto& a : np.attribute()) {
      if (a.name().empty()) throw_error(ErrorCode::kInvalidArgument, n.describe() + " has an attribute without a name");
      n.attrs[a.name()] = Attribute{attribute_from_proto(a, n, model_dir)};
    }
    g.nodes.push_back(std::move(n));
  }
  if (options.validate_ops) runtime::check_ops_supported(g);
  return g;
}

}  // namespace

int onnx_library_max_opset() {
  const auto& map = ::onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  auto it = map.find("");
  return it == map.end() ? 17 : it->second.second;
}

Graph load_model_from_bytes(std::string_view bytes, const std::string& origin, const std::string& model_dir,
                            const LoadOptions& options) {
  try {
    if (bytes.size() > static_cast<size_t>(INT_MAX))
      throw_error(ErrorCode::kUnimplemented, "models over 2 GiB must keep their weights as external data");
    if (bytes.empty()) throw_error(ErrorCode::kInvalidArgument, "the file is empty, not an ONNX model");
    ModelProto m;
    google::protobuf::io::CodedInputStream in(reinterpret_cast<const uint8_t*>(bytes.data()),
                                              static_cast<int>(bytes.size()));
    in.SetTotalBytesLimit(INT_MAX);
    if (!m.ParseFromCodedStream(&in) || !in.ConsumedEntireMessage())
      throw_error(ErrorCode::kInvalidArgument, "not a valid ONNX model (truncated or corrupt protobuf, " +
                                                   std::to_string(bytes.size()) + " bytes)");
    return convert_model(m, model_dir, options);
  } catch (Error& e) {
    e.add_context("file '" + origin + "'");
    throw;
  } catch (const std::bad_alloc&) {
    Error e(ErrorCode::kResourceExhausted, "out of memory while loading the model");
    e.add_context("file '" + origin + "'");
    throw e;
  } catch (const std::exception& e) {
    Error err(ErrorCode::kInvalidArgument, one_line(e.what()));
    err.add_context("file '" + origin + "'");
    throw err;
  }
}

Graph load_model(const std::string& path, const LoadOptions& options) {
  std::string bytes = read_file_bytes(path);  // its errors already name the file
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  return load_model_from_bytes(bytes, path, dir.empty() ? std::string(".") : dir.string(), options);
}

}  // namespace edgeopt::onnx

#include "serve/model_config.h"

#include <google/protobuf/io/tokenizer.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <fstream>
#include <sstream>

#include "model_config.pb.h"

namespace edgeopt::serve {

namespace {

struct DTypeName {
  DType dtype;
  const char* oip;
  inference::DataType proto;
};
constexpr DTypeName kDTypes[] = {
    {DType::kF32, "FP32", inference::TYPE_FP32},   {DType::kF16, "FP16", inference::TYPE_FP16},
    {DType::kBF16, "BF16", inference::TYPE_BF16},  {DType::kI8, "INT8", inference::TYPE_INT8},
    {DType::kU8, "UINT8", inference::TYPE_UINT8},  {DType::kI32, "INT32", inference::TYPE_INT32},
    {DType::kI64, "INT64", inference::TYPE_INT64}, {DType::kBool, "BOOL", inference::TYPE_BOOL},
};

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) {
    if (i) s += ',';
    s += d[i] < 0 ? std::string("?") : std::to_string(d[i]);
  }
  return s + "]";
}

[[noreturn]] void fail(const std::string& path, const std::string& msg) {
  throw_error(ErrorCode::kInvalidArgument, "config '" + path + "': " + msg);
}

class CollectErrors : public google::protobuf::io::ErrorCollector {
 public:
  void AddError(int line, int column, const std::string& message) override {
    if (first.empty()) first = "line " + std::to_string(line + 1) + ", column " + std::to_string(column + 1) + ": " + message;
  }
  void AddWarning(int, int, const std::string&) override {}
  std::string first;
};

TensorConfig tensor_from_proto(const std::string& path, const char* kind, int index, const std::string& name,
                               inference::DataType dt, const google::protobuf::RepeatedField<int64_t>& dims) {
  TensorConfig t;
  t.name = name;
  std::string where = std::string(kind) + " #" + std::to_string(index) + (name.empty() ? "" : " '" + name + "'");
  if (name.empty()) fail(path, where + ": field 'name' is required");
  bool found = false;
  for (const auto& d : kDTypes)
    if (d.proto == dt) {
      t.dtype = d.dtype;
      found = true;
    }
  if (!found)
    fail(path, where + ": field 'data_type' " + inference::DataType_Name(dt) +
                   " is not supported (supported: TYPE_FP32, TYPE_FP16, TYPE_BF16, TYPE_INT8, TYPE_UINT8, "
                   "TYPE_INT32, TYPE_INT64, TYPE_BOOL)");
  for (int64_t d : dims) {
    if (d < -1 || d == 0) fail(path, where + ": field 'dims' has " + std::to_string(d) + " (dims are > 0 or -1)");
    t.dims.push_back(d);
  }
  return t;
}

inference::ModelConfig to_proto(const ModelConfig& c) {
  inference::ModelConfig p;
  p.set_name(c.name);
  p.set_platform(c.platform);
  if (!c.backend.empty()) p.set_backend(c.backend);
  p.set_max_batch_size(c.max_batch_size);
  auto dt = [](DType t) {
    for (const auto& d : kDTypes)
      if (d.dtype == t) return d.proto;
    return inference::TYPE_INVALID;
  };
  for (const auto& t : c.inputs) {
    auto* i = p.add_input();
    i->set_name(t.name);
    i->set_data_type(dt(t.dtype));
    for (int64_t d : t.dims) i->add_dims(d);
  }
  for (const auto& t : c.outputs) {
    auto* o = p.add_output();
    o->set_name(t.name);
    o->set_data_type(dt(t.dtype));
    for (int64_t d : t.dims) o->add_dims(d);
  }
  if (c.dynamic_batching) {
    auto* db = p.mutable_dynamic_batching();
    db->set_max_queue_delay_microseconds(c.max_queue_delay_us);
    for (int b : c.preferred_batch_sizes) db->add_preferred_batch_size(b);
  }
  auto* vp = p.mutable_version_policy();
  switch (c.version_policy.kind) {
    case VersionPolicy::Kind::kLatest: vp->mutable_latest()->set_num_versions(c.version_policy.num_versions); break;
    case VersionPolicy::Kind::kAll: vp->mutable_all(); break;
    case VersionPolicy::Kind::kSpecific:
      for (int64_t v : c.version_policy.versions) vp->mutable_specific()->add_versions(v);
      break;
  }
  auto* ig = p.add_instance_group();
  ig->set_count(c.instance_count);
  ig->set_kind(inference::ModelInstanceGroup::KIND_CPU);
  p.set_default_model_filename(c.default_model_filename);
  return p;
}

}  // namespace

std::string oip_datatype(DType t) {
  for (const auto& d : kDTypes)
    if (d.dtype == t) return d.oip;
  return "INVALID";
}

DType dtype_from_oip(const std::string& name, const std::string& what) {
  for (const auto& d : kDTypes)
    if (name == d.oip) return d.dtype;
  throw_error(ErrorCode::kInvalidArgument,
              what + ": datatype '" + name + "' is not supported (supported: FP32, FP16, BF16, INT8, UINT8, INT32, INT64, BOOL)");
}

ModelConfig parse_model_config(const std::string& text, const std::string& path) {
  inference::ModelConfig p;
  google::protobuf::TextFormat::Parser parser;
  CollectErrors errors;
  parser.RecordErrorsTo(&errors);
  // Real Triton configs carry fields we do not model (optimization, model_warmup, ...).
  parser.AllowUnknownField(true);
  parser.AllowUnknownExtension(true);
  if (!parser.ParseFromString(text, &p)) fail(path, "not a valid ModelConfig text proto: " + errors.first);

  ModelConfig c;
  c.from_file = true;
  c.name = p.name();
  if (!p.platform().empty()) c.platform = p.platform();
  c.backend = p.backend();
  const bool onnx_platform = p.platform().empty() || p.platform() == "onnxruntime_onnx";
  const bool onnx_backend = p.backend().empty() || p.backend() == "onnxruntime" || p.backend() == "edgeopt";
  if (!onnx_platform) fail(path, "field 'platform' is '" + p.platform() + "'; edgeopt serves ONNX models (platform \"onnxruntime_onnx\")");
  if (!onnx_backend) fail(path, "field 'backend' is '" + p.backend() + "'; edgeopt serves ONNX models (backend \"onnxruntime\")");
  if (p.max_batch_size() < 0) fail(path, "field 'max_batch_size' is " + std::to_string(p.max_batch_size()) + " (must be >= 0)");
  c.max_batch_size = p.max_batch_size();
  for (int i = 0; i < p.input_size(); ++i)
    c.inputs.push_back(tensor_from_proto(path, "input", i, p.input(i).name(), p.input(i).data_type(), p.input(i).dims()));
  for (int i = 0; i < p.output_size(); ++i)
    c.outputs.push_back(tensor_from_proto(path, "output", i, p.output(i).name(), p.output(i).data_type(), p.output(i).dims()));
  if (p.has_dynamic_batching()) {
    if (c.max_batch_size == 0) fail(path, "field 'dynamic_batching' needs 'max_batch_size' > 0");
    c.dynamic_batching = true;
    c.max_queue_delay_us = p.dynamic_batching().max_queue_delay_microseconds();
    if (c.max_queue_delay_us > 10'000'000)
      fail(path, "field 'dynamic_batching.max_queue_delay_microseconds' is " + std::to_string(c.max_queue_delay_us) +
                     " (at most 10000000 = 10 s)");
    for (int b : p.dynamic_batching().preferred_batch_size()) {
      if (b <= 0 || b > c.max_batch_size)
        fail(path, "field 'dynamic_batching.preferred_batch_size' has " + std::to_string(b) + " (must be in 1.." +
                       std::to_string(c.max_batch_size) + ", the max_batch_size)");
      c.preferred_batch_sizes.push_back(b);
    }
  }
  if (p.has_version_policy()) {
    const auto& vp = p.version_policy();
    if (vp.has_all()) {
      c.version_policy.kind = VersionPolicy::Kind::kAll;
    } else if (vp.has_specific()) {
      c.version_policy.kind = VersionPolicy::Kind::kSpecific;
      for (int64_t v : vp.specific().versions()) {
        if (v <= 0) fail(path, "field 'version_policy.specific.versions' has " + std::to_string(v) + " (versions are >= 1)");
        c.version_policy.versions.push_back(v);
      }
      if (c.version_policy.versions.empty()) fail(path, "field 'version_policy.specific.versions' is empty");
    } else if (vp.has_latest()) {
      c.version_policy.num_versions = vp.latest().num_versions();
      if (c.version_policy.num_versions == 0) fail(path, "field 'version_policy.latest.num_versions' must be >= 1");
    }
  }
  int count = 0;
  for (const auto& g : p.instance_group()) {
    if (g.count() < 0) fail(path, "field 'instance_group.count' is " + std::to_string(g.count()) + " (must be >= 0)");
    if (g.kind() == inference::ModelInstanceGroup::KIND_GPU)
      fail(path, "field 'instance_group.kind' is KIND_GPU; edgeopt runs on the CPU (use KIND_CPU or KIND_AUTO)");
    count += g.count();
  }
  if (count > 256) fail(path, "field 'instance_group.count' totals " + std::to_string(count) + " (at most 256)");
  c.instance_count = count;
  if (!p.default_model_filename().empty()) c.default_model_filename = p.default_model_filename();
  if (c.default_model_filename.find('/') != std::string::npos || c.default_model_filename == "..")
    fail(path, "field 'default_model_filename' '" + c.default_model_filename + "' must be a plain file name");
  return c;
}

ModelConfig load_model_config(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw_error(ErrorCode::kNotFound, "config '" + path + "': cannot open the file");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_model_config(ss.str(), path);
}

void complete_model_config(ModelConfig& c, const Graph& g, const std::string& model_path) {
  const std::string where = "model '" + model_path + "'";
  auto mfail = [&](const std::string& msg) {
    throw_error(ErrorCode::kInvalidArgument, "config of model '" + model_path + "': " + msg);
  };
  auto first_dim_dynamic = [](const ValueInfo& v) { return v.shape.rank() >= 1 && v.shape[0] < 0; };
  if (c.max_batch_size < 0) {
    bool batchable = !g.inputs.empty() && !g.outputs.empty();
    for (const auto& v : g.inputs) batchable = batchable && first_dim_dynamic(v);
    for (const auto& v : g.outputs) batchable = batchable && first_dim_dynamic(v);
    c.max_batch_size = batchable ? kDefaultMaxBatch : 0;
    c.dynamic_batching = batchable;
  }
  const size_t skip = c.max_batch_size > 0 ? 1 : 0;
  auto complete = [&](std::vector<TensorConfig>& cfg, const std::vector<ValueInfo>& model, const char* kind) {
    if (cfg.empty()) {
      for (const auto& v : model) {
        TensorConfig t;
        t.name = v.name;
        t.dtype = v.dtype;
        for (size_t d = skip; d < v.shape.rank(); ++d) t.dims.push_back(v.shape[d] < 0 ? -1 : v.shape[d]);
        cfg.push_back(t);
      }
      return;
    }
    for (const auto& t : cfg) {
      const ValueInfo* v = nullptr;
      for (const auto& m : model)
        if (m.name == t.name) v = &m;
      if (!v) {
        std::string names;
        for (const auto& m : model) names += (names.empty() ? "'" : ", '") + m.name + "'";
        mfail(std::string(kind) + " '" + t.name + "' is not an " + kind + " of " + where +
                                          " (its " + kind + "s: " + names + ")");
      }
      if (v->dtype != t.dtype)
        mfail(std::string(kind) + " '" + t.name + "': data_type " + oip_datatype(t.dtype) +
                                          " but the model has " + oip_datatype(v->dtype));
      std::vector<int64_t> full;
      if (skip) {
        if (v->shape.rank() == 0 || v->shape[0] >= 0)
          mfail(std::string(kind) + " '" + t.name + "': max_batch_size " +
                                            std::to_string(c.max_batch_size) + " needs a dynamic first dim, but the model has " +
                                            v->shape.str() + " (set max_batch_size: 0)");
        full.push_back(-1);
      }
      full.insert(full.end(), t.dims.begin(), t.dims.end());
      bool ok = v->shape.rank() == 0 || full.size() == v->shape.rank();
      for (size_t d = 0; ok && d < v->shape.rank(); ++d)
        if (v->shape[d] >= 0 && full[d] >= 0 && v->shape[d] != full[d]) ok = false;
      if (!ok)
        mfail(std::string(kind) + " '" + t.name + "': dims " + dims_str(t.dims) +
                                          (skip ? " (plus the batch dim)" : "") + " do not match the model's " + v->shape.str());
    }
  };
  complete(c.inputs, g.inputs, "input");
  complete(c.outputs, g.outputs, "output");
  // The server feeds every model input; an input the config omits could never be provided.
  for (const auto& v : g.inputs) {
    bool listed = false;
    for (const auto& t : c.inputs) listed = listed || t.name == v.name;
    if (!listed && !g.is_initializer(v.name))
      mfail("the model's input '" + v.name + "' is missing from the config");
  }
}

std::string model_config_json(const ModelConfig& c) {
  std::string out;
  google::protobuf::util::JsonPrintOptions o;
  o.preserve_proto_field_names = true;
  o.always_print_primitive_fields = true;
  auto st = google::protobuf::util::MessageToJsonString(to_proto(c), &out, o);
  if (!st.ok()) throw_error(ErrorCode::kInternal, "model config to JSON: " + st.ToString());
  return out;
}

std::string model_config_proto_bytes(const ModelConfig& c) { return to_proto(c).SerializeAsString(); }

}  // namespace edgeopt::serve

#include "serve/oip_http.h"

#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

namespace edgeopt::serve {

namespace {

using json = nlohmann::json;

[[noreturn]] void bad(const std::string& msg) { throw ServeError(Status::kBadRequest, msg); }

void flatten(const json& j, std::vector<const json*>& out, const std::string& what) {
  if (j.is_array()) {
    for (const auto& e : j) flatten(e, out, what);
  } else if (j.is_number() || j.is_boolean()) {
    out.push_back(&j);
  } else {
    bad(what + ": 'data' holds a " + std::string(j.type_name()) + "; expected numbers (or booleans for BOOL)");
  }
}

template <typename T>
void fill_integers(Tensor& t, const std::vector<const json*>& vals, const std::string& what) {
  T* p = static_cast<T*>(t.raw());
  for (size_t i = 0; i < vals.size(); ++i) {
    const json& v = *vals[i];
    if (!v.is_number_integer() && !v.is_boolean())
      bad(what + ": element " + std::to_string(i) + " is " + v.dump() + ", not an integer");
    if (v.is_boolean()) {
      p[i] = static_cast<T>(v.get<bool>());
      continue;
    }
    if (v.is_number_unsigned()) {
      uint64_t u = v.get<uint64_t>();
      if (u > static_cast<uint64_t>(std::numeric_limits<T>::max()))
        bad(what + ": element " + std::to_string(i) + " = " + v.dump() + " is out of range");
      p[i] = static_cast<T>(u);
    } else {
      int64_t s = v.get<int64_t>();
      if (s < static_cast<int64_t>(std::numeric_limits<T>::min()) || s > static_cast<int64_t>(std::numeric_limits<T>::max()))
        bad(what + ": element " + std::to_string(i) + " = " + v.dump() + " is out of range");
      p[i] = static_cast<T>(s);
    }
  }
}

Tensor tensor_from_json_data(const json& data, DType dtype, const Shape& shape, const std::string& what) {
  // No reserve(numel): the shape is the client's claim, the values present are what the body holds;
  // a 1 KB request claiming [100000000] must not allocate before the counts are compared.
  std::vector<const json*> vals;
  flatten(data, vals, what);
  if (static_cast<int64_t>(vals.size()) != shape.numel())
    bad(what + ": 'data' has " + std::to_string(vals.size()) + " values but shape " + shape.str() + " needs " +
        std::to_string(shape.numel()));
  Tensor t(dtype, shape);
  switch (dtype) {
    case DType::kF32:
    case DType::kF16:
    case DType::kBF16:
      for (size_t i = 0; i < vals.size(); ++i) {
        if (!vals[i]->is_number()) bad(what + ": element " + std::to_string(i) + " is " + vals[i]->dump() + ", not a number");
        const float f = vals[i]->get<float>();
        if (dtype == DType::kF32) t.data<float>()[i] = f;
        else t.data_u16()[i] = dtype == DType::kF16 ? f32_to_f16(f) : f32_to_bf16(f);
      }
      break;
    case DType::kBool:
      for (size_t i = 0; i < vals.size(); ++i) {
        if (!vals[i]->is_boolean()) bad(what + ": element " + std::to_string(i) + " is " + vals[i]->dump() + ", not true/false");
        static_cast<uint8_t*>(t.raw())[i] = vals[i]->get<bool>() ? 1 : 0;
      }
      break;
    case DType::kI8: fill_integers<int8_t>(t, vals, what); break;
    case DType::kU8: fill_integers<uint8_t>(t, vals, what); break;
    case DType::kI32: fill_integers<int32_t>(t, vals, what); break;
    case DType::kI64: fill_integers<int64_t>(t, vals, what); break;
  }
  return t;
}

json tensor_to_json_data(const Tensor& t) {
  json arr = json::array();
  auto& a = arr.get_ref<json::array_t&>();
  a.reserve(static_cast<size_t>(t.numel()));
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::kF32:
      for (int64_t i = 0; i < n; ++i) a.emplace_back(t.data<float>()[i]);
      break;
    case DType::kF16:
      for (int64_t i = 0; i < n; ++i) a.emplace_back(f16_to_f32(t.data_u16()[i]));
      break;
    case DType::kBF16:
      for (int64_t i = 0; i < n; ++i) a.emplace_back(bf16_to_f32(t.data_u16()[i]));
      break;
    case DType::kBool:
      for (int64_t i = 0; i < n; ++i) a.emplace_back(static_cast<const uint8_t*>(t.raw())[i] != 0);
      break;
    case DType::kI8:
      for (int64_t i = 0; i < n; ++i) a.emplace_back(static_cast<int>(t.data<int8_t>()[i]));
      break;
    case DType::kU8:
      for (int64_t i = 0; i < n; ++i) a.emplace_back(static_cast<int>(t.data<uint8_t>()[i]));
      break;
    case DType::kI32:
      for (int64_t i = 0; i < n; ++i) a.emplace_back(t.data<int32_t>()[i]);
      break;
    case DType::kI64:
      for (int64_t i = 0; i < n; ++i) a.emplace_back(t.data<int64_t>()[i]);
      break;
  }
  return arr;
}

bool bool_param(const json& params, const char* key, const std::string& what) {
  if (!params.is_object() || !params.contains(key)) return false;
  const json& v = params[key];
  if (!v.is_boolean()) bad(what + ": parameter '" + key + "' must be true or false, got " + v.dump());
  return v.get<bool>();
}

}  // namespace

HttpInferRequest parse_http_infer_request(std::string_view body, size_t json_length) {
  if (json_length > body.size())
    bad("Inference-Header-Content-Length is " + std::to_string(json_length) + " but the body has only " +
        std::to_string(body.size()) + " bytes");
  const size_t jlen = json_length ? json_length : body.size();
  json j = json::parse(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(jlen), nullptr, false);
  if (j.is_discarded()) {
    // Parse again with exceptions for the byte position in the message.
    try {
      json again = json::parse(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(jlen));
      (void)again;
    } catch (const json::exception& e) {
      bad(std::string("malformed JSON in the inference request: ") + e.what());
    }
    bad("malformed JSON in the inference request");
  }
  if (!j.is_object()) bad("the inference request must be a JSON object, got " + std::string(j.type_name()));
  HttpInferRequest r;
  if (j.contains("id")) {
    if (!j["id"].is_string()) bad("'id' must be a string");
    r.id = j["id"].get<std::string>();
  }
  if (j.contains("parameters")) {
    const json& p = j["parameters"];
    if (!p.is_object()) bad("'parameters' must be an object");
    r.binary_data_output = bool_param(p, "binary_data_output", "request");
    if (p.contains("timeout")) {
      if (!p["timeout"].is_number_integer() || p["timeout"].get<int64_t>() < 0)
        bad("request parameter 'timeout' must be a non-negative integer (microseconds), got " + p["timeout"].dump());
      r.timeout_us = p["timeout"].get<int64_t>();
    }
  }
  if (!j.contains("inputs") || !j["inputs"].is_array() || j["inputs"].empty())
    bad("the inference request needs a non-empty 'inputs' array");
  size_t binary_offset = jlen;
  for (size_t k = 0; k < j["inputs"].size(); ++k) {
    const json& in = j["inputs"][k];
    std::string what = "inputs[" + std::to_string(k) + "]";
    if (!in.is_object() || !in.contains("name") || !in["name"].is_string()) bad(what + ": needs a string 'name'");
    const std::string name = in["name"].get<std::string>();
    what = "input '" + name + "'";
    if (r.request.inputs.count(name)) bad(what + " is given twice");
    if (!in.contains("datatype") || !in["datatype"].is_string()) bad(what + ": needs a string 'datatype' (e.g. \"FP32\")");
    DType dt;
    try {
      dt = dtype_from_oip(in["datatype"].get<std::string>(), what);
    } catch (const Error& e) {
      bad(e.message());
    }
    if (!in.contains("shape") || !in["shape"].is_array()) bad(what + ": needs a 'shape' array");
    std::vector<int64_t> dims;
    for (const auto& d : in["shape"]) {
      if (!d.is_number_integer() || d.get<int64_t>() < 0) bad(what + ": 'shape' must hold non-negative integers, got " + in["shape"].dump());
      dims.push_back(d.get<int64_t>());
    }
    Shape shape(dims);
    int64_t numel = 1;
    for (int64_t d : dims) {
      if (d > 0 && numel > std::numeric_limits<int64_t>::max() / 8 / d) bad(what + ": shape " + shape.str() + " is too large");
      numel *= d;
    }
    const size_t nbytes = static_cast<size_t>(numel) * dtype_size(dt);
    const json params = in.contains("parameters") ? in["parameters"] : json::object();
    if (params.is_object() && params.contains("binary_data_size")) {
      const json& bs = params["binary_data_size"];
      if (!bs.is_number_integer() || bs.get<int64_t>() < 0) bad(what + ": 'binary_data_size' must be a non-negative integer");
      const size_t size = bs.get<size_t>();
      if (size != nbytes)
        bad(what + ": binary_data_size is " + std::to_string(size) + " bytes but " + oip_datatype(dt) + shape.str() +
            " needs " + std::to_string(nbytes));
      if (binary_offset + size > body.size())
        bad(what + ": binary data runs past the end of the body (needs " + std::to_string(size) + " bytes at offset " +
            std::to_string(binary_offset) + ", body has " + std::to_string(body.size()) + ")");
      Tensor t(dt, shape);
      if (size) std::memcpy(t.raw(), body.data() + binary_offset, size);
      binary_offset += size;
      r.request.inputs[name] = t;
    } else {
      if (!in.contains("data")) bad(what + ": needs 'data' (or parameters.binary_data_size with the binary extension)");
      r.request.inputs[name] = tensor_from_json_data(in["data"], dt, shape, what);
    }
  }
  if (binary_offset != body.size() && json_length)
    bad("the body has " + std::to_string(body.size() - binary_offset) +
        " bytes of binary data that no input claims (check binary_data_size)");
  if (j.contains("outputs")) {
    if (!j["outputs"].is_array()) bad("'outputs' must be an array");
    for (const auto& o : j["outputs"]) {
      if (!o.is_object() || !o.contains("name") || !o["name"].is_string()) bad("each of 'outputs' needs a string 'name'");
      const std::string name = o["name"].get<std::string>();
      r.request.outputs.push_back(name);
      r.binary_output[name] = o.contains("parameters") && o["parameters"].contains("binary_data")
                                  ? bool_param(o["parameters"], "binary_data", "output '" + name + "'")
                                  : r.binary_data_output;
    }
  }
  return r;
}

HttpInferBody encode_http_infer_response(const std::string& model, int64_t version, const HttpInferRequest& request,
                                         const InferResult& result) {
  json j;
  j["model_name"] = model;
  j["model_version"] = std::to_string(version);
  if (!request.id.empty()) j["id"] = request.id;
  json outs = json::array();
  std::string binary;
  for (const auto& [name, t] : result.outputs) {
    json o;
    o["name"] = name;
    o["datatype"] = oip_datatype(t.dtype());
    o["shape"] = t.shape().dims();
    auto it = request.binary_output.find(name);
    const bool as_binary = it != request.binary_output.end() ? it->second : request.binary_data_output;
    if (as_binary) {
      o["parameters"] = {{"binary_data_size", t.nbytes()}};
      binary.append(static_cast<const char*>(t.raw()), t.nbytes());
    } else {
      o["data"] = tensor_to_json_data(t);
    }
    outs.push_back(std::move(o));
  }
  j["outputs"] = std::move(outs);
  HttpInferBody b;
  // The id and names come from the request: invalid UTF-8 there is replaced, not a 500.
  b.body = j.dump(-1, ' ', false, json::error_handler_t::replace);
  if (!binary.empty()) {
    b.json_length = b.body.size();
    b.body += binary;
  }
  return b;
}

std::string oip_error_json(const std::string& message) {
  return json{{"error", message}}.dump(-1, ' ', false, json::error_handler_t::replace);
}

}  // namespace edgeopt::serve

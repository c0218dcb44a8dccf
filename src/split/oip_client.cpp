#include "split/oip_client.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

namespace edgeopt::split {

const char* oip_status_name(OipStatus s) {
  switch (s) {
    case OipStatus::kOk: return "ok";
    case OipStatus::kUnavailable: return "unavailable";
    case OipStatus::kDeadline: return "deadline";
    case OipStatus::kHttpError: return "http_error";
    case OipStatus::kProtocol: return "protocol";
  }
  return "?";
}

std::string oip_datatype(DType t) {
  switch (t) {
    case DType::kF32: return "FP32";
    case DType::kF16: return "FP16";
    case DType::kU8: return "UINT8";
    case DType::kI8: return "INT8";
    case DType::kI32: return "INT32";
    case DType::kI64: return "INT64";
    case DType::kBool: return "BOOL";
    default: break;
  }
  throw_error(ErrorCode::kInvalidArgument, std::string("no Open Inference Protocol datatype for ") + dtype_name(t));
}

DType dtype_from_oip(const std::string& d) {
  static const std::map<std::string, DType> k{{"FP32", DType::kF32}, {"FP16", DType::kF16},  {"UINT8", DType::kU8},
                                              {"INT8", DType::kI8},  {"INT32", DType::kI32}, {"INT64", DType::kI64},
                                              {"BOOL", DType::kBool}};
  auto it = k.find(d);
  if (it == k.end())
    throw_error(ErrorCode::kInvalidArgument,
                "unsupported Open Inference Protocol datatype '" + d + "' (known: FP32 FP16 UINT8 INT8 INT32 INT64 BOOL)");
  return it->second;
}

std::string encode_infer_request(const std::map<std::string, Tensor>& inputs, const std::vector<std::string>& outputs,
                                 size_t* json_len) {
  nlohmann::json j;
  j["inputs"] = nlohmann::json::array();
  for (const auto& [name, t] : inputs)
    j["inputs"].push_back({{"name", name},
                           {"shape", t.shape().dims()},
                           {"datatype", oip_datatype(t.dtype())},
                           {"parameters", {{"binary_data_size", t.nbytes()}}}});
  j["outputs"] = nlohmann::json::array();
  for (const auto& o : outputs) j["outputs"].push_back({{"name", o}, {"parameters", {{"binary_data", true}}}});
  std::string body = j.dump();
  *json_len = body.size();
  for (const auto& [name, t] : inputs) body.append(static_cast<const char*>(t.raw()), t.nbytes());
  return body;
}

namespace {

// The tensors listed under `key` ("inputs" or "outputs") of a v2 body, binary or JSON. Every
// field is type-checked here, so a malformed message is an InvalidArgument naming the tensor and
// field, never a JSON library exception; sizes are checked against the body before allocating.
std::map<std::string, Tensor> decode_tensors(const std::string& body, size_t json_len, const std::string& key,
                                             nlohmann::json* header) {
  EDGEOPT_CHECK_ARG(json_len <= body.size(), "Inference-Header-Content-Length " + std::to_string(json_len) +
                                                 " exceeds the body (" + std::to_string(body.size()) + " bytes)");
  const size_t hlen = json_len ? json_len : body.size();
  nlohmann::json j = nlohmann::json::parse(body.begin(), body.begin() + static_cast<std::ptrdiff_t>(hlen), nullptr, false);
  EDGEOPT_CHECK_ARG(!j.is_discarded() && j.is_object() && j.contains(key) && j[key].is_array(),
                    "body is not a v2 inference message (no '" + key + "' array): " + body.substr(0, std::min<size_t>(hlen, 200)));
  std::map<std::string, Tensor> out;
  size_t offset = hlen;
  for (const auto& o : j[key]) {
    EDGEOPT_CHECK_ARG(o.is_object() && o.contains("name") && o.contains("shape") && o.contains("datatype"),
                      "v2 tensor without name/shape/datatype: " + o.dump().substr(0, 200));
    EDGEOPT_CHECK_ARG(o["name"].is_string(), "v2 tensor 'name' is not a string: " + o["name"].dump().substr(0, 200));
    const std::string name = o["name"].get<std::string>();
    const std::string where = key + " tensor '" + name + "'";
    EDGEOPT_CHECK_ARG(o["datatype"].is_string(), where + ": 'datatype' is not a string");
    const DType dt = dtype_from_oip(o["datatype"].get<std::string>());
    const auto& shape = o["shape"];
    EDGEOPT_CHECK_ARG(shape.is_array(), where + ": 'shape' is not an array: " + shape.dump().substr(0, 200));
    std::vector<int64_t> dims;
    for (const auto& d : shape) {
      EDGEOPT_CHECK_ARG(d.is_number_integer(), where + ": 'shape' holds a non-integer " + d.dump().substr(0, 40));
      dims.push_back(d.get<int64_t>());
    }
    // Shape::numel refuses negative dims and int64 overflow; then no tensor can hold more elements
    // than the body has bytes (binary) or JSON values (data), checked before anything is allocated.
    int64_t numel = 0;
    try {
      numel = Shape(dims).numel();
    } catch (Error& e) {
      e.add_context(where);
      throw;
    }
    EDGEOPT_CHECK_ARG(numel <= static_cast<int64_t>(body.size()),
                      where + " has shape " + shape.dump().substr(0, 200) + ": more elements than the " +
                          std::to_string(body.size()) + "-byte body can carry");
    const size_t nbytes = static_cast<size_t>(numel) * dtype_size(dt);
    nlohmann::json params = nlohmann::json::object();
    if (o.contains("parameters")) {
      EDGEOPT_CHECK_ARG(o["parameters"].is_object(), where + ": 'parameters' is not an object");
      params = o["parameters"];
    }
    if (params.contains("binary_data_size")) {
      EDGEOPT_CHECK_ARG(params["binary_data_size"].is_number_unsigned(),
                        where + ": binary_data_size is not a non-negative integer");
      const size_t n = params["binary_data_size"].get<size_t>();
      EDGEOPT_CHECK_ARG(n == nbytes, where + ": binary_data_size " + std::to_string(n) +
                                         " but shape and datatype need " + std::to_string(nbytes) + " bytes");
      EDGEOPT_CHECK_ARG(n <= body.size() - offset, where + " runs past the end of the body");
      Tensor t(dt, Shape(dims));
      std::memcpy(t.raw(), body.data() + offset, n);
      offset += n;
      out[name] = std::move(t);
    } else {
      EDGEOPT_CHECK_ARG(o.contains("data") && o["data"].is_array(), where + " has no data");
      const auto& d = o["data"];
      EDGEOPT_CHECK_ARG(static_cast<int64_t>(d.size()) == numel,
                        where + ": " + std::to_string(d.size()) + " values for shape " + shape.dump().substr(0, 200));
      Tensor t(dt, Shape(dims));
      for (int64_t i = 0; i < numel; ++i) {
        const auto& e = d[static_cast<size_t>(i)];
        EDGEOPT_CHECK_ARG(e.is_number() || e.is_boolean(),
                          where + ": data[" + std::to_string(i) + "] is not a number: " + e.dump().substr(0, 40));
        const double v = e.is_boolean() ? (e.get<bool>() ? 1.0 : 0.0) : e.get<double>();
        // Out-of-range float -> integer conversion is undefined behaviour: refuse it by name.
        const bool integral = dt == DType::kU8 || dt == DType::kI8 || dt == DType::kI32 || dt == DType::kI64;
        if (integral)
          EDGEOPT_CHECK_ARG(std::isfinite(v) && std::fabs(v) <= 9.2e18,
                            where + ": data[" + std::to_string(i) + "] = " + e.dump() + " does not fit " + dtype_name(dt));
        const int64_t iv = integral ? static_cast<int64_t>(v) : 0;  // then wraps like a C cast
        constexpr double kFMax = std::numeric_limits<float>::max();
        const float vf = std::isnan(v) ? std::numeric_limits<float>::quiet_NaN()
                         : v > kFMax   ? std::numeric_limits<float>::infinity()
                         : v < -kFMax  ? -std::numeric_limits<float>::infinity()
                                       : static_cast<float>(v);
        switch (dt) {
          case DType::kF32: t.data<float>()[i] = vf; break;
          case DType::kF16: t.data_u16()[i] = f32_to_f16(vf); break;
          case DType::kU8: t.data<uint8_t>()[i] = static_cast<uint8_t>(iv); break;
          case DType::kI8: t.data<int8_t>()[i] = static_cast<int8_t>(iv); break;
          case DType::kI32: t.data<int32_t>()[i] = static_cast<int32_t>(iv); break;
          case DType::kI64: t.data<int64_t>()[i] = iv; break;
          default: t.data<bool>()[i] = v != 0; break;
        }
      }
      out[name] = std::move(t);
    }
  }
  if (header) *header = std::move(j);
  return out;
}

}  // namespace

InferRequest decode_infer_request(const std::string& body, size_t json_len) {
  InferRequest r;
  nlohmann::json j;
  r.inputs = decode_tensors(body, json_len, "inputs", &j);
  if (j.contains("outputs") && j["outputs"].is_array())
    for (const auto& o : j["outputs"])
      if (o.is_object() && o.contains("name") && o["name"].is_string()) r.outputs.push_back(o["name"].get<std::string>());
  return r;
}

std::string encode_infer_response(const std::string& model, const std::map<std::string, Tensor>& outputs,
                                  size_t* json_len) {
  nlohmann::json j;
  j["model_name"] = model;
  j["outputs"] = nlohmann::json::array();
  for (const auto& [name, t] : outputs)
    j["outputs"].push_back({{"name", name},
                            {"shape", t.shape().dims()},
                            {"datatype", oip_datatype(t.dtype())},
                            {"parameters", {{"binary_data_size", t.nbytes()}}}});
  std::string body = j.dump();
  *json_len = body.size();
  for (const auto& [name, t] : outputs) body.append(static_cast<const char*>(t.raw()), t.nbytes());
  return body;
}

std::map<std::string, Tensor> decode_infer_response(const std::string& body, size_t json_len,
                                                    const std::vector<std::string>& outputs) {
  auto out = decode_tensors(body, json_len, "outputs", nullptr);
  for (const auto& want : outputs)
    EDGEOPT_CHECK_ARG(out.count(want), "response lacks requested output '" + want + "'");
  return out;
}

struct OipClient::Impl {
  std::unique_ptr<httplib::Client> cli;
};

OipClient::OipClient(const std::string& url, const OipClientOptions& options) : url_(url), impl_(std::make_unique<Impl>()) {
  tls_ = url.rfind("https://", 0) == 0;
  const std::string scheme = tls_ ? "https://" : "http://";
  EDGEOPT_CHECK_ARG(url.rfind(scheme, 0) == 0, "cloud URL '" + url + "' must start with http:// or https://");
  std::string rest = url.substr(scheme.size());
  const size_t slash = rest.find('/');
  if (slash != std::string::npos) {
    prefix_ = rest.substr(slash);
    while (!prefix_.empty() && prefix_.back() == '/') prefix_.pop_back();
    rest = rest.substr(0, slash);
  }
  const size_t colon = rest.rfind(':');
  host_ = rest;
  port_ = tls_ ? 443 : 80;
  if (colon != std::string::npos) {
    host_ = rest.substr(0, colon);
    const std::string p = rest.substr(colon + 1);
    char* end = nullptr;
    const long v = std::strtol(p.c_str(), &end, 10);
    EDGEOPT_CHECK_ARG(!p.empty() && *end == 0 && v > 0 && v < 65536, "cloud URL '" + url + "': bad port '" + p + "'");
    port_ = static_cast<int>(v);
  }
  EDGEOPT_CHECK_ARG(!host_.empty(), "cloud URL '" + url + "' has no host");
  const bool tls_files = !options.ca_file.empty() || !options.cert_file.empty() || !options.key_file.empty();
  EDGEOPT_CHECK_ARG(tls_ || !tls_files, "cloud URL '" + url + "' is http://, but a CA or client certificate was given (use https://)");
  EDGEOPT_CHECK_ARG(options.cert_file.empty() == options.key_file.empty(),
                    "a client certificate needs both the certificate and the key file");
  for (const std::string* f : {&options.ca_file, &options.cert_file, &options.key_file}) {
    if (f->empty()) continue;
    std::FILE* fp = std::fopen(f->c_str(), "rb");
    EDGEOPT_CHECK(fp != nullptr, ErrorCode::kNotFound, "TLS file '" + *f + "' (for " + url + ") cannot be opened");
    std::fclose(fp);
  }
  if (tls_) {
    impl_->cli = std::make_unique<httplib::Client>(scheme + host_ + ":" + std::to_string(port_), options.cert_file,
                                                   options.key_file);
    if (!options.ca_file.empty()) impl_->cli->set_ca_cert_path(options.ca_file.c_str());
    // Chain and host name (or IP SAN) are checked; a failed check is a failed call, never a fallback to trust.
    impl_->cli->enable_server_certificate_verification(true);
  } else {
    impl_->cli = std::make_unique<httplib::Client>(host_, port_);
  }
  if (!options.bearer_token.empty()) impl_->cli->set_bearer_token_auth(options.bearer_token.c_str());
  impl_->cli->set_keep_alive(true);
  impl_->cli->set_tcp_nodelay(true);
}

OipClient::~OipClient() = default;

namespace {
void set_budget(httplib::Client& c, double budget_ms) {
  const auto us = static_cast<int64_t>(std::max(1.0, budget_ms) * 1e3);
  const time_t sec = static_cast<time_t>(us / 1000000);
  const time_t usec = static_cast<time_t>(us % 1000000);
  c.set_connection_timeout(sec, usec);
  c.set_read_timeout(sec, usec);
  c.set_write_timeout(sec, usec);
}
double since_ms(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}
}  // namespace

OipResult OipClient::infer(const std::string& model, const std::map<std::string, Tensor>& inputs,
                           const std::vector<std::string>& outputs, double budget_ms) {
  OipResult r;
  const auto t0 = std::chrono::steady_clock::now();
  const std::string where = url_ + " model '" + model + "'";
  if (budget_ms <= 0) {
    r.status = OipStatus::kDeadline;
    r.error = "no time left for " + where;
    return r;
  }
  size_t json_len = 0;
  const std::string body = encode_infer_request(inputs, outputs, &json_len);
  r.bytes_sent = static_cast<int64_t>(body.size());
  set_budget(*impl_->cli, budget_ms);
  // identity: httplib (built with zlib/brotli) would otherwise offer compression, and a server
  // compressing tensors costs both ends CPU for little gain on float data.
  httplib::Headers h{{"Inference-Header-Content-Length", std::to_string(json_len)}, {"Accept-Encoding", "identity"}};
  auto res = impl_->cli->Post(prefix_ + "/v2/models/" + model + "/infer", h, body, "application/octet-stream");
  r.ms = since_ms(t0);
  if (!res) {
    const auto e = res.error();
    // A read/write error after (nearly) the whole budget is the timeout firing, not the server failing.
    const bool timed_out = e == httplib::Error::ConnectionTimeout ||
                           ((e == httplib::Error::Read || e == httplib::Error::Write) && r.ms >= 0.9 * budget_ms);
    r.status = timed_out ? OipStatus::kDeadline : OipStatus::kUnavailable;
    r.error = where + ": " + httplib::to_string(e) +
              (e == httplib::Error::SSLServerVerification ? " (the server's certificate does not verify against the CA)" : "") +
              " after " + std::to_string(r.ms) + " ms";
    impl_->cli->stop();  // drop a half-used keep-alive socket
    return r;
  }
  r.http_status = res->status;
  r.bytes_received = static_cast<int64_t>(res->body.size());
  if (res->status != 200) {
    r.status = OipStatus::kHttpError;
    r.error = where + ": HTTP " + std::to_string(res->status) + ": " + res->body.substr(0, 300);
    return r;
  }
  if (r.ms > budget_ms) {
    r.status = OipStatus::kDeadline;
    r.error = where + ": answered after " + std::to_string(r.ms) + " ms, budget " + std::to_string(budget_ms) + " ms";
    return r;
  }
  try {
    size_t rlen = 0;
    const std::string hv = res->get_header_value("Inference-Header-Content-Length");
    if (!hv.empty()) rlen = static_cast<size_t>(std::stoull(hv));
    r.outputs = decode_infer_response(res->body, rlen, outputs);
  } catch (const std::exception& ex) {
    r.status = OipStatus::kProtocol;
    r.error = where + ": " + ex.what();
    r.outputs.clear();
  }
  return r;
}

bool OipClient::ready(double budget_ms, double* ms) {
  const auto t0 = std::chrono::steady_clock::now();
  set_budget(*impl_->cli, budget_ms);
  auto res = impl_->cli->Get(prefix_ + "/v2/health/ready", httplib::Headers{{"Accept-Encoding", "identity"}});
  if (ms) *ms = since_ms(t0);
  if (!res) impl_->cli->stop();
  return res && res->status == 200;
}

std::string read_bearer_token_file(const std::string& path, const std::string& flag) {
  std::ifstream f(path);
  EDGEOPT_CHECK(f.good(), ErrorCode::kNotFound, "cannot open " + flag + " '" + path + "'");
  std::string token;
  std::getline(f, token);
  while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) token.pop_back();
  EDGEOPT_CHECK_ARG(!token.empty(), flag + " '" + path + "': the first line is empty");
  return token;
}

}  // namespace edgeopt::split

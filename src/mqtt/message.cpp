#include "mqtt/message.h"

#include <bit>
#include <cmath>
#include <cstring>
#include <set>

#include <nlohmann/json.hpp>

namespace edgeopt::mqtt {

namespace {

using nlohmann::json;
static_assert(std::endian::native == std::endian::little, "the binary form is read with memcpy");

constexpr size_t kMaxIdBytes = 256;  // ids are kept in the duplicate window: keep them small
constexpr int kMaxNesting = 16;      // "values" nesting; bounds the recursion below

[[noreturn]] void fail(const std::string& reason) { throw_error(ErrorCode::kInvalidArgument, reason); }

// Structural check only (lead bytes and continuation bytes); ids are echoed back in JSON.
bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 0 : (c & 0xE0) == 0xC0 ? 1 : (c & 0xF0) == 0xE0 ? 2 : (c & 0xF8) == 0xF0 ? 3 : 4;
    if (n == 4 || n >= s.size() - i) return false;
    for (size_t k = 1; k <= n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return false;
    i += n + 1;
  }
  return true;
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "" : ",") + n;
  return s;
}

std::string value_ref(size_t index) { return "value " + std::to_string(index); }

void push_finite(double v, std::vector<float>& out, const DecodeOptions& o) {
  if (out.size() >= o.max_values) fail("more than " + std::to_string(o.max_values) + " values in one reading");
  float f = static_cast<float>(v);
  if (!std::isfinite(f)) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "%.9g", v);
    fail(value_ref(out.size()) + " (" + buf + ") is not a finite float32");
  }
  out.push_back(f);
}

void flatten_numbers(const json& j, int depth, std::vector<float>& out, const DecodeOptions& o) {
  if (j.is_array()) {
    if (depth >= kMaxNesting) fail("\"values\" nested deeper than " + std::to_string(kMaxNesting));
    for (const auto& e : j) flatten_numbers(e, depth + 1, out, o);
  } else if (j.is_number()) {
    push_finite(j.get<double>(), out, o);
  } else {
    fail(value_ref(out.size()) + " is " + std::string(j.type_name()) + ", not a number");
  }
}

std::string id_from_json(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_number_integer()) return j.dump();
  fail("\"id\" must be a string or an integer, not " + std::string(j.type_name()));
}

Reading decode_json(std::string_view payload, const DecodeOptions& o) {
  json j;
  try {
    j = json::parse(payload.begin(), payload.end());
  } catch (const json::exception& e) {
    // nlohmann's message: "[json.exception.parse_error.101] parse error at line 1, column 7: ..."
    std::string what = e.what();
    size_t at = what.find("] ");
    fail("malformed JSON: " + (at == std::string::npos ? what : what.substr(at + 2)));
  }
  if (!j.is_object()) fail("JSON reading must be an object, got " + std::string(j.type_name()));
  Reading r;
  if (auto it = j.find("id"); it != j.end()) {
    r.id = id_from_json(*it);
    r.has_id = true;
  }
  auto values = j.find("values");
  auto features = j.find("features");
  if (values != j.end() && features != j.end()) fail("give either \"values\" or \"features\", not both");
  if (values != j.end()) {
    flatten_numbers(*values, 0, r.values, o);
  } else if (features != j.end()) {
    if (!features->is_object()) fail("\"features\" must be an object of name: number");
    if (o.feature_names.empty())
      fail("the \"features\" form needs the feature order (edgeopt ingest --features NAME,...); or send \"values\"");
    std::set<std::string> known(o.feature_names.begin(), o.feature_names.end());
    for (const auto& [name, v] : features->items())
      if (!known.count(name)) fail("unknown feature \"" + name + "\" (expected: " + join(o.feature_names) + ")");
    for (const auto& name : o.feature_names) {
      auto f = features->find(name);
      if (f == features->end()) fail("feature \"" + name + "\" is missing");
      if (!f->is_number()) fail("feature \"" + name + "\" is " + std::string(f->type_name()) + ", not a number");
      push_finite(f->get<double>(), r.values, o);
    }
  } else {
    fail("JSON reading has neither \"values\" nor \"features\"");
  }
  if (r.values.empty()) fail("reading has no values");
  if (r.id.size() > kMaxIdBytes) fail("\"id\" is longer than " + std::to_string(kMaxIdBytes) + " bytes");
  return r;
}

Reading decode_binary(std::string_view p, const DecodeOptions& o) {
  if (p.size() < 6 || std::memcmp(p.data(), kBinaryMagic, 4) != 0)
    fail("payload is neither JSON (starting with '{') nor binary (starting with the 4 bytes \"F32\\0\")");
  size_t id_len = static_cast<unsigned char>(p[4]) | (static_cast<size_t>(static_cast<unsigned char>(p[5])) << 8);
  if (6 + id_len > p.size())
    fail("binary id length " + std::to_string(id_len) + " runs past the payload (" + std::to_string(p.size()) +
         " bytes)");
  if (id_len > kMaxIdBytes) fail("binary id is longer than " + std::to_string(kMaxIdBytes) + " bytes");
  Reading r;
  r.binary = true;
  r.id.assign(p.data() + 6, id_len);
  r.has_id = id_len > 0;
  if (!valid_utf8(r.id)) fail("binary id is not valid UTF-8");
  size_t bytes = p.size() - 6 - id_len;
  if (bytes == 0) fail("reading has no values");
  if (bytes % 4 != 0) fail("binary values take " + std::to_string(bytes) + " bytes, not a multiple of 4 (float32)");
  const char* data = p.data() + 6 + id_len;
  r.values.reserve(std::min(bytes / 4, o.max_values));
  for (size_t i = 0; i < bytes / 4; ++i) {
    float f;
    std::memcpy(&f, data + 4 * i, 4);
    push_finite(f, r.values, o);
  }
  return r;
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

}  // namespace

Reading decode_reading(std::string_view payload, const DecodeOptions& options) {
  if (payload.size() > options.max_payload_bytes)
    fail("payload of " + std::to_string(payload.size()) + " bytes is over the limit of " +
         std::to_string(options.max_payload_bytes));
  if (payload.empty()) fail("empty payload");
  size_t first = payload.find_first_not_of(" \t\r\n");
  if (first != std::string_view::npos && payload[first] == '{') return decode_json(payload, options);
  return decode_binary(payload, options);
}

std::string encode_binary_reading(std::string_view id, std::span<const float> values) {
  EDGEOPT_CHECK_ARG(id.size() <= 0xFFFF, "binary reading id of " + std::to_string(id.size()) + " bytes > 65535");
  std::string out(kBinaryMagic, 4);
  out += static_cast<char>(id.size() & 0xFF);
  out += static_cast<char>(id.size() >> 8);
  out += id;
  size_t at = out.size();
  out.resize(at + 4 * values.size());
  if (!values.empty()) std::memcpy(out.data() + at, values.data(), 4 * values.size());
  return out;
}

std::string encode_result(const ResultMessage& r) {
  json outputs = json::object();
  for (const auto& [name, t] : r.outputs) {
    json shape = json::array();
    for (size_t i = 0; i < t.rank(); ++i) shape.push_back(t.shape()[i]);
    json data = json::array();
    for (int64_t i = 0; i < t.numel(); ++i) data.push_back(t.at(i));
    outputs[name] = {{"shape", shape}, {"data", data}};
  }
  json j = {{"id", r.id}, {"topic", r.topic}, {"model", r.model}, {"latency_ms", r.latency_ms}, {"outputs", outputs}};
  return dump(j);
}

std::string encode_error(std::string_view topic, std::string_view id, std::string_view reason, size_t payload_bytes) {
  json j = {{"topic", std::string(topic)}, {"error", std::string(reason)}, {"payload_bytes", payload_bytes}};
  if (!id.empty()) j["id"] = std::string(id);
  return dump(j);
}

}  // namespace edgeopt::mqtt

#include "mqtt/message.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include <nlohmann/json.hpp>

namespace edgeopt::mqtt {
namespace {

// The reason decode_reading gives, or "(no error)".
std::string reason(std::string_view payload, const DecodeOptions& o = {}) {
  try {
    decode_reading(payload, o);
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ErrorCode::kInvalidArgument) << e.what();
    return e.what();
  }
  return "(no error)";
}

void expect_reason(std::string_view payload, const std::string& part, const DecodeOptions& o = {}) {
  std::string r = reason(payload, o);
  EXPECT_NE(r.find(part), std::string::npos) << "payload '" << payload << "': got '" << r << "', want '" << part << "'";
}

TEST(MqttMessage, JsonValuesFlatAndNested) {
  Reading r = decode_reading(R"({"id": "m1-7", "ts": 12, "values": [45.9, 27.95]})");
  EXPECT_EQ(r.id, "m1-7");
  EXPECT_TRUE(r.has_id);
  EXPECT_FALSE(r.binary);
  EXPECT_EQ(r.values, (std::vector<float>{45.9f, 27.95f}));
  r = decode_reading("  {\"id\": 42, \"values\": [[1, 2], [3, 4.5]]}");
  EXPECT_EQ(r.id, "42");
  EXPECT_EQ(r.values, (std::vector<float>{1, 2, 3, 4.5f}));
  r = decode_reading(R"({"values": [1]})");
  EXPECT_FALSE(r.has_id);
  EXPECT_EQ(r.id, "");
}

TEST(MqttMessage, JsonFeaturesFollowTheConfiguredOrder) {
  DecodeOptions o;
  o.feature_names = {"humidity", "temperature"};
  Reading r = decode_reading(R"({"id": "a", "features": {"temperature": 27.5, "humidity": 45.25}})", o);
  EXPECT_EQ(r.values, (std::vector<float>{45.25f, 27.5f}));
  expect_reason(R"({"features": {"temperature": 27.5}})", "feature \"humidity\" is missing", o);
  expect_reason(R"({"features": {"temperature": 1, "humidity": 2, "wind": 3}})", "unknown feature \"wind\"", o);
  expect_reason(R"({"features": {"temperature": "hot", "humidity": 2}})", "feature \"temperature\" is string", o);
  expect_reason(R"({"features": {"a": 1}})", "needs the feature order");
}

TEST(MqttMessage, BadJsonReadingsNameTheProblem) {
  expect_reason(R"({"id": "x", "values": [1, 2)", "malformed JSON");
  expect_reason(R"({"id": "x"})", "neither \"values\" nor \"features\"");
  expect_reason(R"({"values": [1], "features": {}})", "not both");
  expect_reason(R"({"values": []})", "no values");
  expect_reason(R"({"values": [1, "2"]})", "value 1 is string, not a number");
  expect_reason(R"({"values": [1, null]})", "value 1 is null");
  expect_reason(R"({"values": [1e39]})", "value 0 (1e+39) is not a finite float32");
  expect_reason(R"({"id": 1.5, "values": [1]})", "\"id\" must be a string or an integer");
  expect_reason(R"({"id": ")" + std::string(300, 'x') + R"(", "values": [1]})", "longer than 256 bytes");
  expect_reason(std::string(20, '[') + "1" + std::string(20, ']'), "neither JSON");  // not an object: binary path
  expect_reason(R"({"values": )" + std::string(20, '[') + "1" + std::string(20, ']') + "}", "nested deeper than 16");
  expect_reason("", "empty payload");
  DecodeOptions small;
  small.max_payload_bytes = 8;
  expect_reason(R"({"values": [1, 2, 3]})", "over the limit of 8", small);
  small.max_payload_bytes = 1 << 20;
  small.max_values = 2;
  expect_reason(R"({"values": [1, 2, 3]})", "more than 2 values", small);
}

TEST(MqttMessage, BinaryRoundTripAndErrors) {
  std::vector<float> v = {1.5f, -2.25f, 1e-30f};
  std::string p = encode_binary_reading("m2-0009", v);
  ASSERT_EQ(p.size(), 4 + 2 + 7 + 12u);
  Reading r = decode_reading(p);
  EXPECT_TRUE(r.binary);
  EXPECT_EQ(r.id, "m2-0009");
  EXPECT_EQ(r.values, v);
  r = decode_reading(encode_binary_reading("", v));
  EXPECT_FALSE(r.has_id);

  expect_reason(p.substr(0, p.size() - 1), "not a multiple of 4");
  expect_reason(encode_binary_reading("abc", {}), "no values");
  float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> bad = {1, nan};
  expect_reason(encode_binary_reading("n", bad), "value 1 (nan) is not a finite float32");
  bad[1] = std::numeric_limits<float>::infinity();
  expect_reason(encode_binary_reading("n", bad), "value 1 (inf)");
  std::string wrong_magic = p;
  wrong_magic[0] = 'G';
  expect_reason(wrong_magic, "neither JSON");
  std::string long_id = p;
  long_id[4] = '\xff';  // id length 255+ runs past the end
  expect_reason(long_id, "runs past the payload");
  expect_reason(encode_binary_reading("\xc3(", v), "not valid UTF-8");
}

TEST(MqttMessage, ResultsReadBackExactly) {
  ResultMessage m;
  m.id = "m1-7";
  m.topic = "sensors/m1";
  m.model = "lstm";
  m.latency_ms = 0.5;
  m.outputs["output"] = Tensor::from_vector<float>({1, 3}, {0.1f, -3.4028235e38f, 1.17549435e-38f});
  auto j = nlohmann::json::parse(encode_result(m));
  EXPECT_EQ(j["id"], "m1-7");
  EXPECT_EQ(j["model"], "lstm");
  EXPECT_EQ(j["outputs"]["output"]["shape"], nlohmann::json::array({1, 3}));
  const auto& data = j["outputs"]["output"]["data"];
  ASSERT_EQ(data.size(), 3u);
  for (int i = 0; i < 3; ++i)
    EXPECT_EQ(static_cast<float>(data[i].get<double>()), m.outputs["output"].data<float>()[i]) << "element " << i;

  auto e = nlohmann::json::parse(encode_error("sensors/m1", "", "value 1 is NaN", 12));
  EXPECT_EQ(e["error"], "value 1 is NaN");
  EXPECT_EQ(e["payload_bytes"], 12);
  EXPECT_FALSE(e.contains("id"));
}

}  // namespace
}  // namespace edgeopt::mqtt

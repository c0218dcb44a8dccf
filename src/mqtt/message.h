// The MQTT message formats of `edgeopt ingest`: sensor readings in, results and errors out.
// No broker code here (this file is what the fuzz target exercises).
//
// A reading is JSON when the payload's first non-blank byte is '{', binary otherwise:
//
//   JSON    {"id": "m1-0042", "values": [45.9, 27.95]}            values: numbers, may be nested
//           {"id": "m1-0042", "features": {"humidity": 45.9, "temperature": 27.95}}
//           "id" (string or integer) is optional but needed for duplicate suppression; other
//           top-level fields (e.g. "ts") are ignored. "features" needs DecodeOptions::feature_names,
//           which fixes the order; a missing or unknown feature name is an error.
//   binary  "F32\0" (4 bytes) | u16 LE id length L | L bytes of id (UTF-8, may be 0) |
//           float32 little-endian values (the remaining bytes, a multiple of 4)
//
// Every value must be finite (NaN and +-Inf are rejected, also after narrowing a JSON number to
// float). decode_reading throws edgeopt::Error(InvalidArgument) with a one-line reason that the
// ingest loop sends back on the error topic; it never crashes on any input (fuzzed:
// tests/fuzz/mqtt_decode_fuzz.cpp).
//
// Results and errors are JSON (encode_result, encode_error):
//   {"id": "m1-0042", "topic": "sensors/m1", "model": "lstm", "latency_ms": 0.41,
//    "outputs": {"output": {"shape": [1, 1], "data": [27.93]}}}
//   {"id": "m1-0042", "topic": "sensors/m1", "error": "value 1 is NaN", "payload_bytes": 12}
// floats are printed with 17 significant digits, so they read back exactly.
#pragma once
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/tensor.h"

namespace edgeopt::mqtt {

inline constexpr char kBinaryMagic[4] = {'F', '3', '2', '\0'};

struct DecodeOptions {
  std::vector<std::string> feature_names;  // order of the "features" form; empty: form rejected
  size_t max_payload_bytes = 1 << 20;      // larger payloads are rejected before parsing
  size_t max_values = 1 << 18;             // values per reading
};

struct Reading {
  std::string id;  // "" when the message has none
  bool has_id = false;
  bool binary = false;
  std::vector<float> values;
};

// Throws InvalidArgument with the reason (see the header comment for the accepted forms).
Reading decode_reading(std::string_view payload, const DecodeOptions& options = {});

// The binary form above (sensors and tests use it to publish). Throws InvalidArgument when the
// id is longer than 65535 bytes.
std::string encode_binary_reading(std::string_view id, std::span<const float> values);

struct ResultMessage {
  std::string id;
  std::string topic;  // the input topic
  std::string model;
  double latency_ms = 0;  // decode + window + inference for this message
  std::map<std::string, Tensor> outputs;
};
std::string encode_result(const ResultMessage& r);

// `id` may be empty (unknown: the payload did not parse that far).
std::string encode_error(std::string_view topic, std::string_view id, std::string_view reason, size_t payload_bytes);

}  // namespace edgeopt::mqtt

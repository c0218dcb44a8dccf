// libFuzzer target: arbitrary bytes as an MQTT payload -> mqtt::decode_reading (JSON or binary)
// -> the error and result encoders; accepted binary readings are re-encoded and decoded again.
//
// The contract: decode_reading yields a Reading of finite values or throws edgeopt::Error (the
// ingest loop turns that into an error reply); the encoders accept whatever it produced.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "mqtt/message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeopt;
  std::string_view bytes(reinterpret_cast<const char*>(data), size);
  mqtt::DecodeOptions o;
  o.feature_names = {"temperature", "humidity"};
  o.max_values = 4096;
  mqtt::Reading r;
  try {
    r = mqtt::decode_reading(bytes, o);
  } catch (const Error& e) {
    (void)mqtt::encode_error("sensors/fuzz", "", e.what(), size);
    return 0;
  }
  if (r.values.empty() || r.values.size() > o.max_values) std::abort();
  for (float v : r.values)
    if (!std::isfinite(v)) std::abort();
  (void)mqtt::encode_error("sensors/fuzz", r.id, "ok", size);
  mqtt::ResultMessage m;
  m.id = r.id;
  m.topic = "sensors/fuzz";
  m.outputs["x"] = Tensor::from_vector<float>({static_cast<int64_t>(r.values.size())}, r.values);
  (void)mqtt::encode_result(m);
  mqtt::Reading again = mqtt::decode_reading(mqtt::encode_binary_reading(r.id, r.values), o);
  if (again.values != r.values || again.id != r.id) std::abort();
  return 0;
}

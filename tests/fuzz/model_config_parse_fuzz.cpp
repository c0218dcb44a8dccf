// libFuzzer target: arbitrary bytes as a Triton config.pbtxt -> serve::parse_model_config ->
// complete_model_config against a small fixed model (x[N,4] FP32 -> y[N,3] FP32) -> the config
// as Triton's JSON and as protobuf bytes.
//
// The contract: a ModelConfig, or edgeopt::Error naming the file (the repository logs it and
// keeps the previous version); completion either accepts the config or throws edgeopt::Error.
// Anything else is a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include <google/protobuf/stubs/logging.h>

#include "serve/model_config.h"

// protobuf logs every invalid-UTF-8 string field it meets; that is expected input here, not news.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeopt;
  using namespace edgeopt::serve;
  const std::string text(reinterpret_cast<const char*>(data), size);
  ModelConfig c;
  try {
    c = parse_model_config(text, "fuzz/config.pbtxt");
  } catch (const Error& e) {
    if (std::string(e.what()).find("fuzz/config.pbtxt") == std::string::npos) std::abort();
    return 0;
  }
  (void)model_config_json(c);
  (void)model_config_proto_bytes(c);
  static const Graph g = [] {
    Graph m;
    m.inputs.push_back({"x", DType::kF32, Shape({-1, 4}), {"N", ""}});
    m.outputs.push_back({"y", DType::kF32, Shape({-1, 3}), {"N", ""}});
    return m;
  }();
  try {
    complete_model_config(c, g, "fuzz/1/model.onnx");
    (void)model_config_json(c);
    (void)model_config_proto_bytes(c);
  } catch (const Error&) {
  }
  return 0;
}

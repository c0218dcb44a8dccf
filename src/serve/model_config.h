// A model's serving configuration, read from Triton's config.pbtxt (protobuf text format of
// Triton's ModelConfig; proto/model_config.proto holds the fields we use, with Triton's names and
// numbers, and unknown fields are skipped so a real Triton config parses unchanged).
//
//   ModelConfig c = load_model_config("repo/vision_cnn/config.pbtxt");   // or parse_model_config(text, path)
//   complete_model_config(c, graph, "repo/vision_cnn/1/model.onnx");     // fill/validate from the model
//
// Conventions follow Triton: with max_batch_size > 0 the dims of inputs/outputs exclude the batch
// dimension (the model's first dim must then be dynamic); -1 is a variable dim. Without a
// config.pbtxt, complete_model_config derives everything from the ONNX graph ("auto-complete"):
// batching is on (max_batch_size kDefaultMaxBatch, dynamic batching with no delay) when every input
// and output has a dynamic first dim.
// Errors are edgeopt::Error kInvalidArgument naming the file and the field, e.g.
// "config 'repo/m/config.pbtxt': input 'x': dims [1,28,28] do not match the model's [?,3,28,28]".
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/graph.h"

namespace edgeopt::serve {

inline constexpr int kDefaultMaxBatch = 8;

struct TensorConfig {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> dims;  // without the batch dim when max_batch_size > 0; -1 = variable
};

struct VersionPolicy {
  enum class Kind { kLatest, kAll, kSpecific };
  Kind kind = Kind::kLatest;
  uint32_t num_versions = 1;      // kLatest: serve this many highest versions
  std::vector<int64_t> versions;  // kSpecific
};

struct ModelConfig {
  std::string name;
  std::string platform = "onnxruntime_onnx";  // what Triton calls an ONNX model; we accept it
  std::string backend;
  // 0: no batching, requests carry the full model shape; -1 (no config.pbtxt): decided by
  // complete_model_config from the model's first dims.
  int max_batch_size = -1;
  std::vector<TensorConfig> inputs;
  std::vector<TensorConfig> outputs;
  bool dynamic_batching = false;
  uint64_t max_queue_delay_us = 0;
  std::vector<int> preferred_batch_sizes;
  VersionPolicy version_policy;
  int instance_count = 0;  // worker threads (each with its own Session); 0 = the server's --threads
  std::string default_model_filename = "model.onnx";
  bool from_file = false;  // a config.pbtxt was given (else everything was auto-completed)
};

// Parses config.pbtxt text; `path` names it in errors. Checks field values that need no model.
ModelConfig parse_model_config(const std::string& text, const std::string& path);
// Reads and parses a file (NotFound when missing).
ModelConfig load_model_config(const std::string& path);
// Fills inputs/outputs/batching left empty from the graph and checks that what the config says
// agrees with it (names, dtypes, dims, batch dim). `model_path` names the model in errors.
void complete_model_config(ModelConfig& config, const Graph& graph, const std::string& model_path);

// Triton/KServe v2 datatype names: "FP32", "INT64", "BOOL", ...
std::string oip_datatype(DType t);
// Throws InvalidArgument naming `what` for names without an edgeopt dtype (FP64, BYTES, UINT16...).
DType dtype_from_oip(const std::string& name, const std::string& what);

// The config as Triton's ModelConfig: JSON (the HTTP /config body, proto field names) and binary
// protobuf bytes (the gRPC ModelConfigResponse payload).
std::string model_config_json(const ModelConfig& config);
std::string model_config_proto_bytes(const ModelConfig& config);

}  // namespace edgeopt::serve

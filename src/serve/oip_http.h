// Open Inference Protocol v2 over HTTP/REST: the infer request/response bodies, JSON and with the
// binary tensor data extension. No sockets here (http_server.cpp calls these), so the codec is
// tested directly.
//
//   Request body = JSON header [+ binary section]; with a binary section the header's length comes
//   in the Inference-Header-Content-Length HTTP header (json_length; 0 = the whole body is JSON).
//     {"id": "42", "parameters": {"binary_data_output": true, "timeout": 500000},
//      "inputs": [{"name": "input", "datatype": "FP32", "shape": [1,1,28,28], "data": [...]},
//                 {"name": "mask", "datatype": "BOOL", "shape": [2], "parameters": {"binary_data_size": 2}}],
//      "outputs": [{"name": "output", "parameters": {"binary_data": true}}]}
//   "data" may be flat or nested (row-major); a binary input's bytes follow the JSON in input order.
//   Response: {"model_name", "model_version", "id", "outputs": [{"name", "datatype", "shape",
//   "data" | "parameters": {"binary_data_size": N}}]} + binary section for binary outputs.
// Errors: ServeError kBadRequest naming the tensor and the rule (count/shape mismatch, datatype,
// sizes that run past the body, malformed JSON with the parser's position).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "serve/model_version.h"

namespace edgeopt::serve {

struct HttpInferRequest {
  std::string id;
  InferRequest request;
  std::map<std::string, bool> binary_output;  // per requested output: binary_data parameter
  bool binary_data_output = false;            // request parameter: default for all outputs
  int64_t timeout_us = 0;                     // request parameter "timeout" (Triton), 0 = none
};

HttpInferRequest parse_http_infer_request(std::string_view body, size_t json_length);

struct HttpInferBody {
  std::string body;
  size_t json_length = 0;  // != 0: the body has a binary section; send Inference-Header-Content-Length
};

HttpInferBody encode_http_infer_response(const std::string& model, int64_t version, const HttpInferRequest& request,
                                         const InferResult& result);

// {"error": "<message>"}
std::string oip_error_json(const std::string& message);

}  // namespace edgeopt::serve

// A minimal Open Inference Protocol (KServe v2) REST client for offloading the cloud half: binary
// tensor data extension for inputs and outputs, a per-request time budget, and results that report
// failure instead of throwing (an offload that fails is a fallback, not an error).
//
//   OipClient c("http://10.0.0.2:8080");
//   OipResult r = c.infer("vision_cnn_cut5_int8", {{"x__wire", x}}, {"output"}, /*budget_ms=*/50);
//   if (r.ok) use(r.outputs.at("output")); else fall_back(r.status, r.error);
//
// Request: POST {url}/v2/models/{model}/infer with header Inference-Header-Content-Length = the
// JSON header's length, body = JSON header + each input's raw little-endian bytes, in order
// ("parameters": {"binary_data_size": n}); every requested output asks for "binary_data": true.
// Responses are accepted both binary (the same header) and as plain JSON "data" arrays. Datatypes:
// FP32, FP16, UINT8, INT8, INT32, INT64, BOOL. The connection is kept alive between requests.
// The budget bounds connecting and each socket read/write (cpp-httplib's timeouts), so a server
// that accepts and never answers costs at most the budget. Not thread-safe: one client per thread.
// https:// URLs verify the server's certificate (chain and host name/IP) against
// OipClientOptions::ca_file (or the system store when empty) and refuse the connection otherwise;
// a client certificate can be given for mTLS, and a bearer token for `edgeopt serve --auth-tokens`.
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace edgeopt::split {

enum class OipStatus {
  kOk,
  kUnavailable,   // connection refused/reset, DNS, server down
  kDeadline,      // the budget ran out (connect/read/write timeout)
  kHttpError,     // the server answered with a non-200 status
  kProtocol,      // a 200 whose body is not a valid v2 response for the request
};
const char* oip_status_name(OipStatus s);  // "ok", "unavailable", "deadline", "http_error", "protocol"

struct OipResult {
  OipStatus status = OipStatus::kOk;
  bool ok() const { return status == OipStatus::kOk; }
  std::map<std::string, Tensor> outputs;
  std::string error;          // what went wrong, with the URL and model
  int http_status = 0;
  int64_t bytes_sent = 0;     // request body
  int64_t bytes_received = 0; // response body
  double ms = 0;              // wall time of the call
};

// The v2 datatype name of a dtype ("FP32", ...) and back; throws InvalidArgument for others.
std::string oip_datatype(DType t);
DType dtype_from_oip(const std::string& datatype);

// Encodes a v2 inference request with the binary extension; returns the body and sets *json_len.
std::string encode_infer_request(const std::map<std::string, Tensor>& inputs, const std::vector<std::string>& outputs,
                                 size_t* json_len);
// Decodes a v2 response body (binary when json_len > 0, else plain JSON). Throws InvalidArgument
// describing the first problem (missing output, size mismatch, bad JSON).
std::map<std::string, Tensor> decode_infer_response(const std::string& body, size_t json_len,
                                                    const std::vector<std::string>& outputs);

// The server side of the same format (for tests and small servers): a request's input tensors and
// requested output names, and a binary response. Throw InvalidArgument like decode_infer_response.
struct InferRequest {
  std::map<std::string, Tensor> inputs;
  std::vector<std::string> outputs;
};
InferRequest decode_infer_request(const std::string& body, size_t json_len);
std::string encode_infer_response(const std::string& model, const std::map<std::string, Tensor>& outputs,
                                  size_t* json_len);

struct OipClientOptions {
  std::string ca_file;        // PEM CA bundle the server's certificate must chain to (https only)
  std::string cert_file;      // PEM client certificate + key for mutual TLS (https only; both or none)
  std::string key_file;
  std::string bearer_token;   // sent as "Authorization: Bearer <token>" when not empty
};

// The bearer token in the first line of `path` (trailing whitespace dropped), for the CLI's
// --cloud-token-file: a file, not a flag, so the token does not show in `ps`. `flag` names the
// option in errors (missing file: NotFound; empty first line: InvalidArgument).
std::string read_bearer_token_file(const std::string& path, const std::string& flag = "--cloud-token-file");

class OipClient {
 public:
  // url: http[s]://host[:port][/prefix]. Throws InvalidArgument for another scheme, a bad port,
  // TLS files with http://, or a TLS file that cannot be read.
  explicit OipClient(const std::string& url, const OipClientOptions& options = {});
  ~OipClient();
  OipResult infer(const std::string& model, const std::map<std::string, Tensor>& inputs,
                  const std::vector<std::string>& outputs, double budget_ms);
  // GET /v2/health/ready; true when 200. *ms gets the round trip time (a small request: ~ RTT).
  bool ready(double budget_ms, double* ms = nullptr);
  const std::string& url() const { return url_; }

 private:
  struct Impl;
  std::string url_, host_, prefix_;
  int port_ = 80;
  bool tls_ = false;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edgeopt::split

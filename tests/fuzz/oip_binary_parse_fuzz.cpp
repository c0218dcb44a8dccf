// libFuzzer target: the binary tensor data extension of the Open Inference Protocol, both sides:
// the server's request parser (serve::parse_http_infer_request with an
// Inference-Header-Content-Length) and the offload client's decoders of a cloud's answer
// (split::decode_infer_response) and of a request (split::decode_infer_request).
//
// Input layout: the first 4 bytes (little endian) modulo (size - 4 + 1) are the header length
// (0 = all JSON); the rest is the HTTP body.
// The contract: a result whose binary tensors lie inside the body, or ServeError kBadRequest /
// edgeopt::Error; encoding a parsed request's tensors back succeeds. Anything else is a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "serve/oip_http.h"
#include "split/oip_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeopt;
  if (size < 4) return 0;
  uint32_t h = 0;
  std::memcpy(&h, data, 4);
  const std::string body(reinterpret_cast<const char*>(data) + 4, size - 4);
  const size_t json_len = h % (body.size() + 1);
  try {
    serve::HttpInferRequest r = serve::parse_http_infer_request(body, json_len);
    size_t bytes = 0;
    serve::InferResult out;
    for (const auto& [name, t] : r.request.inputs) {
      bytes += t.nbytes();
      out.outputs.emplace_back(name, t);
    }
    if (bytes > 8 * body.size() + 8) std::abort();
    (void)serve::encode_http_infer_response("m", 1, r, out);
  } catch (const serve::ServeError& e) {
    if (e.status() != serve::Status::kBadRequest) std::abort();
  }
  // The edge parses what a (possibly hostile) cloud answers.
  try {
    auto outs = split::decode_infer_response(body, json_len, {});
    for (const auto& [name, t] : outs)
      if (t.nbytes() > body.size() * 8 + 8) std::abort();
  } catch (const Error&) {
  }
  try {
    split::InferRequest q = split::decode_infer_request(body, json_len);
    size_t n = 0;
    (void)split::encode_infer_response("m", q.inputs, &n);
  } catch (const Error&) {
  }
  return 0;
}

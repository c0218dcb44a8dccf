// libFuzzer target: arbitrary bytes as the JSON body of POST /v2/models/{m}/infer ->
// serve::parse_http_infer_request (no binary section) -> encode_http_infer_response with the
// parsed inputs echoed as outputs, once as JSON data and once as binary.
//
// The contract: the parser returns a request whose tensors hold exactly the elements their shape
// says, or throws ServeError (the server's 400); the encoder accepts whatever the parser produced
// (any id, any names). Anything else (another exception, a memory error, UB, an allocation over
// the malloc limit from a small body) is a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "serve/oip_http.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeopt;
  using namespace edgeopt::serve;
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  HttpInferRequest r;
  try {
    r = parse_http_infer_request(body, 0);
  } catch (const ServeError& e) {
    if (e.status() != Status::kBadRequest) std::abort();
    (void)oip_error_json(e.message());
    return 0;
  }
  if (r.request.inputs.empty()) std::abort();
  InferResult out;
  size_t bytes = 0;
  for (const auto& [name, t] : r.request.inputs) {
    if (t.nbytes() != static_cast<size_t>(t.numel()) * dtype_size(t.dtype())) std::abort();
    bytes += t.nbytes();
    out.outputs.emplace_back(name, t);
  }
  // JSON data cannot hold more values than the body had characters.
  if (bytes > 8 * size + 8) std::abort();
  (void)encode_http_infer_response("m", 1, r, out);
  r.binary_data_output = !r.binary_data_output;
  r.binary_output.clear();
  (void)encode_http_infer_response("m", 1, r, out);
  return 0;
}

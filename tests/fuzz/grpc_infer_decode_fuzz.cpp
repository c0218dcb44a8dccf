// libFuzzer target: arbitrary bytes as a serialized inference.ModelInferRequest (what gRPC hands
// the server after its size check) -> protobuf parse -> serve::decode_grpc_infer_request.
//
// The contract: tensors whose byte size matches shape x datatype and whose element count the
// message really carried (no allocation larger than the message's values), or ServeError
// kBadRequest. Anything else (another exception, a memory error, UB, an oversized allocation) is
// a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <google/protobuf/stubs/logging.h>

#include "serve/grpc_codec.h"

// protobuf logs every invalid-UTF-8 string field it meets; that is expected input here, not news.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace edgeopt;
  using namespace edgeopt::serve;
  inference::ModelInferRequest q;
  if (!q.ParseFromArray(data, static_cast<int>(size))) return 0;
  try {
    int64_t timeout_us = 0;
    InferRequest r = decode_grpc_infer_request(q, &timeout_us);
    size_t bytes = 0;
    for (const auto& [name, t] : r.inputs) {
      if (t.nbytes() != static_cast<size_t>(t.numel()) * dtype_size(t.dtype())) std::abort();
      bytes += static_cast<size_t>(t.numel());
    }
    // Every element came from at least one byte of the message (packed bools: 1 byte each).
    if (bytes > size) std::abort();
  } catch (const ServeError& e) {
    if (e.status() != Status::kBadRequest) std::abort();
  }
  return 0;
}

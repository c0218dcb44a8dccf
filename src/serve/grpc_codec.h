// The gRPC ModelInferRequest -> serve::InferRequest decoding of the KServe v2 / Triton protocol,
// apart from the transport so that it is unit-tested and fuzzed (tests/fuzz/grpc_infer_decode_fuzz.cpp).
//
//   int64_t timeout_us = 0;
//   InferRequest r = decode_grpc_infer_request(proto, &timeout_us);   // throws ServeError kBadRequest
//
// Inputs come from typed `contents` (the field of their datatype, Triton's rules) or from
// raw_input_contents (one little-endian blob per input, in order). Shapes are checked before any
// allocation: every dim >= 0, the element count without int64 overflow and at most
// kMaxGrpcElements, and the values present must match it, so a small message cannot make the
// server allocate a large tensor. The "timeout" parameter (microseconds) goes to *timeout_us.
#pragma once
#include <cstdint>

#include "grpc_service.pb.h"
#include "serve/model_version.h"

namespace edgeopt::serve {

// 2^31 elements: beyond any gRPC message (SetMaxReceiveMessageSize caps bytes first) and int's range.
inline constexpr int64_t kMaxGrpcElements = int64_t{1} << 31;

InferRequest decode_grpc_infer_request(const inference::ModelInferRequest& q, int64_t* timeout_us);

}  // namespace edgeopt::serve

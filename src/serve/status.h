// serve::ServeError: how the server reports a failed request, one status per Open Inference Protocol
// outcome, mapped to an HTTP status and a gRPC code in one place (http_status / grpc_code).
//
//   throw ServeError(Status::kBadRequest, "input 'x' has shape [2,3] but the model expects [?,4]");
//   catch (const edgeopt::Error& e) { throw ServeError::from(e); }   // canonical code -> status
#pragma once
#include <exception>
#include <string>

#include "core/error.h"

namespace edgeopt::serve {

enum class Status {
  kBadRequest,        // malformed request, wrong shape/dtype/name (HTTP 400, gRPC INVALID_ARGUMENT)
  kNotFound,          // unknown model or version (404, NOT_FOUND)
  kUnauthenticated,   // no or an unknown bearer token (401, UNAUTHENTICATED)
  kForbidden,         // a valid token without the endpoint's role (403, PERMISSION_DENIED)
  kPayloadTooLarge,   // request larger than --max-request-mb (413, RESOURCE_EXHAUSTED)
  kQueueFull,         // the model's bounded queue is full: back-pressure (429, RESOURCE_EXHAUSTED)
  kUnavailable,       // shutting down or model not ready (503, UNAVAILABLE)
  kDeadlineExceeded,  // request deadline passed before it ran (504, DEADLINE_EXCEEDED)
  kInternal,          // a bug or a model failure (500, INTERNAL)
};

int http_status(Status s);
// grpc::StatusCode as int, so this header needs no gRPC include.
int grpc_code(Status s);
const char* status_name(Status s);

class ServeError : public std::exception {
 public:
  ServeError(Status status, std::string message) : status_(status), message_(std::move(message)) {}
  // edgeopt::Error's canonical code -> status (InvalidArgument/Unimplemented -> 400, NotFound -> 404,
  // ResourceExhausted -> 429, Unavailable -> 503, others -> 500).
  static ServeError from(const Error& e);
  Status status() const { return status_; }
  const std::string& message() const { return message_; }
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  Status status_;
  std::string message_;
};

}  // namespace edgeopt::serve

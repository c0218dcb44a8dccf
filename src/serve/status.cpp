#include "serve/status.h"

namespace edgeopt::serve {

int http_status(Status s) {
  switch (s) {
    case Status::kBadRequest: return 400;
    case Status::kNotFound: return 404;
    case Status::kUnauthenticated: return 401;
    case Status::kForbidden: return 403;
    case Status::kPayloadTooLarge: return 413;
    case Status::kQueueFull: return 429;
    case Status::kUnavailable: return 503;
    case Status::kDeadlineExceeded: return 504;
    case Status::kInternal: return 500;
  }
  return 500;
}

int grpc_code(Status s) {
  // Values of grpc::StatusCode (stable across gRPC versions: they are the canonical codes).
  switch (s) {
    case Status::kBadRequest: return 3;        // INVALID_ARGUMENT
    case Status::kNotFound: return 5;          // NOT_FOUND
    case Status::kUnauthenticated: return 16;  // UNAUTHENTICATED
    case Status::kForbidden: return 7;         // PERMISSION_DENIED
    case Status::kPayloadTooLarge: return 8;   // RESOURCE_EXHAUSTED
    case Status::kQueueFull: return 8;         // RESOURCE_EXHAUSTED
    case Status::kUnavailable: return 14;      // UNAVAILABLE
    case Status::kDeadlineExceeded: return 4;  // DEADLINE_EXCEEDED
    case Status::kInternal: return 13;         // INTERNAL
  }
  return 13;
}

const char* status_name(Status s) {
  switch (s) {
    case Status::kBadRequest: return "BadRequest";
    case Status::kNotFound: return "NotFound";
    case Status::kUnauthenticated: return "Unauthenticated";
    case Status::kForbidden: return "Forbidden";
    case Status::kPayloadTooLarge: return "PayloadTooLarge";
    case Status::kQueueFull: return "QueueFull";
    case Status::kUnavailable: return "Unavailable";
    case Status::kDeadlineExceeded: return "DeadlineExceeded";
    case Status::kInternal: return "Internal";
  }
  return "Internal";
}

ServeError ServeError::from(const Error& e) {
  Status s = Status::kInternal;
  switch (e.code()) {
    case ErrorCode::kInvalidArgument:
    case ErrorCode::kUnimplemented:
    case ErrorCode::kFailedPrecondition: s = Status::kBadRequest; break;
    case ErrorCode::kNotFound: s = Status::kNotFound; break;
    case ErrorCode::kResourceExhausted: s = Status::kQueueFull; break;
    case ErrorCode::kUnavailable: s = Status::kUnavailable; break;
    case ErrorCode::kInternal: s = Status::kInternal; break;
  }
  return ServeError(s, e.what());
}

}  // namespace edgeopt::serve
